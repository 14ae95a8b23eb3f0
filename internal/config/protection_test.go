package config_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

func sandboxEnv(extra map[string]string) map[string]string {
	m := map[string]string{"VERIFY_BACKEND": "sandbox"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestProtectionDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(sandboxEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, want state.Limit }{
		"RATE_LIMIT_IP":          {cfg.Protection.RateLimitIP, state.Limit{Count: 30, Window: time.Minute}},
		"RATE_LIMIT_NUMBER":      {cfg.Protection.RateLimitNumber, state.Limit{Count: 3, Window: 10 * time.Minute}},
		"RATE_LIMIT_CHECK":       {cfg.Protection.RateLimitCheck, state.Limit{Count: 5, Window: 10 * time.Minute}},
		"RATE_LIMIT_COUNTRY":     {cfg.Protection.RateLimitCountry, state.Limit{}},
		"RATE_LIMIT_GLOBAL":      {cfg.Protection.RateLimitGlobal, state.Limit{}},
		"RATE_LIMIT_WRONG_CODES": {cfg.Protection.RateLimitWrongCodes, state.Limit{Count: 10, Window: 24 * time.Hour}},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s", name, c.got, c.want)
		}
	}
	if cfg.Protection.ConcurrentRequestID != guard.DiscloseNever {
		t.Errorf("CONCURRENT_REQUEST_ID: got %q, want withhold", cfg.Protection.ConcurrentRequestID)
	}
	if cfg.Protection.IdempotencyTTL != 24*time.Hour || cfg.Redis.URL != "" || cfg.Redis.FailOpen || len(cfg.HTTP.TrustedProxies) != 0 || len(cfg.Verify.TestNumbers) != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestProtectionSettings(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(sandboxEnv(map[string]string{
		"TRUSTED_PROXIES":      "10.0.0.0/8, 192.0.2.1, 2001:db8::/32",
		"CLIENT_IP_HEADER":     "x-real-ip",
		"RATE_LIMIT_IP":        "off",
		"RATE_LIMIT_NUMBER":    "5/1h",
		"RATE_LIMIT_COUNTRY":   "100/1h",
		"RATE_LIMIT_GLOBAL":    "1000/24h",
		"ALLOWED_COUNTRIES":    "gb, de",
		"ALLOWED_NUMBER_TYPES": "Mobile,fixed_line",
		"TEST_NUMBERS":         "+1 555 555 0100:123456, 447700900001:0000",
		"IDEMPOTENCY_TTL":      "1h",
		"REDIS_URL":            "redis://:pw@127.0.0.1:6379/0",
		"REDIS_FAIL_OPEN":      "true",
	})))
	if err != nil {
		t.Fatal(err)
	}
	wantProxies := config.Prefixes{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/32")}
	if len(cfg.HTTP.TrustedProxies) != 3 || cfg.HTTP.TrustedProxies[0] != wantProxies[0] || cfg.HTTP.TrustedProxies[1] != wantProxies[1] || cfg.HTTP.TrustedProxies[2] != wantProxies[2] {
		t.Errorf("TRUSTED_PROXIES: %v", cfg.HTTP.TrustedProxies)
	}
	if cfg.HTTP.ClientIPHeader != "X-Real-IP" {
		t.Errorf("CLIENT_IP_HEADER: %q", cfg.HTTP.ClientIPHeader)
	}
	if !cfg.Protection.RateLimitIP.Off() || cfg.Protection.RateLimitNumber.String() != "5/1h" || cfg.Protection.RateLimitGlobal.String() != "1000/24h" {
		t.Errorf("limits: %s %s %s", cfg.Protection.RateLimitIP, cfg.Protection.RateLimitNumber, cfg.Protection.RateLimitGlobal)
	}
	if strings.Join(cfg.Protection.AllowedCountries, ",") != "GB,DE" {
		t.Errorf("ALLOWED_COUNTRIES: %v", cfg.Protection.AllowedCountries)
	}
	if len(cfg.Protection.AllowedNumberTypes) != 2 || cfg.Protection.AllowedNumberTypes[0] != phone.TypeMobile || cfg.Protection.AllowedNumberTypes[1] != phone.TypeFixedLine {
		t.Errorf("ALLOWED_NUMBER_TYPES: %v", cfg.Protection.AllowedNumberTypes)
	}
	if cfg.Verify.TestNumbers["15555550100"] != "123456" || cfg.Verify.TestNumbers["447700900001"] != "0000" || len(cfg.Verify.TestNumbers) != 2 {
		t.Errorf("TEST_NUMBERS: %v", cfg.Verify.TestNumbers)
	}
	if cfg.Protection.IdempotencyTTL != time.Hour || !cfg.Redis.FailOpen {
		t.Errorf("IDEMPOTENCY_TTL %s, REDIS_FAIL_OPEN %v", cfg.Protection.IdempotencyTTL, cfg.Redis.FailOpen)
	}
}

func TestProtectionRefusesBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"limit without a duration", map[string]string{"RATE_LIMIT_IP": "30"}, "RATE_LIMIT_IP"},
		{"limit of zero", map[string]string{"RATE_LIMIT_NUMBER": "0/10m"}, "RATE_LIMIT_NUMBER"},
		{"limit with a word for a duration", map[string]string{"RATE_LIMIT_CHECK": "5/minute"}, "RATE_LIMIT_CHECK"},
		{"limit set but empty", map[string]string{"RATE_LIMIT_GLOBAL": ""}, "RATE_LIMIT_GLOBAL is set but empty"},
		{"country limit nonsense", map[string]string{"RATE_LIMIT_COUNTRY": "lots"}, "RATE_LIMIT_COUNTRY"},
		{"trusted proxy not an address", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "TRUSTED_PROXIES"},
		{"unknown country", map[string]string{"ALLOWED_COUNTRIES": "UK"}, "ALLOWED_COUNTRIES"},
		// An empty allow-list reads as unset, which allows every country: a mistake (an unset
		// ${COUNTRIES} in a template) must not open what it meant to close.
		{"allowed countries set but empty", map[string]string{"ALLOWED_COUNTRIES": ""}, "ALLOWED_COUNTRIES is set but empty"},
		{"allowed number types set but empty", map[string]string{"ALLOWED_NUMBER_TYPES": ""}, "ALLOWED_NUMBER_TYPES is set but empty"},
		{"blocked country not alpha-2", map[string]string{"BLOCKED_COUNTRIES": "USA"}, "BLOCKED_COUNTRIES"},
		{"allowed and blocked countries", map[string]string{"ALLOWED_COUNTRIES": "GB", "BLOCKED_COUNTRIES": "US"}, "cannot both be set"},
		{"unknown number type", map[string]string{"ALLOWED_NUMBER_TYPES": "mobile,cell"}, "ALLOWED_NUMBER_TYPES"},
		{"test number without a code", map[string]string{"TEST_NUMBERS": "15555550100"}, "TEST_NUMBERS"},
		{"test code too short", map[string]string{"TEST_NUMBERS": "15555550100:12"}, "TEST_NUMBERS"},
		{"test number with letters", map[string]string{"TEST_NUMBERS": "1555CALLNOW:1234"}, "TEST_NUMBERS"},
		{"a client IP header no proxy sets", map[string]string{"CLIENT_IP_HEADER": "Forwarded"}, "CLIENT_IP_HEADER must be X-Forwarded-For or X-Real-IP"},
		{"a Redis port out of range", map[string]string{"REDIS_URL": "redis://127.0.0.1:99999/0"}, "REDIS_URL: the port"},
		{"a Redis database that is not a number", map[string]string{"REDIS_URL": "redis://:secretpw@127.0.0.1:6379/x1"}, "REDIS_URL: the database"},
		{"test number in national form", map[string]string{"TEST_NUMBERS": "07700900001:0000"}, "international form"},
		{"test number twice", map[string]string{"TEST_NUMBERS": "15555550100:1234,+15555550100:5678"}, "listed twice"},
		{"idempotency ttl too short", map[string]string{"IDEMPOTENCY_TTL": "1s"}, "IDEMPOTENCY_TTL"},
		{"redis url of another scheme", map[string]string{"REDIS_URL": "http://:secretpw@127.0.0.1:6379"}, "REDIS_URL"},
		{"redis url set but empty", map[string]string{"REDIS_URL": ""}, "REDIS_URL is set but empty"},
		{"fail open not a bool", map[string]string{"REDIS_FAIL_OPEN": "sometimes"}, "REDIS_FAIL_OPEN"},
		{"concurrent request id of another word", map[string]string{"CONCURRENT_REQUEST_ID": "sometimes"},
			`CONCURRENT_REQUEST_ID must be one of withhold, same_address, expose, got "sometimes"`},
		{"concurrent request id set but empty", map[string]string{"CONCURRENT_REQUEST_ID": ""}, "CONCURRENT_REQUEST_ID is set but empty"},
		{"wrong code limit nonsense", map[string]string{"RATE_LIMIT_WRONG_CODES": "x"}, "RATE_LIMIT_WRONG_CODES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(envOf(sandboxEnv(tt.env)))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error repeats the Redis password: %q", err)
			}
		})
	}
}

func TestConcurrentRequestIDInAnyCase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  guard.Disclosure
	}{
		{"withhold", guard.DiscloseNever},
		{"Same_Address", guard.DiscloseToStarter},
		{" EXPOSE ", guard.DiscloseAlways},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(envOf(sandboxEnv(map[string]string{"CONCURRENT_REQUEST_ID": tt.value})))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if cfg.Protection.ConcurrentRequestID != tt.want {
				t.Errorf("got %q, want %q", cfg.Protection.ConcurrentRequestID, tt.want)
			}
		})
	}
}

func TestRateLimitWrongCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  state.Limit
	}{
		{"off", state.Limit{}},
		{"5/1h", state.Limit{Count: 5, Window: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(envOf(sandboxEnv(map[string]string{"RATE_LIMIT_WRONG_CODES": tt.value})))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if cfg.Protection.RateLimitWrongCodes != tt.want {
				t.Errorf("got %s, want %s", cfg.Protection.RateLimitWrongCodes, tt.want)
			}
		})
	}
}
