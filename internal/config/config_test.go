package config_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// envOf is a lookup over a fixed map, so tests never read the real environment.
func envOf(kv map[string]string) config.LookupFunc {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

func vonageEnv(extra map[string]string) map[string]string {
	m := map[string]string{
		"VONAGE_API_KEY":    "key123",
		"VONAGE_API_SECRET": "secret456",
		"VERIFY_BRAND":      "Acme",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(map[string]string{"VERIFY_BACKEND": "sandbox"}))
	if err != nil {
		t.Fatalf("sandbox with nothing else set must start: %v", err)
	}
	if cfg.HTTP.Port != 8080 || cfg.Vonage.BaseURL != "https://api.nexmo.com" || cfg.Vonage.UpstreamTimeout != 10*time.Second {
		t.Errorf("defaults: got port %d, base %q, timeout %s", cfg.HTTP.Port, cfg.Vonage.BaseURL, cfg.Vonage.UpstreamTimeout)
	}
	if cfg.Verify.Backend != config.BackendSandbox {
		t.Errorf("backend: got %q", cfg.Verify.Backend)
	}
	if cfg.Admin.Addr != "127.0.0.1:9090" || cfg.Log.Format != "json" || cfg.Log.Level != "info" {
		t.Errorf("operations defaults: admin %q, log %q/%q", cfg.Admin.Addr, cfg.Log.Format, cfg.Log.Level)
	}
	if cfg.Shutdown.Delay != 0 || cfg.Shutdown.Timeout != 15*time.Second {
		t.Errorf("shutdown defaults: delay %s, timeout %s", cfg.Shutdown.Delay, cfg.Shutdown.Timeout)
	}
}

func TestLoadOperations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want func(config.Config) bool
	}{
		{"admin off in any case", map[string]string{"ADMIN_ADDR": "OFF"}, func(c config.Config) bool { return c.Admin.Addr == config.AdminOff }},
		{"admin on every interface", map[string]string{"ADMIN_ADDR": ":9100"}, func(c config.Config) bool { return c.Admin.Addr == ":9100" }},
		{"admin on IPv6 loopback", map[string]string{"ADMIN_ADDR": "[::1]:9090"}, func(c config.Config) bool { return c.Admin.Addr == "[::1]:9090" }},
		{"text logs at debug, any case", map[string]string{"LOG_FORMAT": "Text", "LOG_LEVEL": "DEBUG"},
			func(c config.Config) bool { return c.Log.Format == "text" && c.Log.Level == "debug" }},
		{"shutdown delay and timeout", map[string]string{"SHUTDOWN_DELAY": "5s", "SHUTDOWN_TIMEOUT": "30s"},
			func(c config.Config) bool {
				return c.Shutdown.Delay == 5*time.Second && c.Shutdown.Timeout == 30*time.Second
			}},
		{"a zero delay", map[string]string{"SHUTDOWN_DELAY": "0"}, func(c config.Config) bool { return c.Shutdown.Delay == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"VERIFY_BACKEND": "sandbox"}
			for k, v := range tt.env {
				env[k] = v
			}
			cfg, err := config.Load(envOf(env))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.want(cfg) {
				t.Errorf("got %+v", cfg)
			}
		})
	}
}

func TestLoadVonage(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(vonageEnv(map[string]string{
		"VERIFY_CODE_LENGTH": "6", "VERIFY_LOCALE": "EN-GB", "VERIFY_WORKFLOW_ID": "6",
		"VERIFY_PIN_EXPIRY": "600", "VERIFY_NEXT_EVENT_WAIT": "5m", "VERIFY_SENDER_ID": "ACME",
		"DEFAULT_COUNTRY": "gb", "VONAGE_BASE_URL": "https://api.example.test/", "UPSTREAM_TIMEOUT": "3s",
	})))
	if err != nil {
		t.Fatalf("valid vonage configuration refused: %v", err)
	}
	if cfg.Verify.Backend != config.BackendVonage {
		t.Errorf("vonage must be the default backend, got %q", cfg.Verify.Backend)
	}
	if cfg.VonageV1.PinExpiry.Whole() != 600 || cfg.VonageV1.NextEventWait.Whole() != 300 {
		t.Errorf("seconds: pin %d, wait %d", cfg.VonageV1.PinExpiry.Whole(), cfg.VonageV1.NextEventWait.Whole())
	}
	if cfg.Verify.Locale != "en-gb" || cfg.Verify.DefaultCountry != "GB" || cfg.Vonage.BaseURL != "https://api.example.test" {
		t.Errorf("normalised values: locale %q, country %q, base %q", cfg.Verify.Locale, cfg.Verify.DefaultCountry, cfg.Vonage.BaseURL)
	}
}

