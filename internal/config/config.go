// Package config turns the environment (and an optional .env file) into a typed, validated Config,
// once, at start-up. A bad value stops the server with a message that names the variable.
package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"

	"github.com/caarlos0/env/v11"

	"github.com/verify-proxy/verify-proxy/internal/logging"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
)

// Backends a server can verify with.
const (
	BackendVonage  = "vonage"
	BackendSandbox = "sandbox"
)

// Verify API versions (VONAGE_VERIFY_API).
const (
	APIv1 = "v1" // Verify Legacy, being sunset by Vonage
	APIv2 = "v2"
)

// Config is everything the server needs to start. Field names follow the environment variables in
// the README; other work relies on those names.
type Config struct {
	Port       int    `env:"PORT" envDefault:"8080"`
	ListenHost string `env:"LISTEN_HOST"` // an IP address, so that what is bound never depends on DNS; "": every interface
	Backend    string `env:"VERIFY_BACKEND" envDefault:"vonage"`

	VonageAPIKey    string `env:"VONAGE_API_KEY"`
	VonageAPISecret string `env:"VONAGE_API_SECRET"`
	VonageBaseURL   string `env:"VONAGE_BASE_URL" envDefault:"https://api.nexmo.com"`
	VerifyAPI       string `env:"VONAGE_VERIFY_API" envDefault:"v1"`

	// Verify v2 only: an application JWT instead of key and secret (see verifyv2.go).
	VonageApplicationID  string `env:"VONAGE_APPLICATION_ID"`
	VonagePrivateKey     string `env:"VONAGE_PRIVATE_KEY"`
	VonagePrivateKeyPath string `env:"VONAGE_PRIVATE_KEY_PATH"`

	Brand         string  `env:"VERIFY_BRAND"`
	CodeLength    int     `env:"VERIFY_CODE_LENGTH"`
	Locale        string  `env:"VERIFY_LOCALE"`
	WorkflowID    int     `env:"VERIFY_WORKFLOW_ID"`
	PinExpiry     Seconds `env:"VERIFY_PIN_EXPIRY"`
	NextEventWait Seconds `env:"VERIFY_NEXT_EVENT_WAIT"`
	SenderID      string  `env:"VERIFY_SENDER_ID"`

	// Verify v2 only (see verifyv2.go).
	Workflow       []string `env:"VERIFY_WORKFLOW"`
	WhatsAppFrom   string   `env:"VERIFY_WHATSAPP_FROM"`
	ChannelTimeout Seconds  `env:"VERIFY_CHANNEL_TIMEOUT"`
	SMSAppHash     string   `env:"VERIFY_SMS_APP_HASH"`

	UpstreamTimeout time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"10s"`
	DefaultCountry  string        `env:"DEFAULT_COUNTRY"`

	// Abuse protection (see protection.go).
	TrustedProxies     Prefixes      `env:"TRUSTED_PROXIES"`
	ClientIPHeader     string        `env:"CLIENT_IP_HEADER" envDefault:"X-Forwarded-For"`
	RateLimitIP        state.Limit   `env:"RATE_LIMIT_IP" envDefault:"30/1m"`
	RateLimitNumber    state.Limit   `env:"RATE_LIMIT_NUMBER" envDefault:"3/10m"`
	RateLimitCheck     state.Limit   `env:"RATE_LIMIT_CHECK" envDefault:"5/10m"`
	RateLimitCountry   state.Limit   `env:"RATE_LIMIT_COUNTRY" envDefault:"off"`
	RateLimitGlobal    state.Limit   `env:"RATE_LIMIT_GLOBAL" envDefault:"off"`
	AllowedCountries   []string      `env:"ALLOWED_COUNTRIES"`
	BlockedCountries   []string      `env:"BLOCKED_COUNTRIES"`
	AllowedNumberTypes []phone.Type  `env:"ALLOWED_NUMBER_TYPES"`
	TestNumbers        TestNumbers   `env:"TEST_NUMBERS"`
	IdempotencyTTL     time.Duration `env:"IDEMPOTENCY_TTL" envDefault:"24h"`
	RedisURL           string        `env:"REDIS_URL"`
	RedisFailOpen      bool          `env:"REDIS_FAIL_OPEN"`
	// AdminAddr is where /metrics is served, apart from the API so that it is not public by
	// accident; AdminOff disables it.
	AdminAddr string `env:"ADMIN_ADDR" envDefault:"127.0.0.1:9090"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"json"`
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	// ShutdownDelay is how long the server keeps serving after SIGTERM with /readyz failing, so load
	// balancers stop sending before it stops accepting; ShutdownTimeout bounds the drain after that.
	ShutdownDelay   time.Duration `env:"SHUTDOWN_DELAY" envDefault:"0s"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
}

