package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// A PEM-shaped key the configuration accepts without parsing it: the key itself is read at start-up.
const inlineKey = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"

func TestTokenDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(sandboxEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	tok := cfg.Token
	if tok.Key != "" || tok.KeyPath != "" || tok.PreviousKeysPath != "" || tok.Issuer != "verify-proxy" || tok.Audience != nil || tok.TTL != 10*time.Minute {
		t.Errorf("defaults: %+v", tok)
	}
}

func TestTokenSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want func(config.Token) bool
	}{
		{"the shortest ttl", map[string]string{"VERIFICATION_TOKEN_TTL": "1s"}, func(c config.Token) bool { return c.TTL == time.Second }},
		{"the longest ttl", map[string]string{"VERIFICATION_TOKEN_TTL": "24h"}, func(c config.Token) bool { return c.TTL == 24*time.Hour }},
		{"audiences with spaces and an empty entry", map[string]string{"VERIFICATION_TOKEN_AUDIENCE": " a, ,b "},
			func(c config.Token) bool { return slices.Equal(c.Audience, []string{"a", "b"}) }},
		{"an issuer with spaces around it", map[string]string{"VERIFICATION_TOKEN_ISSUER": " https://verify.example.com "},
			func(c config.Token) bool { return c.Issuer == "https://verify.example.com" }},
		{"an inline key written on one line, as env files do", map[string]string{"VERIFICATION_TOKEN_KEY": strings.ReplaceAll(inlineKey, "\n", `\n`)},
			func(c config.Token) bool { return c.Key == inlineKey }},
		{"a key file and a file of previous keys", map[string]string{
			"VERIFICATION_TOKEN_KEY_PATH": "/run/secrets/token.pem", "VERIFICATION_TOKEN_PREVIOUS_KEYS_PATH": "/run/secrets/previous.pem",
		}, func(c config.Token) bool {
			return c.KeyPath == "/run/secrets/token.pem" && c.PreviousKeysPath == "/run/secrets/previous.pem"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(envOf(sandboxEnv(tt.env)))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.want(cfg.Token) {
				t.Errorf("got %+v", cfg.Token)
			}
		})
	}
}

func TestTokenRefusesBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"a ttl of 0", map[string]string{"VERIFICATION_TOKEN_TTL": "0"}, []string{"VERIFICATION_TOKEN_TTL must be between 1s and 24h0m0s"}},
		{"a negative ttl", map[string]string{"VERIFICATION_TOKEN_TTL": "-1s"}, []string{"VERIFICATION_TOKEN_TTL must be between"}},
		{"a ttl over a day", map[string]string{"VERIFICATION_TOKEN_TTL": "25h"}, []string{"VERIFICATION_TOKEN_TTL must be between"}},
		{"a ttl without a unit", map[string]string{"VERIFICATION_TOKEN_TTL": "600"}, []string{"VERIFICATION_TOKEN_TTL"}},
		{"an empty issuer", map[string]string{"VERIFICATION_TOKEN_ISSUER": ""}, []string{"VERIFICATION_TOKEN_ISSUER is set but empty"}},
		{"a blank issuer", map[string]string{"VERIFICATION_TOKEN_ISSUER": "  "}, []string{"VERIFICATION_TOKEN_ISSUER must not be blank"}},
		// The value is meant to be a private key: the refusal must not repeat it.
		{"a key that is not PEM text", map[string]string{"VERIFICATION_TOKEN_KEY": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"},
			[]string{"VERIFICATION_TOKEN_KEY must be the PEM text"}},
		{"an inline key and a key file", map[string]string{"VERIFICATION_TOKEN_KEY": inlineKey, "VERIFICATION_TOKEN_KEY_PATH": "/run/secrets/token.pem"},
			[]string{"VERIFICATION_TOKEN_KEY or VERIFICATION_TOKEN_KEY_PATH, not both"}},
		{"an empty key", map[string]string{"VERIFICATION_TOKEN_KEY": ""}, []string{"VERIFICATION_TOKEN_KEY is set but empty"}},
		{"an empty key path", map[string]string{"VERIFICATION_TOKEN_KEY_PATH": ""}, []string{"VERIFICATION_TOKEN_KEY_PATH is set but empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertRefused(t, sandboxEnv(tt.env), tt.want)
		})
	}
}
