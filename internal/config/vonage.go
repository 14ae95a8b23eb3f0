package config

import (
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
)

// Vonage is the Vonage account and how to reach its API, for both Verify versions. Verify v2 may
// authenticate as an application (an application id and its private key) instead of with the key
// and secret.
type Vonage struct {
	APIKey          string        `env:"VONAGE_API_KEY" refuse:"empty" values:"your Vonage account's API key" doc:"The API key; with VERIFY_BACKEND=vonage, required on v1, and on v2 unless an application authenticates."`
	APISecret       string        `env:"VONAGE_API_SECRET" refuse:"empty" secret:"true" values:"your Vonage account's API secret" doc:"The API secret that goes with VONAGE_API_KEY; never logged."`
	BaseURL         string        `env:"VONAGE_BASE_URL" envDefault:"https://api.nexmo.com" refuse:"empty" values:"an http(s) URL without credentials, query or fragment" doc:"The Vonage API's base URL; change it for a fake Vonage in tests."`
	ApplicationID   string        `env:"VONAGE_APPLICATION_ID" refuse:"empty" values:"a Vonage application id" doc:"v2 only: authenticate as this Vonage application (a JWT signed with its private key) instead of with the API key and secret."`
	PrivateKey      string        `env:"VONAGE_PRIVATE_KEY" refuse:"empty" secret:"true" values:"PEM text; on one line, with \\n for each line break" doc:"v2 only: the application's private key (or VONAGE_PRIVATE_KEY_PATH, not both)."`
	PrivateKeyPath  string        `env:"VONAGE_PRIVATE_KEY_PATH" refuse:"empty" values:"a file path" doc:"v2 only: the path of the application's private key file (the private.key the Vonage dashboard downloads)."`
	UpstreamTimeout time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"10s" refuse:"empty" values:"a duration, more than 0 and at most 2m; with VERIFY_BACKEND=vonage, shorter than SHUTDOWN_TIMEOUT" doc:"How long one call to Vonage may take before the app gets 504; keep it under your apps' own read timeout, so that they get the JSON 504."`
}

// Vonage's own defaults, for settings left unset: what it then does.
const (
	vonageDefaultPinExpiry      = 300 * time.Second // v1 pin_expiry
	vonageDefaultNextEventWait  = 300 * time.Second // v1 next_event_wait
	vonageDefaultChannelTimeout = 180 * time.Second // v2 channel_timeout
)

// SilentAuthStep is how long Verify v2's silent_auth step lasts before the next channel is tried:
// Vonage fixes it, whatever channel_timeout says.
const SilentAuthStep = 60 * time.Second

// CodeLifetime is how long a code can be checked, as Vonage keeps it: VERIFY_PIN_EXPIRY on v1
// (Vonage's 300 s when unset); on v2, until every channel of the workflow has had its channel
// timeout (Vonage's 180 s each when unset). The sandbox and the test numbers keep their codes as long.
func (c Config) CodeLifetime() time.Duration {
	if c.Verify.API == APIv2 {
		timeout := c.VonageV2.ChannelTimeout.Duration()
		if timeout == 0 {
			timeout = vonageDefaultChannelTimeout
		}
		steps := max(len(c.VonageV2.Workflow), 1)
		if c.VonageV2.SilentAuth() {
			// Vonage fixes silent authentication's step at 60 s, whatever channel_timeout says.
			return SilentAuthStep + timeout*time.Duration(steps-1)
		}
		return timeout * time.Duration(steps)
	}
	if pin := c.VonageV1.PinExpiry.Duration(); pin != 0 {
		return pin
	}
	return vonageDefaultPinExpiry
}

// UsesJWT reports whether Verify v2 calls authenticate with an application JWT rather than HTTP
// Basic. When both are configured the JWT wins: it is the one Vonage recommends for v2.
func (v Vonage) UsesJWT() bool { return v.ApplicationID != "" }

func (v *Vonage) normalise() {
	v.BaseURL = strings.TrimRight(strings.TrimSpace(v.BaseURL), "/")
	v.ApplicationID = strings.TrimSpace(v.ApplicationID)
	// Env files (docker --env-file, CI secret stores, an unquoted .env line) carry a PEM key on one
	// line with its newlines written as the two characters \n.
	v.PrivateKey = strings.ReplaceAll(v.PrivateKey, `\n`, "\n")
}

// validate checks the base URL, the timeout and, for Verify v1, the credentials; v2's credentials
// are checked with v2's settings.
func (v Vonage) validate(verify Verify) []error {
	var bad problems
	if _, err := transport.ParseBaseURL(v.BaseURL); err != nil {
		bad.add("VONAGE_BASE_URL %v", err)
	}
	if v.UpstreamTimeout <= 0 || v.UpstreamTimeout > 2*time.Minute {
		bad.add("UPSTREAM_TIMEOUT must be more than 0 and at most 2m, got %s", v.UpstreamTimeout)
	}
	if verify.Backend == BackendVonage && verify.API == APIv1 {
		var missing []string
		if v.APIKey == "" {
			missing = append(missing, "VONAGE_API_KEY")
		}
		if v.APISecret == "" {
			missing = append(missing, "VONAGE_API_SECRET")
		}
		if verify.Brand == "" {
			missing = append(missing, "VERIFY_BRAND")
		}
		if len(missing) > 0 {
			bad.add("VERIFY_BACKEND=vonage needs %s; to try the server without a Vonage account set VERIFY_BACKEND=sandbox",
				strings.Join(missing, ", "))
		}
	}
	return bad
}
