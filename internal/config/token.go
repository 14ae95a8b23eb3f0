package config

import (
	"strings"
	"time"
)

// Token is the signed proof a successful /check carries (verification_token), for the app's own
// backend to verify with the keys at /.well-known/jwks.json.
type Token struct {
	// Key is the PEM private key that signs: ECDSA P-256, Ed25519 or RSA of 2048 bits or more.
	Key     string `env:"VERIFICATION_TOKEN_KEY" refuse:"empty" secret:"true" values:"a PEM private key: ECDSA P-256, Ed25519, or RSA of 2048 bits or more; on one line, with \\n for each line break" doc:"The key that signs verification tokens; unset, the sandbox makes one for each run and the Vonage backend issues no token."`
	KeyPath string `env:"VERIFICATION_TOKEN_KEY_PATH" refuse:"empty" values:"a file path" doc:"Or the path of that key's PEM file (set one of the two, not both)."`
	// PreviousKeysPath is a PEM file of retired keys (public or private), still published so that
	// tokens they signed verify until they expire.
	PreviousKeysPath string        `env:"VERIFICATION_TOKEN_PREVIOUS_KEYS_PATH" refuse:"empty" values:"a file path" doc:"A PEM file of retired keys (public or private), still published so that the tokens they signed verify until they expire."`
	Issuer           string        `env:"VERIFICATION_TOKEN_ISSUER" envDefault:"verify-proxy" refuse:"empty" values:"any text that is not blank" doc:"The tokens' iss claim."`
	Audience         []string      `env:"VERIFICATION_TOKEN_AUDIENCE" values:"comma-separated" doc:"The tokens' aud claim; unset, the tokens carry none."`
	TTL              time.Duration `env:"VERIFICATION_TOKEN_TTL" envDefault:"10m" refuse:"empty" values:"a duration, 1s to 24h" doc:"How long a token is valid."`
}

// The longest a token may live: it proves a moment's possession of a phone, not a session.
const maxTokenTTL = 24 * time.Hour

func (t *Token) normalise() {
	// Env files carry a PEM key on one line with its newlines written as the two characters \n.
	t.Key = strings.ReplaceAll(t.Key, `\n`, "\n")
	t.Issuer = strings.TrimSpace(t.Issuer)
	var audience []string
	for _, a := range t.Audience {
		if a = strings.TrimSpace(a); a != "" {
			audience = append(audience, a)
		}
	}
	t.Audience = audience
}

func (t Token) validate() []error {
	var bad problems
	if t.Key != "" && t.KeyPath != "" {
		bad.add("set VERIFICATION_TOKEN_KEY or VERIFICATION_TOKEN_KEY_PATH, not both")
	}
	if t.Key != "" && !strings.Contains(t.Key, "-----BEGIN ") {
		// Never echo the value: it is meant to be a private key.
		bad.add("VERIFICATION_TOKEN_KEY must be the PEM text of a private key (-----BEGIN PRIVATE KEY----- …)")
	}
	if t.Issuer == "" {
		bad.add("VERIFICATION_TOKEN_ISSUER must not be blank")
	}
	if t.TTL < time.Second || t.TTL > maxTokenTTL {
		bad.add("VERIFICATION_TOKEN_TTL must be between 1s and %s, got %s", maxTokenTTL, t.TTL)
	}
	return bad
}