func TestLoadFallsBackToTheOriginalProxyNames(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(map[string]string{"API_KEY": "oldkey", "API_SECRET": "oldsecret", "VERIFY_BRAND": "Acme"}))
	if err != nil {
		t.Fatalf("API_KEY/API_SECRET must be accepted: %v", err)
	}
	if cfg.Vonage.APIKey != "oldkey" || cfg.Vonage.APISecret != "oldsecret" {
		t.Errorf("got key %q secret %q", cfg.Vonage.APIKey, cfg.Vonage.APISecret)
	}
	cfg, err = config.Load(envOf(vonageEnv(map[string]string{"API_KEY": "oldkey"})))
	if err != nil || cfg.Vonage.APIKey != "key123" {
		t.Errorf("the new name must win over the old one: key %q, err %v", cfg.Vonage.APIKey, err)
	}
}

func TestLoadRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string // every string must appear in the error
	}{
		{"vonage without credentials names them and points at the sandbox", map[string]string{},
			[]string{"VONAGE_API_KEY", "VONAGE_API_SECRET", "VERIFY_BRAND", "VERIFY_BACKEND=sandbox"}},
		{"unknown backend", map[string]string{"VERIFY_BACKEND": "twilio"}, []string{"VERIFY_BACKEND"}},
		{"set but empty secret", vonageEnv(map[string]string{"VONAGE_API_SECRET": ""}), []string{"VONAGE_API_SECRET is set but empty"}},
		{"set but empty brand", vonageEnv(map[string]string{"VERIFY_BRAND": ""}), []string{"VERIFY_BRAND is set but empty"}},
		{"port not a number", vonageEnv(map[string]string{"PORT": "http"}), []string{"PORT"}},
		{"port out of range", vonageEnv(map[string]string{"PORT": "70000"}), []string{"PORT"}},
		{"a pin expiry of 0s", vonageEnv(map[string]string{"VERIFY_PIN_EXPIRY": "0s"}), []string{"VERIFY_PIN_EXPIRY is 0"}},
		{"a workflow id of 0", vonageEnv(map[string]string{"VERIFY_WORKFLOW_ID": "0"}), []string{"VERIFY_WORKFLOW_ID is 0"}},
		{"listen host a name", vonageEnv(map[string]string{"LISTEN_HOST": "localhost"}), []string{"LISTEN_HOST must be an IP address"}},
		{"listen host with a port", vonageEnv(map[string]string{"LISTEN_HOST": "127.0.0.1:8080"}), []string{"LISTEN_HOST must be an IP address"}},
		{"brand over 18 characters", vonageEnv(map[string]string{"VERIFY_BRAND": "A Very Long Brand Name"}), []string{"VERIFY_BRAND"}},
		{"code length 5", vonageEnv(map[string]string{"VERIFY_CODE_LENGTH": "5"}), []string{"VERIFY_CODE_LENGTH"}},
		{"unknown locale", vonageEnv(map[string]string{"VERIFY_LOCALE": "xx-yy"}), []string{"VERIFY_LOCALE"}},
		{"workflow 8", vonageEnv(map[string]string{"VERIFY_WORKFLOW_ID": "8"}), []string{"VERIFY_WORKFLOW_ID"}},
		{"pin expiry too short", vonageEnv(map[string]string{"VERIFY_PIN_EXPIRY": "30"}), []string{"VERIFY_PIN_EXPIRY"}},
		{"pin expiry not a duration", vonageEnv(map[string]string{"VERIFY_PIN_EXPIRY": "soon"}), []string{"VERIFY_PIN_EXPIRY"}},
		{"next event wait too long", vonageEnv(map[string]string{"VERIFY_NEXT_EVENT_WAIT": "901"}), []string{"VERIFY_NEXT_EVENT_WAIT"}},
		{"pin expiry not a multiple of next event wait", vonageEnv(map[string]string{"VERIFY_PIN_EXPIRY": "300", "VERIFY_NEXT_EVENT_WAIT": "120"}),
			[]string{"VERIFY_PIN_EXPIRY", "multiple"}},
		{"pin expiry alone, not a multiple of Vonage's default wait", vonageEnv(map[string]string{"VERIFY_PIN_EXPIRY": "120"}),
			[]string{"VERIFY_PIN_EXPIRY (2m0s) must be a whole multiple", "default 5m0s"}},
		{"sender id with symbols", vonageEnv(map[string]string{"VERIFY_SENDER_ID": "ACME<script>"}), []string{"VERIFY_SENDER_ID"}},
		{"sender id of 12 characters on v1", vonageEnv(map[string]string{"VERIFY_SENDER_ID": "AcmeSecurity"}), []string{"VERIFY_SENDER_ID", "1 to 11"}},
		{"numeric sender id of 12 digits on v1 (v1's limit is 11 for numbers too)", vonageEnv(map[string]string{"VERIFY_SENDER_ID": "447700900000"}), []string{"VERIFY_SENDER_ID", "1 to 11"}},
		{"base url without scheme", vonageEnv(map[string]string{"VONAGE_BASE_URL": "api.nexmo.com"}), []string{"VONAGE_BASE_URL"}},
		{"base url with credentials", vonageEnv(map[string]string{"VONAGE_BASE_URL": "https://u:p@api.nexmo.com"}), []string{"VONAGE_BASE_URL"}},
		{"base url with credentials that does not parse", vonageEnv(map[string]string{"VONAGE_BASE_URL": "https://key:secret456@api.nexmo.com:x/"}), []string{"VONAGE_BASE_URL"}},
		{"base url without scheme, with the secret in its query", vonageEnv(map[string]string{"VONAGE_BASE_URL": "api.nexmo.com/verify/json?api_secret=secret456"}), []string{"VONAGE_BASE_URL"}},
		{"timeout zero", vonageEnv(map[string]string{"UPSTREAM_TIMEOUT": "0s"}), []string{"UPSTREAM_TIMEOUT"}},
		{"timeout not a duration", vonageEnv(map[string]string{"UPSTREAM_TIMEOUT": "10"}), []string{"UPSTREAM_TIMEOUT"}},
		{"default country not alpha-2", vonageEnv(map[string]string{"DEFAULT_COUNTRY": "USA"}), []string{"DEFAULT_COUNTRY"}},
		{"admin address without a port", vonageEnv(map[string]string{"ADMIN_ADDR": "127.0.0.1"}), []string{"ADMIN_ADDR"}},
		{"admin port out of range", vonageEnv(map[string]string{"ADMIN_ADDR": ":70000"}), []string{"ADMIN_ADDR"}},
		{"admin port zero", vonageEnv(map[string]string{"ADMIN_ADDR": "127.0.0.1:0"}), []string{"ADMIN_ADDR"}},
		{"admin set but empty", vonageEnv(map[string]string{"ADMIN_ADDR": ""}), []string{"ADMIN_ADDR is set but empty"}},
		{"log format xml", vonageEnv(map[string]string{"LOG_FORMAT": "xml"}), []string{"LOG_FORMAT"}},
		{"log level verbose", vonageEnv(map[string]string{"LOG_LEVEL": "verbose"}), []string{"LOG_LEVEL"}},
		{"log level set but empty", vonageEnv(map[string]string{"LOG_LEVEL": ""}), []string{"LOG_LEVEL is set but empty"}},
		{"negative shutdown delay", vonageEnv(map[string]string{"SHUTDOWN_DELAY": "-1s"}), []string{"SHUTDOWN_DELAY"}},
		{"shutdown delay without a unit", vonageEnv(map[string]string{"SHUTDOWN_DELAY": "5"}), []string{"SHUTDOWN_DELAY"}},
		{"shutdown timeout zero", vonageEnv(map[string]string{"SHUTDOWN_TIMEOUT": "0s"}), []string{"SHUTDOWN_TIMEOUT"}},
		{"shutdown timeout an hour", vonageEnv(map[string]string{"SHUTDOWN_TIMEOUT": "1h"}), []string{"SHUTDOWN_TIMEOUT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertRefused(t, tt.env, tt.want) })
	}
}

// assertRefused fails unless env is refused with an error that mentions every string in want and
// quotes no secret (the API secret of vonageEnv, or a line of a private key).
func assertRefused(t *testing.T, env map[string]string, want []string) {
	t.Helper()
	_, err := config.Load(envOf(env))
	if err == nil {
		t.Fatal("configuration accepted; want an error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	for _, secret := range []string{"secret456", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks a secret: %q", err)
		}
	}
}