// AdminOff is the ADMIN_ADDR that disables the admin listener.
const AdminOff = "off"

// LookupFunc reads one variable, telling unset apart from set-but-empty (os.LookupEnv's shape).
type LookupFunc func(key string) (string, bool)

// fallbacks are the original Node proxy's names, read when the new name is unset so that its
// deployments move over without renaming their secrets.
var fallbacks = map[string]string{
	"VONAGE_API_KEY":    "API_KEY",
	"VONAGE_API_SECRET": "API_SECRET",
}

// mustNotBeEmpty are variables where an empty value is a mistake rather than "use the default":
// caarlos0/env treats set-but-empty as unset, which would hide it.
var mustNotBeEmpty = []string{
	"PORT", "LISTEN_HOST", "VERIFY_BACKEND", "VONAGE_API_KEY", "VONAGE_API_SECRET", "VONAGE_BASE_URL", "VERIFY_BRAND",
	"UPSTREAM_TIMEOUT", "VONAGE_VERIFY_API", "VONAGE_APPLICATION_ID", "VONAGE_PRIVATE_KEY",
	"VONAGE_PRIVATE_KEY_PATH", "VERIFY_WORKFLOW", "VERIFY_WHATSAPP_FROM",
	"RATE_LIMIT_IP", "RATE_LIMIT_NUMBER", "RATE_LIMIT_CHECK", "RATE_LIMIT_COUNTRY",
	"RATE_LIMIT_GLOBAL", "IDEMPOTENCY_TTL", "CLIENT_IP_HEADER", "REDIS_URL", "REDIS_FAIL_OPEN",
	"UPSTREAM_TIMEOUT", "ADMIN_ADDR", "LOG_FORMAT", "LOG_LEVEL", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT",
}

// mustNotBeZero are numeric variables whose zero value stands for "unset".
var mustNotBeZero = []string{
	"VERIFY_CODE_LENGTH", "VERIFY_WORKFLOW_ID", "VERIFY_PIN_EXPIRY", "VERIFY_NEXT_EVENT_WAIT", "VERIFY_CHANNEL_TIMEOUT",
}

// isZero reports whether v is written as zero: "0", "00", "0s", " 0 ".
func isZero(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	n, err := strconv.Atoi(v)
	if err == nil {
		return n == 0
	}
	d, err := time.ParseDuration(v)
	return err == nil && d == 0
}

