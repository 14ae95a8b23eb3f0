package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// Protection guards the paid API: the rate limits, where codes may go, and how long an
// Idempotency-Key's answer is kept.
type Protection struct {
	RateLimitIP        state.Limit   `env:"RATE_LIMIT_IP" envDefault:"30/1m" refuse:"empty" values:"N/duration (at most N in any such window; N up to 100000, the window at least 1s), or off" doc:"All three calls per client IP (IPv6: per /64)."`
	RateLimitNumber    state.Limit   `env:"RATE_LIMIT_NUMBER" envDefault:"3/10m" refuse:"empty" values:"N/duration (at most N in any such window; N up to 100000, the window at least 1s), or off" doc:"/request per phone number."`
	RateLimitCheck     state.Limit   `env:"RATE_LIMIT_CHECK" envDefault:"5/10m" refuse:"empty" values:"N/duration (at most N in any such window; N up to 100000, the window at least 1s), or off" doc:"/check per request_id, whatever the IP."`
	RateLimitCountry   state.Limit   `env:"RATE_LIMIT_COUNTRY" envDefault:"off" refuse:"empty" values:"N/duration (at most N in any such window; N up to 100000, the window at least 1s), or off" doc:"/request per destination country."`
	RateLimitPrefix    state.Limit   `env:"RATE_LIMIT_PREFIX" envDefault:"30/1h" refuse:"empty" values:"N/duration (at most N in any such window; N up to 100000, the window at least 1s), or off" doc:"/request per block of 10,000 numbers (the number without its last 4 digits); numbers verified here recently are not counted."`
	RateLimitGlobal    state.Limit   `env:"RATE_LIMIT_GLOBAL" envDefault:"off" refuse:"empty" values:"N/duration (at most N in any such window; N up to 100000, the window at least 1s), or off" doc:"All /request calls together: a ceiling on spend."`
	AllowedCountries   []string      `env:"ALLOWED_COUNTRIES" refuse:"empty" values:"ISO 3166 alpha-2 codes, comma-separated, e.g. US,GB,DE" doc:"Send codes only to these countries (set this or BLOCKED_COUNTRIES, not both); unset, to every country."`
	BlockedCountries   []string      `env:"BLOCKED_COUNTRIES" values:"ISO 3166 alpha-2 codes, comma-separated" doc:"Never send codes to these countries."`
	AllowedNumberTypes []phone.Type  `env:"ALLOWED_NUMBER_TYPES" refuse:"empty" values:"comma-separated, from mobile, fixed_line, fixed_line_or_mobile, voip, personal_number, toll_free, premium_rate, shared_cost, uan, voicemail, pager" doc:"The kinds of line codes may go to; unset, mobile, fixed_line, fixed_line_or_mobile, voip and personal_number."`
	IdempotencyTTL     time.Duration `env:"IDEMPOTENCY_TTL" envDefault:"24h" refuse:"empty" values:"a duration, 1m to 168h" doc:"How long a /request answer is replayed for the same Idempotency-Key."`
	// RateLimitWrongCodes counts wrong codes (Verify status 16 and 17) per number, over all its
	// verifications.
	RateLimitWrongCodes state.Limit `env:"RATE_LIMIT_WRONG_CODES" envDefault:"10/24h" refuse:"empty" values:"N/duration (at most N in any such window; N up to 100000, the window at least 1s), or off" doc:"Wrong codes per phone number, over all its verifications; past it, every /check for that number is refused."`
	// ConcurrentRequestID says who may learn the request_id of a verification already running.
	ConcurrentRequestID guard.Disclosure `env:"CONCURRENT_REQUEST_ID" envDefault:"withhold" refuse:"empty" values:"withhold, same_address, expose" doc:"Who learns the running verification's request_id from a second /request for its number: nobody, the client address that started it, or anyone (as Vonage does)."`
}

func (p *Protection) normalise() {
	for _, list := range [][]string{p.AllowedCountries, p.BlockedCountries} {
		for i := range list {
			list[i] = strings.ToUpper(strings.TrimSpace(list[i]))
		}
	}
	p.ConcurrentRequestID = guard.Disclosure(strings.ToLower(strings.TrimSpace(string(p.ConcurrentRequestID))))
	for i, t := range p.AllowedNumberTypes {
		p.AllowedNumberTypes[i] = phone.Type(strings.ToLower(strings.TrimSpace(string(t))))
	}
}

func (p Protection) validate() []error {
	var bad problems
	if len(p.AllowedCountries) > 0 && len(p.BlockedCountries) > 0 {
		bad.add("ALLOWED_COUNTRIES and BLOCKED_COUNTRIES cannot both be set: list the countries to allow, or those to block")
	}
	for name, list := range map[string][]string{"ALLOWED_COUNTRIES": p.AllowedCountries, "BLOCKED_COUNTRIES": p.BlockedCountries} {
		for _, code := range list {
			if !phone.KnownRegion(code) {
				bad.add("%s: %q is not an ISO 3166 alpha-2 country code (such as US, GB or DE)", name, code)
			}
		}
	}
	for _, t := range p.AllowedNumberTypes {
		if _, err := phone.ParseType(string(t)); err != nil {
			bad.add("ALLOWED_NUMBER_TYPES: %v", err)
		}
	}
	oneOf(&bad, "CONCURRENT_REQUEST_ID", p.ConcurrentRequestID, guard.Disclosures)
	if p.IdempotencyTTL < time.Minute || p.IdempotencyTTL > 7*24*time.Hour {
		bad.add("IDEMPOTENCY_TTL must be between 1m and 168h, got %s", p.IdempotencyTTL)
	}
	return bad
}

// validPort accepts an absent port (the scheme's default) or 1 to 65535.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}