func TestDotEnvFillsGapsAndTheRealEnvironmentWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte("API_KEY=fromfile\nAPI_SECRET=filesecret\nVERIFY_BRAND=FileBrand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup, err := config.WithDotEnv(envOf(map[string]string{"VERIFY_BRAND": "RealBrand"}), path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if cfg.Vonage.APIKey != "fromfile" || cfg.Vonage.APISecret != "filesecret" {
		t.Errorf(".env values not read: key %q", cfg.Vonage.APIKey)
	}
	if cfg.Verify.Brand != "RealBrand" {
		t.Errorf("the real environment must win over .env: brand %q", cfg.Verify.Brand)
	}

	if _, err := config.WithDotEnv(envOf(nil), filepath.Join(dir, "missing.env")); err != nil {
		t.Errorf("a missing .env must not be an error: %v", err)
	}
}

// TestAValueGoCannotReadNamesWhatMayBeWritten: a number or a duration strconv or time cannot read
// is refused in the reference's words (its allowed values), never in a Go function's.
func TestAValueGoCannotReadNamesWhatMayBeWritten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"PORT": " 18301"}, `PORT must be 1 to 65535, without spaces, got " 18301"`},
		{map[string]string{"PORT": "99999999999"}, `PORT must be 1 to 65535, got "99999999999"`},
		{map[string]string{"MAX_CONNECTIONS": "1e3"}, `MAX_CONNECTIONS must be 1 or more, in plain digits, got "1e3"`},
		{map[string]string{"MEMORY_STORE_MAX_KEYS": "0x10000"}, `MEMORY_STORE_MAX_KEYS must be 1000 or more (keys, not bytes), in plain digits, got "0x10000"`},
		{map[string]string{"FRAUD_MIN_CONVERSION": " 0.2"}, `FRAUD_MIN_CONVERSION must be 0 to 1 (0.2 is 20%), without spaces, got " 0.2"`},
		{map[string]string{"VERIFY_PIN_EXPIRY": "36028797018964268"}, `VERIFY_PIN_EXPIRY: "36028797018964268" is more seconds than a duration holds`},
		{map[string]string{"FRAUD_TRUST_VERIFIED_FOR": "213505d"}, `FRAUD_TRUST_VERIFIED_FOR: "213505d" is more days than a duration holds`},
		{map[string]string{"RATE_LIMIT_IP": "5/9999999999h"}, `RATE_LIMIT_IP: "5/9999999999h": the duration is longer than a Go duration holds`},
		{map[string]string{"MAX_CONNECTIONS": "99999999999"}, `MAX_CONNECTIONS must be 1 or more, and at most 2147483647, got "99999999999"`},
		{map[string]string{"MEMORY_STORE_MAX_KEYS": "2147483648"}, `MEMORY_STORE_MAX_KEYS must be 1000 or more (keys, not bytes), and at most 2147483647, got "2147483648"`},
		{map[string]string{"MAX_IDLE_CONNECTIONS": "-99999999999"}, `MAX_IDLE_CONNECTIONS must be 1 or more, got "-99999999999"`},
		{map[string]string{"FRAUD_MIN_CONVERSION": "20%"}, `FRAUD_MIN_CONVERSION must be 0 to 1 (0.2 is 20%), got "20%"`},
		{map[string]string{"FRAUD_MIN_STARTS_PREFIX": "twenty"}, `FRAUD_MIN_STARTS_PREFIX must be 1 to 100000, in plain digits, got "twenty"`},
		{map[string]string{"IDEMPOTENCY_TTL": "5"}, `IDEMPOTENCY_TTL must be a duration, 1m to 168h, got "5"`},
		{map[string]string{"UPSTREAM_TIMEOUT": "ten seconds"}, `UPSTREAM_TIMEOUT must be a duration`},
		{map[string]string{"READY_REQUIRES_REDIS": "yes"}, `READY_REQUIRES_REDIS must be true or false, got "yes"`},
	}
	for _, tt := range tests {
		env := vonageEnv(nil)
		maps.Copy(env, tt.set)
		_, err := config.Load(envOf(env))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "time:") {
			t.Errorf("%v: %v, want %q", tt.set, err, tt.want)
		}
	}
}