// Load reads and validates the configuration from lookup.
func Load(lookup LookupFunc) (Config, error) {
	params, err := env.GetFieldParams(&Config{})
	if err != nil {
		return Config{}, fmt.Errorf("list configuration variables: %w", err)
	}
	environment := map[string]string{}
	var problems []error
	for _, p := range params {
		key := p.Key
		v, ok := lookup(key)
		if !ok {
			if old, has := fallbacks[key]; has {
				v, ok = lookup(old)
				key = old
			}
		}
		if !ok {
			continue
		}
		if v == "" && slices.Contains(mustNotBeEmpty, p.Key) {
			problems = append(problems, fmt.Errorf("%s is set but empty", key))
			continue
		}
		if isZero(v) && slices.Contains(mustNotBeZero, p.Key) {
			// The fields' zero value means "not set, use Vonage's default": a 0 that was typed would
			// silently mean the same, outside the documented range.
			problems = append(problems, fmt.Errorf("%s is 0, which it may not be; unset it for the default", key))
			continue
		}
		environment[p.Key] = v
	}
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}

	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environment}); err != nil {
		return Config{}, nameVariables(err)
	}
	cfg.Backend = strings.ToLower(strings.TrimSpace(cfg.Backend))
	cfg.DefaultCountry = strings.ToUpper(strings.TrimSpace(cfg.DefaultCountry))
	cfg.Locale = strings.ToLower(strings.TrimSpace(cfg.Locale))
	cfg.VonageBaseURL = strings.TrimRight(strings.TrimSpace(cfg.VonageBaseURL), "/")
	cfg.normaliseV2()
	cfg.normaliseProtection()
	cfg.AdminAddr = strings.TrimSpace(cfg.AdminAddr)
	if strings.EqualFold(cfg.AdminAddr, AdminOff) {
		cfg.AdminAddr = AdminOff
	}
	cfg.LogFormat = strings.ToLower(strings.TrimSpace(cfg.LogFormat))
	cfg.LogLevel = strings.ToLower(strings.TrimSpace(cfg.LogLevel))
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// nameVariables rewrites caarlos0/env's parse errors, which name Go struct fields, to name the
// environment variable and its bad value's problem instead.
func nameVariables(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("read environment: %w", err)
	}
	problems := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			problems = append(problems, e)
			continue
		}
		key := pe.Name
		if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
			key = strings.Split(f.Tag.Get("env"), ",")[0]
		}
		problems = append(problems, fmt.Errorf("%s: %w", key, pe.Err))
	}
	return errors.Join(problems...)
}

// vonageDefaultNextEventWait is Verify v1's next_event_wait when the request leaves it out.
const vonageDefaultNextEventWait = 300 * time.Second

