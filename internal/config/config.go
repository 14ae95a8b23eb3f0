// Package config turns the environment (and an optional .env file) into a typed, validated Config,
// once, at start-up. The Config is cut into sections, one per concern, each with its own validate;
// a bad value stops the server with a message that names the variable. Variables lists every
// variable the binary reads.
package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is everything the server needs to start. Each section's fields carry their variable's name
// (`env`), its default (`envDefault`, the one place defaults are written) and, where a set but
// empty or zero value is a mistake rather than "use the default", `refuse:"empty"` or
// `refuse:"zero"` (caarlos0/env reads set-but-empty as unset, which would hide the mistake).
// They also carry what the configuration reference says of them, so that it cannot go stale: its
// one-line meaning (`doc`), what it may be set to (`values`) and, for a value that must never be
// shown, `secret:"true"`. Each section's `doc` below is that section's introduction.
type Config struct {
	HTTP       HTTP       `doc:"Where the API listens, how many connections it holds, and whose word about the client's address it takes."`
	Verify     Verify     `doc:"What a verification is, whatever the backend: the backend and Verify API version, the message, and how the numbers apps send are read."`
	Vonage     Vonage     `doc:"The Vonage account and how to reach its API, for both Verify versions. Verify v2 may authenticate as a Vonage application (its id and private key) instead of with the API key and secret."`
	VonageV1   VonageV1   `doc:"Verify v1's own settings, refused with VONAGE_VERIFY_API=v2. Each is sent to Vonage only when set, so that Vonage's defaults apply otherwise."`
	VonageV2   VonageV2   `doc:"Verify v2's own settings, refused with VONAGE_VERIFY_API=v1: the workflow (the channels tried in turn) and what each channel needs."`
	Protection Protection `doc:"What guards the paid API: rate limits, where codes may go, and how long an Idempotency-Key's answer is kept."`
	Redis      Redis      `doc:"The state replicas share: rate limits, idempotency records, verifications. Without REDIS_URL each replica keeps its own, in memory."`
	Memory     Memory     `doc:"The state this process keeps itself: all of it without REDIS_URL, and the limits counted meanwhile when Redis fails."`
	Token      Token      `doc:"The signed proof of a verified number that a successful /check carries (verification_token), for your backend to verify with the keys at /.well-known/jwks.json."`
	Fraud      Fraud      `doc:"The fraud guard: it pauses verifications to a number prefix or a country whose starts stop being verified, the mark of SMS pumping."`
	Admin      Admin      `doc:"The metrics listener, apart from the API so that it is not public by accident."`
	Log        Log        `doc:"The log: its format, and the lowest level written."`
	Shutdown   Shutdown   `doc:"The graceful shutdown after SIGTERM or SIGINT: serve on while load balancers notice, then drain what is in flight."`
}

// LookupFunc reads one variable, telling unset apart from set-but-empty (os.LookupEnv's shape).
type LookupFunc func(key string) (string, bool)

// fallbacks are the original Node proxy's names, read when the new name is unset so that its
// deployments move over without renaming their secrets.
var fallbacks = map[string]string{
	"VONAGE_API_KEY":    "API_KEY",
	"VONAGE_API_SECRET": "API_SECRET",
}

// Load reads and validates the configuration from lookup.
func Load(lookup LookupFunc) (Config, error) {
	vars, err := variables()
	if err != nil {
		return Config{}, err
	}
	environment := map[string]string{}
	var problems []error
	for _, v := range vars {
		name := v.Name
		value, ok := lookup(name)
		if !ok && v.Fallback != "" {
			name = v.Fallback
			value, ok = lookup(name)
		}
		if !ok {
			continue
		}
		if err := v.refused(name, value); err != nil {
			problems = append(problems, err)
			continue
		}
		environment[v.Name] = value
	}
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}

	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environment}); err != nil {
		return Config{}, nameVariables(err, vars, environment)
	}
	cfg.normalise()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// refused says why a value that was set may not stand, or nil.
