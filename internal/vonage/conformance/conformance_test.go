package conformance_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/vonage"
	"github.com/verify-proxy/verify-proxy/internal/vonage/conformance"
)

// numbers are real, valid numbers in the form the server hands the clients (E.164 digits without
// '+'), from the shortest to the longest E.164 allows: Falklands mobile (8 digits), German and
// Chinese mobiles (13), an Austrian fixed line (15).
var numbers = []string{"50051234", "4915123456789", "8613812345678", "431234567890123"}

// codes are what a user may type, at each API's limits: v1's codes are 4 to 6 characters, v2's 4 to
// 10 letters or digits.
var codes = map[string][]string{
	config.APIv1: {"1234", "987654"},
	config.APIv2: {"1234", "a1B2c3D4e5"},
}

// setting is one configuration of the binary, as the environment it reads.
type setting struct {
	name string
	api  string
	env  map[string]string
}

// v1Locales are every `lg` Verify v1 takes (verify-v1.yaml; internal/config/verifyv1.go).
var v1Locales = strings.Fields(`ar-xa cs-cz cy-cy cy-gb da-dk de-de el-gr en-au en-gb en-in en-us es-es es-mx
	es-us fi-fi fil-ph fr-ca fr-fr hi-in hu-hu id-id is-is it-it ja-jp ko-kr nb-no nl-nl pl-pl pt-br pt-pt
	ro-ro ru-ru sv-se th-th tr-tr vi-vn yue-cn zh-cn zh-tw`)

// v1Settings are Verify v1's settings, each at its limits.
func v1Settings() []setting {
	base := map[string]string{
		"VONAGE_VERIFY_API": "v1",
		"VONAGE_API_KEY":    "abcd1234",
		"VONAGE_API_SECRET": "Sup3rS3cr3t!!",
		"VERIFY_BRAND":      "Acme",
	}
	with := func(name string, extra map[string]string) setting {
		env := maps.Clone(base)
		maps.Copy(env, extra)
		return setting{name: "v1/" + name, api: config.APIv1, env: env}
	}
	out := []setting{
		with("defaults", nil),
		with("code length 4", map[string]string{"VERIFY_CODE_LENGTH": "4"}),
		with("code length 6", map[string]string{"VERIFY_CODE_LENGTH": "6"}),
		with("workflow 1", map[string]string{"VERIFY_WORKFLOW_ID": "1"}),
		with("workflow 7", map[string]string{"VERIFY_WORKFLOW_ID": "7"}),
		with("pin expiry 60, next event 60", map[string]string{"VERIFY_PIN_EXPIRY": "60", "VERIFY_NEXT_EVENT_WAIT": "60"}),
		with("pin expiry 3600, next event 900", map[string]string{"VERIFY_PIN_EXPIRY": "3600", "VERIFY_NEXT_EVENT_WAIT": "900"}),
		with("pin expiry as a duration", map[string]string{"VERIFY_PIN_EXPIRY": "1h", "VERIFY_NEXT_EVENT_WAIT": "15m"}),
		with("sender of 1 character", map[string]string{"VERIFY_SENDER_ID": "A"}),
		with("sender of 11 characters with spaces", map[string]string{"VERIFY_SENDER_ID": "Acme Co 123"}),
		with("sender of 11 digits", map[string]string{"VERIFY_SENDER_ID": "12345678901"}),
		with("brand of 1 character", map[string]string{"VERIFY_BRAND": "A"}),
		with("brand of 18 characters", map[string]string{"VERIFY_BRAND": "Acme Verify Brand!"}),
		with("brand of 18 characters, not ASCII", map[string]string{"VERIFY_BRAND": "Café Ünïcødé 18chr"}),
		with("every setting at its upper limit", map[string]string{
			"VERIFY_CODE_LENGTH": "6", "VERIFY_LOCALE": "zh-tw", "VERIFY_WORKFLOW_ID": "7",
			"VERIFY_PIN_EXPIRY": "3600", "VERIFY_NEXT_EVENT_WAIT": "900",
			"VERIFY_SENDER_ID": "Acme Co 123", "VERIFY_BRAND": "Café Ünïcødé 18chr",
		}),
	}
	for _, lg := range v1Locales {
		out = append(out, with("locale "+lg, map[string]string{"VERIFY_LOCALE": lg}))
	}
	// The config reads locales in any case and trims them; what reaches Vonage must still be the
	// spec's lower case.
	out = append(out, with("locale typed in upper case", map[string]string{"VERIFY_LOCALE": " EN-GB "}))
	return out
}

