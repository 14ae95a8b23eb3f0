package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

const testPEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"

// v2Env is a complete Verify v2 configuration with Basic credentials, plus extra.
func v2Env(extra map[string]string) map[string]string {
	return vonageEnv(merge(map[string]string{"VONAGE_VERIFY_API": "v2"}, extra))
}

// v2JWTEnv is a complete Verify v2 configuration with an application JWT and no key or secret.
func v2JWTEnv(extra map[string]string) map[string]string {
	return merge(map[string]string{
		"VONAGE_VERIFY_API":     "v2",
		"VONAGE_APPLICATION_ID": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
		"VONAGE_PRIVATE_KEY":    testPEM,
		"VERIFY_BRAND":          "Acme",
	}, extra)
}

// without returns m less the named variables.
func without(m map[string]string, names ...string) map[string]string {
	out := merge(m, nil)
	for _, n := range names {
		delete(out, n)
	}
	return out
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestVerifyAPIDefaultsToV1(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(vonageEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Verify.API != config.APIv1 || len(cfg.VonageV2.Workflow) != 0 {
		t.Errorf("an existing deployment must stay on v1 with no workflow: api %q, workflow %v", cfg.Verify.API, cfg.VonageV2.Workflow)
	}
}

func TestLoadV2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, cfg config.Config)
	}{
		{"the workflow defaults to sms", v2Env(nil), func(t *testing.T, cfg config.Config) {
			if !slices.Equal(cfg.VonageV2.Workflow, []string{"sms"}) || cfg.Vonage.UsesJWT() {
				t.Errorf("workflow %v, jwt %v", cfg.VonageV2.Workflow, cfg.Vonage.UsesJWT())
			}
		}},
		{"channels keep their order and are read case- and space-insensitively",
			v2Env(map[string]string{"VONAGE_VERIFY_API": " V2 ", "VERIFY_WORKFLOW": "WhatsApp, sms ,voice", "VERIFY_WHATSAPP_FROM": "+447700900001"}),
			func(t *testing.T, cfg config.Config) {
				if !slices.Equal(cfg.VonageV2.Workflow, []string{"whatsapp", "sms", "voice"}) {
					t.Errorf("workflow %v", cfg.VonageV2.Workflow)
				}
				if cfg.VonageV2.WhatsAppFrom != "447700900001" {
					t.Errorf("the WhatsApp number must lose its +: %q", cfg.VonageV2.WhatsAppFrom)
				}
			}},
		{"every v2 setting at the edge of its range", v2Env(map[string]string{
			"VERIFY_WORKFLOW": "sms,voice", "VERIFY_CODE_LENGTH": "10", "VERIFY_LOCALE": "cmn-cn",
			"VERIFY_CHANNEL_TIMEOUT": "15", "VERIFY_SMS_APP_HASH": "FA+9qCX9VSu", "VERIFY_SENDER_ID": "ACME",
		}), func(t *testing.T, cfg config.Config) {
			if cfg.Verify.CodeLength != 10 || cfg.VonageV2.ChannelTimeout.Whole() != 15 || cfg.VonageV2.SMSAppHash != "FA+9qCX9VSu" {
				t.Errorf("got %+v", cfg)
			}
		}},
		{"channel timeout as a duration", v2Env(map[string]string{"VERIFY_CHANNEL_TIMEOUT": "15m"}), func(t *testing.T, cfg config.Config) {
			if cfg.VonageV2.ChannelTimeout.Whole() != 900 {
				t.Errorf("got %d", cfg.VonageV2.ChannelTimeout.Whole())
			}
		}},
		{"an application JWT with the key inline", v2JWTEnv(nil), func(t *testing.T, cfg config.Config) {
			if !cfg.Vonage.UsesJWT() || cfg.Vonage.PrivateKey != testPEM {
				t.Errorf("jwt %v, key %q", cfg.Vonage.UsesJWT(), cfg.Vonage.PrivateKey)
			}
		}},
		{"a key on one line with \\n escapes, as env files carry it, gets its newlines back",
			v2JWTEnv(map[string]string{"VONAGE_PRIVATE_KEY": strings.ReplaceAll(testPEM, "\n", `\n`)}),
			func(t *testing.T, cfg config.Config) {
				if cfg.Vonage.PrivateKey != testPEM {
					t.Errorf("key %q", cfg.Vonage.PrivateKey)
				}
			}},
		{"an application JWT with a key file", without(v2JWTEnv(map[string]string{"VONAGE_PRIVATE_KEY_PATH": "/run/secrets/vonage.key"}), "VONAGE_PRIVATE_KEY"),
			func(t *testing.T, cfg config.Config) {
				if !cfg.Vonage.UsesJWT() || cfg.Vonage.PrivateKeyPath != "/run/secrets/vonage.key" {
					t.Errorf("jwt %v, path %q", cfg.Vonage.UsesJWT(), cfg.Vonage.PrivateKeyPath)
				}
			}},
		{"both ways complete: the JWT wins", merge(v2JWTEnv(nil), map[string]string{"VONAGE_API_KEY": "k", "VONAGE_API_SECRET": "s"}),
			func(t *testing.T, cfg config.Config) {
				if !cfg.Vonage.UsesJWT() {
					t.Error("the JWT must be preferred")
				}
			}},
		{"silent_auth first, with a fallback, a redirect URL and no fraud check", v2Env(map[string]string{
			"VERIFY_WORKFLOW": "Silent_Auth,sms,voice", "VERIFY_SILENT_AUTH_REDIRECT_URL": " https://app.example.com/verified?from=sa ",
			"VERIFY_FRAUD_CHECK": "false",
		}), func(t *testing.T, cfg config.Config) {
			if !slices.Equal(cfg.VonageV2.Workflow, []string{"silent_auth", "sms", "voice"}) || !cfg.VonageV2.SilentAuth() {
				t.Errorf("workflow %v", cfg.VonageV2.Workflow)
			}
			if cfg.VonageV2.SilentAuthRedirectURL != "https://app.example.com/verified?from=sa" || cfg.VonageV2.FraudCheck {
				t.Errorf("redirect %q, fraud check %v", cfg.VonageV2.SilentAuthRedirectURL, cfg.VonageV2.FraudCheck)
			}
			if w := cfg.Warnings(); len(w) != 0 {
				t.Errorf("warnings %q, want none with a fallback", w)
			}
		}},
		{"silent_auth alone is accepted, with a warning", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth"}),
			func(t *testing.T, cfg config.Config) {
				if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], "no fallback") {
					t.Errorf("warnings %q, want one about the missing fallback", w)
				}
			}},
		{"the fraud check is left to Vonage by default", v2Env(nil), func(t *testing.T, cfg config.Config) {
			if !cfg.VonageV2.FraudCheck || cfg.VonageV2.SilentAuth() || len(cfg.Warnings()) != 0 {
				t.Errorf("fraud check %v, silent %v, warnings %q", cfg.VonageV2.FraudCheck, cfg.VonageV2.SilentAuth(), cfg.Warnings())
			}
		}},
		{"the sandbox on v2 needs no credentials and takes v2 code lengths",
			map[string]string{"VERIFY_BACKEND": "sandbox", "VONAGE_VERIFY_API": "v2", "VERIFY_CODE_LENGTH": "8"},
			func(t *testing.T, cfg config.Config) {
				if cfg.Verify.CodeLength != 8 {
					t.Errorf("code length %d", cfg.Verify.CodeLength)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(envOf(tt.env))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestLoadRefusesBadV2Configuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string // every string must appear in the error
	}{
		{"unknown API version", vonageEnv(map[string]string{"VONAGE_VERIFY_API": "v3"}), []string{"VONAGE_VERIFY_API", "v3"}},
		{"set but empty API version", vonageEnv(map[string]string{"VONAGE_VERIFY_API": ""}), []string{"VONAGE_VERIFY_API is set but empty"}},
		{"no credentials at all names both ways", map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme"},
			[]string{"VONAGE_API_KEY and VONAGE_API_SECRET", "VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY", "VERIFY_BACKEND=sandbox"}},
		{"no brand", without(v2JWTEnv(nil), "VERIFY_BRAND"), []string{"VERIFY_BRAND", "VONAGE_VERIFY_API=v2"}},
		{"application id without a key", map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme", "VONAGE_APPLICATION_ID": "app"},
			[]string{"VONAGE_APPLICATION_ID needs", "VONAGE_PRIVATE_KEY_PATH"}},
		{"a key without an application id", map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme", "VONAGE_PRIVATE_KEY": testPEM},
			[]string{"need VONAGE_APPLICATION_ID"}},
		{"a key path without an application id", map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme", "VONAGE_PRIVATE_KEY_PATH": "/k.pem"},
			[]string{"need VONAGE_APPLICATION_ID"}},
		{"both a key and a key path", v2JWTEnv(map[string]string{"VONAGE_PRIVATE_KEY_PATH": "/k.pem"}), []string{"VONAGE_PRIVATE_KEY or VONAGE_PRIVATE_KEY_PATH, not both"}},
		{"a key that is not PEM", v2JWTEnv(map[string]string{"VONAGE_PRIVATE_KEY": "secret456-not-a-pem"}), []string{"VONAGE_PRIVATE_KEY must be the PEM text"}},
		{"set but empty private key", v2JWTEnv(map[string]string{"VONAGE_PRIVATE_KEY": ""}), []string{"VONAGE_PRIVATE_KEY is set but empty"}},
		{"api key without secret", map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme", "VONAGE_API_KEY": "k"},
			[]string{"VONAGE_API_KEY is set without VONAGE_API_SECRET"}},
		{"api secret without key next to a complete JWT", v2JWTEnv(map[string]string{"VONAGE_API_SECRET": "secret456"}),
			[]string{"VONAGE_API_SECRET is set without VONAGE_API_KEY"}},
		{"v1-only variables with v2", v2Env(map[string]string{"VERIFY_WORKFLOW_ID": "6", "VERIFY_PIN_EXPIRY": "300", "VERIFY_NEXT_EVENT_WAIT": "300"}),
			[]string{"VERIFY_NEXT_EVENT_WAIT, VERIFY_PIN_EXPIRY, VERIFY_WORKFLOW_ID apply only to VONAGE_VERIFY_API=v1", "VERIFY_WORKFLOW"}},
		{"one v1-only variable with v2", v2Env(map[string]string{"VERIFY_WORKFLOW_ID": "6"}),
			[]string{"VERIFY_WORKFLOW_ID applies only to VONAGE_VERIFY_API=v1"}},
		{"v2-only variables with v1", vonageEnv(map[string]string{"VERIFY_WORKFLOW": "sms", "VERIFY_CHANNEL_TIMEOUT": "60", "VONAGE_APPLICATION_ID": "app"}),
			[]string{"VERIFY_CHANNEL_TIMEOUT, VERIFY_WORKFLOW, VONAGE_APPLICATION_ID apply only to VONAGE_VERIFY_API=v2"}},
		{"code length 8 on v1", vonageEnv(map[string]string{"VERIFY_CODE_LENGTH": "8"}), []string{"VERIFY_CODE_LENGTH must be 4 or 6", "v1"}},
		{"code length 3 on v2", v2Env(map[string]string{"VERIFY_CODE_LENGTH": "3"}), []string{"VERIFY_CODE_LENGTH must be between 4 and 10"}},
		{"code length 11 on v2", v2Env(map[string]string{"VERIFY_CODE_LENGTH": "11"}), []string{"VERIFY_CODE_LENGTH must be between 4 and 10"}},
		{"a locale that is not language-region", v2Env(map[string]string{"VERIFY_LOCALE": "english"}), []string{"VERIFY_LOCALE"}},
		{"a brand Vonage v2 refuses", v2Env(map[string]string{"VERIFY_BRAND": "Acme: {x}"}), []string{"VERIFY_BRAND must not contain"}},
		{"channel timeout under 15 s", v2Env(map[string]string{"VERIFY_CHANNEL_TIMEOUT": "14"}), []string{"VERIFY_CHANNEL_TIMEOUT", "15 and 900"}},
		{"channel timeout over 900 s", v2Env(map[string]string{"VERIFY_CHANNEL_TIMEOUT": "901"}), []string{"VERIFY_CHANNEL_TIMEOUT"}},
		{"channel timeout not a duration", v2Env(map[string]string{"VERIFY_CHANNEL_TIMEOUT": "long"}), []string{"VERIFY_CHANNEL_TIMEOUT"}},
		{"four channels", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms,voice,sms,voice"}), []string{"VERIFY_WORKFLOW may name at most 3"}},
		{"set but empty workflow", v2Env(map[string]string{"VERIFY_WORKFLOW": ""}), []string{"VERIFY_WORKFLOW is set but empty"}},
		{"an empty item in the workflow", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms,,voice"}), []string{`unknown channel ""`}},
		{"an unknown channel", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms,pigeon"}), []string{`unknown channel "pigeon"`}},
		{"email needs an address, not a phone number", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms,email"}), []string{"VERIFY_WORKFLOW", "email address"}},
		{"silent_auth second", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms,silent_auth"}), []string{"VERIFY_WORKFLOW", "silent_auth must be the first"}},
		{"silent_auth twice", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,silent_auth"}), []string{"VERIFY_WORKFLOW names silent_auth twice"}},
		{"sms twice", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms,voice,SMS"}), []string{"VERIFY_WORKFLOW names sms twice"}},
		{"fraud_check yes", v2Env(map[string]string{"VERIFY_FRAUD_CHECK": "yes"}), []string{`VERIFY_FRAUD_CHECK must be true or false, got "yes"`}},
		{"a redirect URL with a non-ASCII host", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://bücher.example/done"}),
			[]string{"VERIFY_SILENT_AUTH_REDIRECT_URL", "xn--"}},
		{"a redirect URL with a non-ASCII path", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/päth"}),
			[]string{"VERIFY_SILENT_AUTH_REDIRECT_URL", "%-escaped"}},
		{"a redirect URL with port 99999", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com:99999/done"}),
			[]string{"port 99999"}},
		{"silent_auth last of three", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms,voice,silent_auth"}), []string{"silent_auth must be the first"}},
		{"silent_auth on v1", vonageEnv(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms"}), []string{"VERIFY_WORKFLOW applies only to VONAGE_VERIFY_API=v2"}},
		{"a redirect URL on v1", vonageEnv(map[string]string{"VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/done"}),
			[]string{"VERIFY_SILENT_AUTH_REDIRECT_URL applies only to VONAGE_VERIFY_API=v2"}},
		{"fraud_check off on v1", vonageEnv(map[string]string{"VERIFY_FRAUD_CHECK": "false"}), []string{"VERIFY_FRAUD_CHECK=false applies only to VONAGE_VERIFY_API=v2"}},
		{"fraud_check not a boolean", v2Env(map[string]string{"VERIFY_FRAUD_CHECK": "maybe"}), []string{"VERIFY_FRAUD_CHECK"}},
		{"fraud_check set but empty", v2Env(map[string]string{"VERIFY_FRAUD_CHECK": ""}), []string{"VERIFY_FRAUD_CHECK is set but empty"}},
		{"a redirect URL without silent_auth", v2Env(map[string]string{"VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/done"}),
			[]string{"VERIFY_SILENT_AUTH_REDIRECT_URL is set but VERIFY_WORKFLOW has no silent_auth"}},
		{"a redirect URL over plain http", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "http://app.example.com/done"}),
			[]string{"VERIFY_SILENT_AUTH_REDIRECT_URL must be an https URL"}},
		{"a redirect URL that is a custom scheme", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "myapp://verified"}),
			[]string{"must be an https URL"}},
		{"a redirect URL without a host", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https:///done"}),
			[]string{"must be an https URL"}},
		{"a relative redirect URL", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "/done"}),
			[]string{"must be an https URL"}},
		{"a redirect URL with a fragment", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/done#x"}),
			[]string{"must not have a #fragment"}},
		{"a redirect URL with a user", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://u:p@app.example.com/done"}),
			[]string{"must not carry a user"}},
		{"a redirect URL with a space", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/a b"}),
			[]string{"VERIFY_SILENT_AUTH_REDIRECT_URL"}},
		{"a redirect URL too long", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/" + strings.Repeat("a", 2000)}),
			[]string{"at most 2000 characters"}},
		{"a set but empty redirect URL", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": ""}),
			[]string{"VERIFY_SILENT_AUTH_REDIRECT_URL is set but empty"}},
		{"rcs needs an agent", v2Env(map[string]string{"VERIFY_WORKFLOW": "rcs"}), []string{"VERIFY_WORKFLOW", "RCS business agent"}},
		{"whatsapp without a sender", v2Env(map[string]string{"VERIFY_WORKFLOW": "whatsapp,sms"}), []string{"VERIFY_WHATSAPP_FROM"}},
		{"whatsapp with a sender that is not a number", v2Env(map[string]string{"VERIFY_WORKFLOW": "whatsapp", "VERIFY_WHATSAPP_FROM": "Acme"}),
			[]string{"VERIFY_WHATSAPP_FROM must be a phone number"}},
		{"a WhatsApp sender without whatsapp", v2Env(map[string]string{"VERIFY_WHATSAPP_FROM": "447700900001"}), []string{"VERIFY_WHATSAPP_FROM is set but VERIFY_WORKFLOW has no whatsapp"}},
		{"an app hash of the wrong length", v2Env(map[string]string{"VERIFY_SMS_APP_HASH": "short"}), []string{"VERIFY_SMS_APP_HASH", "11-character"}},
		{"an app hash without sms", v2Env(map[string]string{"VERIFY_WORKFLOW": "voice", "VERIFY_SMS_APP_HASH": "FA+9qCX9VSu"}), []string{"VERIFY_SMS_APP_HASH is set but VERIFY_WORKFLOW has no sms"}},
		{"a sender id without sms", v2Env(map[string]string{"VERIFY_WORKFLOW": "voice", "VERIFY_SENDER_ID": "ACME"}), []string{"VERIFY_SENDER_ID", "no sms"}},
		{"a sender id with a space (v1 allows it, v2 does not)", v2Env(map[string]string{"VERIFY_SENDER_ID": "Acme Inc"}), []string{"VERIFY_SENDER_ID", "without spaces"}},
		{"a sender id too short for v2", v2Env(map[string]string{"VERIFY_SENDER_ID": "AC"}), []string{"VERIFY_SENDER_ID", "3 to 11"}},
		{"a numeric sender with 00", v2Env(map[string]string{"VERIFY_SENDER_ID": "00447700900123"}), []string{"VERIFY_SENDER_ID", "without + or 00"}},
		{"a numeric sender in national form", v2Env(map[string]string{"VERIFY_SENDER_ID": "07700900123"}), []string{"VERIFY_SENDER_ID", "without + or 00"}},
		{"a numeric sender of one digit", v2Env(map[string]string{"VERIFY_SENDER_ID": "7"}), []string{"VERIFY_SENDER_ID", "2 to 15 digits"}},
		{"a numeric sender of 16 digits", v2Env(map[string]string{"VERIFY_SENDER_ID": "4477009001234567"}), []string{"VERIFY_SENDER_ID", "2 to 15 digits"}},
		{"a channel timeout of 0", v2Env(map[string]string{"VERIFY_CHANNEL_TIMEOUT": "0"}), []string{"VERIFY_CHANNEL_TIMEOUT is 0"}},
		{"a code length of 0 on v2", v2Env(map[string]string{"VERIFY_CODE_LENGTH": "0"}), []string{"VERIFY_CODE_LENGTH is 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertRefused(t, tt.env, tt.want) })
	}
}

// TestStartUpWarnings: what a valid configuration does that an operator may not expect is said at
// start-up, and only then.
func TestStartUpWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string // "" for no warning
	}{
		{"a workflow with a fallback", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms"}), ""},
		{"silent_auth alone", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth"}), "no fallback"},
		{"plain http to another host", vonageEnv(map[string]string{"VONAGE_BASE_URL": "http://api.example.com"}), "unencrypted"},
		{"plain http to this machine", vonageEnv(map[string]string{"VONAGE_BASE_URL": "http://127.0.0.1:8099"}), ""},
		{"plain http to localhost", vonageEnv(map[string]string{"VONAGE_BASE_URL": "http://localhost:8099"}), ""},
		{"plain http to ::1", vonageEnv(map[string]string{"VONAGE_BASE_URL": "http://[::1]:8099"}), ""},
		{"https", vonageEnv(map[string]string{"VONAGE_BASE_URL": "https://api-eu.vonage.com"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			w := strings.Join(cfg.Warnings(), "\n")
			if (tt.want == "") != (w == "") || !strings.Contains(w, tt.want) {
				t.Errorf("warnings %q, want one saying %q", w, tt.want)
			}
		})
	}
}

func TestWorkflowMistakesAreNamedOnce(t *testing.T) {
	t.Parallel()
	_, err := config.Load(envOf(v2Env(map[string]string{"VERIFY_WORKFLOW": ",silent_auth,sms"})))
	if err == nil || !strings.Contains(err.Error(), `unknown channel ""`) || strings.Contains(err.Error(), "must be the first") {
		t.Errorf("error %v, want the empty item named and nothing about silent_auth's place", err)
	}
}

func TestSenderIDIsTrimmed(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{" ACME ": "ACME", "   ": "", "Acme Co": "Acme Co"} {
		cfg, err := config.Load(envOf(vonageEnv(map[string]string{"VERIFY_SENDER_ID": raw})))
		if err != nil || cfg.Verify.SenderID != want {
			t.Errorf("VERIFY_SENDER_ID=%q: %q, %v; want %q", raw, cfg.Verify.SenderID, err, want)
		}
	}
}

// TestV2SenderIDGivesOneRule: on v2 a bad sender id is told v2's rule only; v1's, which allows
// spaces, would send the operator towards a value v2 refuses.
func TestV2SenderIDGivesOneRule(t *testing.T) {
	t.Parallel()
	_, err := config.Load(envOf(v2Env(map[string]string{"VERIFY_SENDER_ID": "Acmé"})))
	if err == nil || !strings.Contains(err.Error(), "without spaces") || strings.Contains(err.Error(), "or spaces") {
		t.Fatalf("error %v, want v2's rule alone", err)
	}
}

// TestCodeLifetimeIsVonages: how long a code lives, which the sandbox and the test numbers follow,
// is what Vonage does with the same settings.
func TestCodeLifetimeIsVonages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"v1 without VERIFY_PIN_EXPIRY: Vonage's pin_expiry of 300 s", vonageEnv(nil), 5 * time.Minute},
		{"v1 with VERIFY_PIN_EXPIRY", vonageEnv(map[string]string{"VERIFY_PIN_EXPIRY": "600", "VERIFY_NEXT_EVENT_WAIT": "300"}), 10 * time.Minute},
		{"v2 with one channel: Vonage's channel_timeout of 180 s", v2Env(nil), 3 * time.Minute},
		{"v2 waits out every channel", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms,voice"}), 6 * time.Minute},
		{"v2 with VERIFY_CHANNEL_TIMEOUT", v2Env(map[string]string{"VERIFY_WORKFLOW": "sms", "VERIFY_CHANNEL_TIMEOUT": "60"}), time.Minute},
		{"silent_auth's step is Vonage's fixed 60 s", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms"}), 4 * time.Minute},
		{"silent_auth alone", v2Env(map[string]string{"VERIFY_WORKFLOW": "silent_auth", "VERIFY_CHANNEL_TIMEOUT": "900"}), time.Minute},
		{"the sandbox standing in for v2", map[string]string{"VERIFY_BACKEND": "sandbox", "VONAGE_VERIFY_API": "v2"}, 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.CodeLifetime(); got != tt.want {
				t.Errorf("CodeLifetime() = %s, want %s", got, tt.want)
			}
		})
	}
}