func (v Variable) refused(name, value string) error {
	switch {
	case value == "" && v.refuse == refuseEmpty:
		return fmt.Errorf("%s is set but empty", name)
	case isZero(value) && v.refuse == refuseZero:
		// The fields' zero value means "not set, use Vonage's default": a 0 that was typed would
		// silently mean the same, outside the documented range.
		return fmt.Errorf("%s is 0, which it may not be; unset it for the default", name)
	}
	return nil
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

// nameVariables rewrites caarlos0/env's parse errors, which name Go struct fields, to name the
// environment variable and its bad value's problem instead.
func nameVariables(err error, vars []Variable, environment map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("read environment: %w", err)
	}
	byField := make(map[string]Variable, len(vars))
	for _, v := range vars {
		byField[v.field] = v
	}
	problems := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			problems = append(problems, e)
			continue
		}
		v, ok := byField[pe.Name]
		if !ok {
			problems = append(problems, fmt.Errorf("%s: %w", pe.Name, pe.Err))
			continue
		}
		value := environment[v.Name]
		// strconv's and time's own words ("strconv.ParseInt: parsing ...: invalid syntax", "time:
		// missing unit in duration") name Go functions; the reference's name what may be written.
		// Our own types (limits, lists, seconds) say it themselves.
		ne, isNumber := errors.AsType[*strconv.NumError](pe.Err)
		_, isDuration := errors.AsType[env.ParseValueError](pe.Err)
		switch {
		case isNumber && ne.Func == "ParseBool":
			problems = append(problems, fmt.Errorf("%s must be true or false, got %q", v.Name, value))
		case isNumber && errors.Is(ne.Err, strconv.ErrRange) && v.Values != "" && !strings.Contains(v.Values, " to ") &&
			!strings.HasPrefix(strings.TrimSpace(value), "-"):
			// Whole numbers are read into 32 bits: "1 or more" alone would name a rule the value keeps.
			problems = append(problems, fmt.Errorf("%s must be %s, and at most %d, got %q", v.Name, v.Values, math.MaxInt32, value))
		case isNumber && errors.Is(ne.Err, strconv.ErrSyntax) && v.Values != "" && strings.TrimSpace(value) != value:
			problems = append(problems, fmt.Errorf("%s must be %s, without spaces, got %q", v.Name, v.Values, value))
		case isNumber && errors.Is(ne.Err, strconv.ErrSyntax) && v.Values != "" && ne.Func != "ParseFloat":
			// "1e3" and "0x10" are numbers to a person, and 1000 and 16 keep "1 or more": say what is wrong.
			problems = append(problems, fmt.Errorf("%s must be %s, in plain digits, got %q", v.Name, v.Values, value))
		case (isNumber || isDuration) && v.Values != "":
			problems = append(problems, fmt.Errorf("%s must be %s, got %q", v.Name, v.Values, value))
		default:
			problems = append(problems, fmt.Errorf("%s: %w", v.Name, pe.Err))
		}
	}
	return errors.Join(problems...)
}

// normalise tidies what people type (case, spaces, a trailing slash) before validation.
func (c *Config) normalise() {
	c.HTTP.normalise()
	c.Verify.normalise()
	c.Vonage.normalise()
	c.VonageV2.normalise(c.Verify.API)
	c.Protection.normalise()
	c.Redis.normalise()
	c.Token.normalise()
	c.Fraud.normalise()
	c.Admin.normalise()
	c.Log.normalise()
}

// Validate checks every section, and the rules that join sections, and names each offending
// variable.
func (c Config) Validate() error {
	var problems []error
	for _, p := range [][]error{
		c.HTTP.validate(),
		c.Verify.validate(),
		c.Vonage.validate(c.Verify),
		c.VonageV1.validate(c.Verify),
		c.VonageV2.validate(c.Verify, c.Vonage),
		c.Protection.validate(),
		c.Redis.validate(),
		c.Memory.validate(),
		c.Token.validate(),
		c.Fraud.validate(),
		c.fraudWindowProblems(),
		c.Admin.validate(),
		c.Log.validate(),
		c.Shutdown.validate(c.Verify, c.Vonage),
	} {
		problems = append(problems, p...)
	}
	return errors.Join(problems...)
}

// Warnings are what a valid configuration still does that an operator may not expect; the server
// logs each at start-up.
func (c Config) Warnings() []string {
	var w []string
	if c.Verify.API == APIv2 && c.VonageV2.SilentAuth() && len(c.VonageV2.Workflow) == 1 {
		w = append(w, "VERIFY_WORKFLOW=silent_auth has no fallback: users whose network or connection cannot do "+
			"silent authentication (Wi-Fi, an unsupported carrier) cannot verify at all; add one, e.g. silent_auth,sms")
	}
	if c.Verify.Backend == BackendVonage && plainHTTPRemote(c.Vonage.BaseURL) {
		w = append(w, "VONAGE_BASE_URL is plain http to a host that is not this machine: the API secret and the "+
			"codes travel unencrypted; use https")
	}
	return w
}

// plainHTTPRemote reports whether base is an http:// URL whose host is not a loopback address.
func plainHTTPRemote(base string) bool {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return !ip.IsLoopback()
	}
	return host != "localhost"
}

// problems collects the refusals of one validate.
type problems []error

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }
