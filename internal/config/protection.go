package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/phone"
)

// Prefixes are TRUSTED_PROXIES: comma-separated CIDRs; a bare address means just that address.
type Prefixes []netip.Prefix

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (p *Prefixes) UnmarshalText(text []byte) error {
	var out Prefixes
	for _, item := range strings.Split(string(text), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if prefix, err := netip.ParsePrefix(item); err == nil {
			out = append(out, prefix.Masked())
			continue
		}
		addr, err := netip.ParseAddr(item)
		if err != nil {
			return fmt.Errorf("%q is neither a CIDR such as 10.0.0.0/8 nor an IP address", item)
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	*p = out
	return nil
}

// TestNumbers are TEST_NUMBERS: number:code pairs, comma-separated, read into E.164 digits -> code.
type TestNumbers map[string]string

var testCode = regexp.MustCompile(`^[A-Za-z0-9]{4,10}$`)

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (t *TestNumbers) UnmarshalText(text []byte) error {
	out := TestNumbers{}
	for _, pair := range strings.Split(string(text), ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		number, code, ok := strings.Cut(pair, ":")
		if !ok {
			return fmt.Errorf("%q is not number:code, such as 15555550100:123456", pair)
		}
		// Test numbers need not be valid (fictional ranges are the usual choice), only digits.
		digits := phone.Digits(number)
		if len(digits) < 6 || len(digits) > 15 {
			return fmt.Errorf("%q: the number must have 6 to 15 digits", pair)
		}
		if digits[0] == '0' {
			// A national number would match only when typed exactly so, never as +44 7700 900001.
			return fmt.Errorf("%q: write the number in international form, country code first (447700900001, not 07700900001)", pair)
		}
		code = strings.TrimSpace(code)
		if !testCode.MatchString(code) {
			return fmt.Errorf("number %s: the code must be 4 to 10 letters or digits", digits)
		}
		if _, dup := out[digits]; dup {
			return fmt.Errorf("number %s is listed twice", digits)
		}
		out[digits] = code
	}
	*t = out
	return nil
}

func (c *Config) normaliseProtection() {
	for _, list := range [][]string{c.AllowedCountries, c.BlockedCountries} {
		for i := range list {
			list[i] = strings.ToUpper(strings.TrimSpace(list[i]))
		}
	}
	for i, t := range c.AllowedNumberTypes {
		c.AllowedNumberTypes[i] = phone.Type(strings.ToLower(strings.TrimSpace(string(t))))
	}
	c.RedisURL = strings.TrimSpace(c.RedisURL)
	for _, h := range []string{HeaderXForwardedFor, HeaderXRealIP} {
		if strings.EqualFold(strings.TrimSpace(c.ClientIPHeader), h) {
			c.ClientIPHeader = h
		}
	}
}

// The headers CLIENT_IP_HEADER may name, as they are written.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderXRealIP       = "X-Real-IP"
)

// validPort accepts an absent port (the scheme's default) or 1 to 65535.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// validRedisDB accepts no database (0) or a database number, as the path of a redis:// URL.
func validRedisDB(path string) bool {
	db := strings.TrimPrefix(path, "/")
	if db == "" {
		return true
	}
	n, err := strconv.Atoi(db)
	return err == nil && n >= 0
}

// validateProtection checks the abuse-protection variables and names each offending one.
func (c Config) validateProtection() []error {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	// One header, the one the proxies set: a proxy that sets X-Real-IP passes on whatever
	// X-Forwarded-For the client wrote, and one that appends to X-Forwarded-For passes on the
	// client's X-Real-IP, so believing whichever header happens to be there lets clients choose.
	if c.ClientIPHeader != HeaderXForwardedFor && c.ClientIPHeader != HeaderXRealIP {
		bad("CLIENT_IP_HEADER must be %s or %s (the header your trusted proxies set), got %q",
			HeaderXForwardedFor, HeaderXRealIP, c.ClientIPHeader)
	}
	if len(c.AllowedCountries) > 0 && len(c.BlockedCountries) > 0 {
		bad("ALLOWED_COUNTRIES and BLOCKED_COUNTRIES cannot both be set: list the countries to allow, or those to block")
	}
	for name, list := range map[string][]string{"ALLOWED_COUNTRIES": c.AllowedCountries, "BLOCKED_COUNTRIES": c.BlockedCountries} {
		for _, code := range list {
			if !phone.KnownRegion(code) {
				bad("%s: %q is not an ISO 3166 alpha-2 country code (such as US, GB or DE)", name, code)
			}
		}
	}
	for _, t := range c.AllowedNumberTypes {
		if _, err := phone.ParseType(string(t)); err != nil {
			bad("ALLOWED_NUMBER_TYPES: %v", err)
		}
	}
	if c.IdempotencyTTL < time.Minute || c.IdempotencyTTL > 7*24*time.Hour {
		bad("IDEMPOTENCY_TTL must be between 1m and 168h, got %s", c.IdempotencyTTL)
	}
	if c.RedisURL != "" {
		// The URL may hold a password: never repeat it.
		u, err := url.Parse(c.RedisURL)
		switch {
		case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
			bad("REDIS_URL must be redis://host:port/db or rediss://host:port/db")
		case !validPort(u.Port()):
			bad("REDIS_URL: the port must be between 1 and 65535")
		case !validRedisDB(u.Path):
			bad("REDIS_URL: the database after the host must be a number, such as /0")
		}
	}
	return problems
}