// v2Settings are Verify v2's settings, each at its limits, with each way to authenticate.
func v2Settings(privateKeyPEM string) []setting {
	auths := []struct {
		name string
		env  map[string]string
	}{
		{"basic", map[string]string{"VONAGE_API_KEY": "abcd1234", "VONAGE_API_SECRET": "Sup3rS3cr3t!!"}},
		{"jwt", map[string]string{
			"VONAGE_APPLICATION_ID": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
			"VONAGE_PRIVATE_KEY":    privateKeyPEM,
		}},
	}
	variants := []struct {
		name  string
		extra map[string]string
	}{
		{"defaults", nil},
		{"sms", map[string]string{"VERIFY_WORKFLOW": "sms"}},
		{"voice", map[string]string{"VERIFY_WORKFLOW": "voice"}},
		{"whatsapp", map[string]string{"VERIFY_WORKFLOW": "whatsapp", "VERIFY_WHATSAPP_FROM": "447700900001"}},
		{"whatsapp from written with +", map[string]string{"VERIFY_WORKFLOW": "whatsapp", "VERIFY_WHATSAPP_FROM": "+447700900001"}},
		{"sms, voice, whatsapp", map[string]string{"VERIFY_WORKFLOW": "sms,voice,whatsapp", "VERIFY_WHATSAPP_FROM": "447700900001"}},
		{"silent_auth", map[string]string{"VERIFY_WORKFLOW": "silent_auth"}},
		{"silent_auth, sms", map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms"}},
		{"silent_auth, whatsapp, voice", map[string]string{"VERIFY_WORKFLOW": "silent_auth,whatsapp,voice", "VERIFY_WHATSAPP_FROM": "447700900001"}},
		{"silent_auth with a redirect URL", map[string]string{
			"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/verified?x=1",
		}},
		{"fraud check off", map[string]string{"VERIFY_FRAUD_CHECK": "false"}},
		{"fraud check on", map[string]string{"VERIFY_FRAUD_CHECK": "true"}},
		{"code length 4", map[string]string{"VERIFY_CODE_LENGTH": "4"}},
		{"code length 10", map[string]string{"VERIFY_CODE_LENGTH": "10"}},
		{"channel timeout 15", map[string]string{"VERIFY_CHANNEL_TIMEOUT": "15"}},
		{"channel timeout 900", map[string]string{"VERIFY_CHANNEL_TIMEOUT": "900"}},
		{"locale en-gb", map[string]string{"VERIFY_LOCALE": "en-gb"}},
		{"locale cmn-cn", map[string]string{"VERIFY_LOCALE": "cmn-cn"}},
		{"sms app hash", map[string]string{"VERIFY_SMS_APP_HASH": "FA+9qCX9VSu"}},
		{"sender of 3 letters", map[string]string{"VERIFY_SENDER_ID": "Abc"}},
		{"sender of 11 letters and digits", map[string]string{"VERIFY_SENDER_ID": "AcmeCo12345"}},
		{"sender of 15 digits", map[string]string{"VERIFY_SENDER_ID": "447700900123456"}},
		{"brand of 1 character", map[string]string{"VERIFY_BRAND": "A"}},
		{"brand of 18 characters", map[string]string{"VERIFY_BRAND": "Acme Verify Brand!"}},
		{"brand of 18 characters, not ASCII", map[string]string{"VERIFY_BRAND": "Café Ünïcødé 18chr"}},
		{"every setting at once", map[string]string{
			"VERIFY_WORKFLOW": "silent_auth,sms,whatsapp", "VERIFY_WHATSAPP_FROM": "447700900001",
			"VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/verified?x=1",
			"VERIFY_SMS_APP_HASH":             "FA+9qCX9VSu", "VERIFY_SENDER_ID": "AcmeCo12345",
			"VERIFY_FRAUD_CHECK": "false", "VERIFY_CODE_LENGTH": "10", "VERIFY_CHANNEL_TIMEOUT": "900",
			"VERIFY_LOCALE": "cmn-cn", "VERIFY_BRAND": "Café Ünïcødé 18chr",
		}},
	}
	var out []setting
	for _, auth := range auths {
		for _, v := range variants {
			env := map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme"}
			maps.Copy(env, auth.env)
			maps.Copy(env, v.extra)
			out = append(out, setting{name: "v2 " + auth.name + "/" + v.name, api: config.APIv2, env: env})
		}
	}
	return out
}

func TestEveryRequestTheProxySendsIsOneVonagesSpecificationAccepts(t *testing.T) {
	t.Parallel()
	validator, err := conformance.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	parser, err := phone.NewParser("")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range numbers {
		if _, err := parser.Parse("+" + n); err != nil {
			t.Fatalf("test number %s: %v", n, err)
		}
	}

	settings := append(v1Settings(), v2Settings(newPrivateKeyPEM(t))...)
	for _, s := range settings {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			replay(t, validator, s)
		})
	}

	t.Run("negative control", func(t *testing.T) {
		t.Parallel()
		negativeControl(t, validator)
	})
}

// replay builds the client the binary would build from s, sends every call through the spec server
// and fails on every request the specification refuses.
func replay(t *testing.T, validator *conformance.Validator, s setting) {
	srv := conformance.NewServer(t, validator)
	env := maps.Clone(s.env)
	env["VONAGE_BASE_URL"] = srv.URL()
	cfg, err := config.Load(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the configuration refuses this setting, so the replay cannot run: %v", err)
	}
	provider, err := vonage.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	calls := 0
	for _, number := range numbers {
		calls++
		started, err := provider.Start(ctx, number)
		if err != nil {
			t.Errorf("start %s: %v", number, err)
			continue
		}
		if cfg.VonageV2.SilentAuth() && started.CheckURL == "" {
			t.Errorf("start %s: the workflow begins with silent_auth, but no check_url came back", number)
		}
		for _, code := range codes[s.api] {
			calls++
			if _, err := provider.Check(ctx, started.RequestID, code); err != nil {
				t.Errorf("check %s with %q: %v", started.RequestID, code, err)
			}
		}
		calls++
		if err := provider.Cancel(ctx, started.RequestID); err != nil {
			t.Errorf("cancel %s: %v", started.RequestID, err)
		}
	}

	exchanges := srv.Exchanges()
	if len(exchanges) != calls {
		t.Errorf("the spec server saw %d requests, want %d (one per call)", len(exchanges), calls)
	}
	for _, ex := range srv.Refused() {
		t.Errorf("%s: the specification refuses %s: %s\n%s", s.name, ex.Operation, ex.Refusal, ex.Request)
	}
}

// newPrivateKeyPEM is a fresh application key, RSA 2048 in PKCS#8 PEM as Vonage's dashboard
// downloads it.
func newPrivateKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