// Seconds is a duration given either as whole seconds ("300", as the Verify API takes it) or as a
// Go duration ("5m").
type Seconds time.Duration

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (s *Seconds) UnmarshalText(text []byte) error {
	t := strings.TrimSpace(string(text))
	if n, err := strconv.Atoi(t); err == nil {
		*s = Seconds(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return fmt.Errorf("%q is neither whole seconds nor a duration such as 5m", t)
	}
	*s = Seconds(d)
	return nil
}

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// Whole returns s in whole seconds, as the Verify API takes it.
func (s Seconds) Whole() int { return int(time.Duration(s) / time.Second) }

// v1Locales are the `lg` values the Verify API v1 accepts (spec 1.1.7).
var v1Locales = strings.Fields(`ar-xa cs-cz cy-cy cy-gb da-dk de-de el-gr en-au en-gb en-in en-us es-es es-mx
	es-us fi-fi fil-ph fr-ca fr-fr hi-in hu-hu id-id is-is it-it ja-jp ko-kr nb-no nl-nl pl-pl pt-br pt-pt
	ro-ro ru-ru sv-se th-th tr-tr vi-vn yue-cn zh-cn zh-tw`)

var (
	alphanumericSender = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	numericSender      = regexp.MustCompile(`^[0-9]{1,15}$`)
	countryCode        = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Validate checks every value and names each offending variable.
func (c Config) Validate() error {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if c.ListenHost != "" && net.ParseIP(c.ListenHost) == nil {
		bad("LISTEN_HOST must be an IP address (127.0.0.1, ::1, 10.0.0.5), or unset to listen on every interface, got %q", c.ListenHost)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("PORT must be between 1 and 65535, got %d", c.Port)
	}
	switch {
	case c.Backend == BackendVonage && c.VerifyAPI == APIv2:
		problems = append(problems, c.validateV2Credentials()...)
	case c.Backend == BackendVonage:
		var missing []string
		if c.VonageAPIKey == "" {
			missing = append(missing, "VONAGE_API_KEY")
		}
		if c.VonageAPISecret == "" {
			missing = append(missing, "VONAGE_API_SECRET")
		}
		if c.Brand == "" {
			missing = append(missing, "VERIFY_BRAND")
		}
		if len(missing) > 0 {
			bad("VERIFY_BACKEND=vonage needs %s; to try the server without a Vonage account set VERIFY_BACKEND=sandbox",
				strings.Join(missing, ", "))
		}
	case c.Backend == BackendSandbox:
	default:
		bad("VERIFY_BACKEND must be %q or %q, got %q", BackendVonage, BackendSandbox, c.Backend)
	}
	switch c.VerifyAPI {
	case APIv1:
		problems = append(problems, c.validateV1Only()...)
	case APIv2:
		problems = append(problems, c.validateV2Only()...)
	default:
		bad("VONAGE_VERIFY_API must be %q or %q, got %q", APIv1, APIv2, c.VerifyAPI)
	}
	if _, err := transport.ParseBaseURL(c.VonageBaseURL); err != nil {
		bad("VONAGE_BASE_URL %v", err)
	}
	if n := len([]rune(c.Brand)); n > 18 {
		bad("VERIFY_BRAND must be at most 18 characters, got %d", n)
	}
	if c.WorkflowID != 0 && (c.WorkflowID < 1 || c.WorkflowID > 7) {
		bad("VERIFY_WORKFLOW_ID must be between 1 and 7, got %d", c.WorkflowID)
	}
	pin, wait := c.PinExpiry.Duration(), c.NextEventWait.Duration()
	if pin != 0 && (pin < time.Minute || pin > time.Hour || pin%time.Second != 0) {
		bad("VERIFY_PIN_EXPIRY must be whole seconds between 60 and 3600, got %s", pin)
	}
	if wait != 0 && (wait < time.Minute || wait > 15*time.Minute || wait%time.Second != 0) {
		bad("VERIFY_NEXT_EVENT_WAIT must be whole seconds between 60 and 900, got %s", wait)
	}
	// Vonage silently shortens pin_expiry to next_event_wait when it is not a multiple of it; say so now
	// rather than let codes expire sooner than the operator expects.
	// Unset, the wait is Vonage's default, and the rule holds against that.
	switch {
	case pin != 0 && wait != 0 && pin%wait != 0:
		bad("VERIFY_PIN_EXPIRY (%s) must be a whole multiple of VERIFY_NEXT_EVENT_WAIT (%s)", pin, wait)
	case pin != 0 && wait == 0 && pin%vonageDefaultNextEventWait != 0:
		bad("VERIFY_PIN_EXPIRY (%s) must be a whole multiple of VERIFY_NEXT_EVENT_WAIT, which is Vonage's "+
			"default %s when unset; set VERIFY_NEXT_EVENT_WAIT too, or Vonage makes codes live %s",
			pin, vonageDefaultNextEventWait, vonageDefaultNextEventWait)
	}
	// v2's stricter rule is checked with the other v2 settings; two rules for one value would contradict.
	if c.VerifyAPI != APIv2 && c.SenderID != "" && !alphanumericSender.MatchString(c.SenderID) && !numericSender.MatchString(c.SenderID) {
		bad("VERIFY_SENDER_ID must be up to 11 letters, digits or spaces, or up to 15 digits, got %q", c.SenderID)
	}
	if c.UpstreamTimeout <= 0 || c.UpstreamTimeout > 2*time.Minute {
		bad("UPSTREAM_TIMEOUT must be more than 0 and at most 2m, got %s", c.UpstreamTimeout)
	}
	if c.DefaultCountry != "" && !countryCode.MatchString(c.DefaultCountry) {
		bad("DEFAULT_COUNTRY must be an ISO 3166 alpha-2 code such as US or GB, got %q", c.DefaultCountry)
	}
	problems = append(problems, c.validateProtection()...)
	if c.AdminAddr != AdminOff && !validListenAddr(c.AdminAddr) {
		bad("ADMIN_ADDR must be host:port (such as 127.0.0.1:9090 or :9090) or %q, got %q", AdminOff, c.AdminAddr)
	}
	if _, err := logging.ParseFormat(c.LogFormat); err != nil {
		bad("LOG_FORMAT must be json or text, got %q", c.LogFormat)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		bad("LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > 10*time.Minute {
		bad("SHUTDOWN_DELAY must be between 0 and 10m, got %s", c.ShutdownDelay)
	}
	if c.ShutdownTimeout <= 0 || c.ShutdownTimeout > 10*time.Minute {
		bad("SHUTDOWN_TIMEOUT must be more than 0 and at most 10m, got %s", c.ShutdownTimeout)
	}
	return errors.Join(problems...)
}

// validListenAddr accepts what net.Listen takes for TCP with a fixed port: an optional host, and a
// port from 1 to 65535.
func validListenAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}
