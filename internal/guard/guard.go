// Package guard owns abuse protection in front of the paid Verify API: who the client is (its IP,
// IPv6 by /64), the independent rate limits (per client IP, per number, per request_id's code
// checks, per country, global), where numbers may go (countries and line types), idempotent starts,
// and what happens when the shared state is unreachable (fail closed for starts, open for checks and
// cancels). The state lives behind Store, in one process (memstore) or in Redis for many replicas
// (redisstore). It knows nothing of HTTP: its refusals are *Error values the server maps.
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// Limits are the five independent limits. Each has its own key, so rotating one (the IP, say)
// never frees another (the number).
type Limits struct {
	IP      Limit // all three calls, per client IP (IPv6: per /64)
	Number  Limit // starts, per normalised number
	Check   Limit // checks, per request_id, whatever the IP
	Country Limit // starts, per destination country
	Global  Limit // all starts together
}

// DefaultLimits are the limits of an unconfigured server.
func DefaultLimits() Limits {
	return Limits{
		IP:     Limit{Count: 30, Window: time.Minute},
		Number: Limit{Count: 3, Window: 10 * time.Minute},
		Check:  Limit{Count: 5, Window: 10 * time.Minute},
	}
}

// Defaults for idempotency.
const (
	DefaultIdempotencyTTL   = 24 * time.Hour
	defaultIdempotencyLease = time.Minute
)

// Options configure a Guard. Store, Phones and Logger are required.
type Options struct {
	Store        Store
	Phones       *phone.Parser
	Logger       *slog.Logger
	Now          func() time.Time // nil means time.Now
	Limits       Limits
	Destinations Destinations
	// IsTestNumber reports whether E.164 digits are a configured test number: those bypass every
	// rule for starts but the per-IP limit, and need not be valid numbers. nil means none.
	IsTestNumber func(digits string) bool
	// IdempotencyTTL is how long a finished response is replayed; 0 means 24h.
	IdempotencyTTL time.Duration
	// IdempotencyLease is how long a first request may stay in flight before a retry may start
	// afresh (the process handling it may have died); 0 means 1m. Set it above the upstream timeout.
	IdempotencyLease time.Duration
	// FailOpen lets starts go on without limits or idempotency while the store is unreachable.
	FailOpen bool
	// OnStoreFailure, when set, is told of every store call that failed and of what was done about
	// it: "refused" (a start, failing closed) or "let_through" (a check or cancel, or any call with
	// FailOpen), so that metrics can say how much went on without limits.
	OnStoreFailure func(outcome string)
}

// Guard decides whether a call may go ahead. It is safe for concurrent use.
type Guard struct {
	store          Store
	phones         *phone.Parser
	logger         *slog.Logger
	limits         Limits
	destinations   destinations
	isTestNumber   func(string) bool
	idemTTL        time.Duration
	idemLease      time.Duration
	failOpen       bool
	onStoreFailure func(outcome string)
	outage         *outage
}

// New builds a Guard from explicit options.
func New(opts Options) (*Guard, error) {
	if opts.Store == nil || opts.Phones == nil || opts.Logger == nil {
		return nil, errors.New("guard: store, phone parser and logger are required")
	}
	dest, err := newDestinations(opts.Destinations)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		store:          opts.Store,
		phones:         opts.Phones,
		logger:         opts.Logger,
		limits:         opts.Limits,
		destinations:   dest,
		isTestNumber:   opts.IsTestNumber,
		idemTTL:        opts.IdempotencyTTL,
		idemLease:      opts.IdempotencyLease,
		failOpen:       opts.FailOpen,
		onStoreFailure: opts.OnStoreFailure,
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if g.isTestNumber == nil {
		g.isTestNumber = func(string) bool { return false }
	}
	if g.onStoreFailure == nil {
		g.onStoreFailure = func(string) {}
	}
	if g.idemTTL == 0 {
		g.idemTTL = DefaultIdempotencyTTL
	}
	if g.idemLease == 0 {
		g.idemLease = defaultIdempotencyLease
	}
	g.outage = &outage{logger: opts.Logger, now: now, failOpen: opts.FailOpen}
	return g, nil
}

// AllowClient applies the per-IP limit to any call from ip, the client address the server trusts.
func (g *Guard) AllowClient(ctx context.Context, op verify.Op, ip string) error {
	if g.limits.IP.Off() {
		return nil
	}
	return g.take(ctx, op, []Rule{{Name: "per client IP", Label: "ip", Key: "ip:" + hashed(ClientKey(ip)), Limit: g.limits.IP}})
}

// AllowCheck applies the per-request_id limit on code checks, so that guesses spread over many
// addresses still add up, and over the letter cases of one id too (ids are hex or UUIDs, which
// a backend may match without regard to case).
func (g *Guard) AllowCheck(ctx context.Context, requestID string) error {
	if g.limits.Check.Off() {
		return nil
	}
	return g.take(ctx, verify.OpCheck, []Rule{{Name: "per request_id", Label: "check", Key: "check:" + strings.ToLower(requestID), Limit: g.limits.Check}})
}

// Admit decides whether a verification of raw (the number as the app sent it) may start, and
// returns the E.164 digits to send. It refuses an invalid number (phone.ErrInvalid), a destination
// the policy refuses, and a start over the per-number, per-country or global limit. Test numbers
// are admitted as configured, valid or not, without those limits.
func (g *Guard) Admit(ctx context.Context, raw string) (string, error) {
	num, err := g.phones.Parse(raw)
	if err != nil {
		// Test numbers are usually fictional, which Parse refuses: match them however they are
		// typed (national format, "+44 (0)..."). Only here, so a valid number costs one parse.
		for _, reading := range g.phones.Readings(raw) {
			if g.isTestNumber(reading) {
				return reading, nil
			}
		}
		return "", err
	}
	// A valid reading is that number and no other: a real number typed nationally whose digits
	// happen to equal a test number's must reach Vonage, not the reviewer's fixed code.
	if g.isTestNumber(num.E164) {
		return num.E164, nil
	}
	if err := g.destinations.allow(num); err != nil {
		return "", err
	}
	var rules []Rule
	if !g.limits.Number.Off() {
		rules = append(rules, Rule{Name: "per phone number", Label: "number", Key: "number:" + hashed(num.E164), Limit: g.limits.Number})
	}
	if !g.limits.Country.Off() {
		country := num.Region
		if country == "" {
			country = fmt.Sprintf("+%d", num.CountryCode) // non-geographic numbers such as +882
		}
		rules = append(rules, Rule{Name: "per country", Label: "country", Key: "country:" + country, Limit: g.limits.Country})
	}
	if !g.limits.Global.Off() {
		rules = append(rules, Rule{Name: "global", Label: "global", Key: "global", Limit: g.limits.Global})
	}
	if len(rules) > 0 {
		if err := g.take(ctx, verify.OpStart, rules); err != nil {
			return "", err
		}
	}
	return num.E164, nil
}

// take spends one call under rules, all or none.
func (g *Guard) take(ctx context.Context, op verify.Op, rules []Rule) error {
	d, err := g.store.Take(ctx, rules)
	if err != nil {
		return g.storeFailed(ctx, op, err)
	}
	g.outage.ok(ctx)
	if d.Allowed {
		return nil
	}
	rule := rules[d.Rule]
	wait := max(d.RetryAfter, time.Second)
	return &Error{
		Kind: KindRateLimited,
		Rule: rule.Label,
		Text: fmt.Sprintf("rate limit %s (%s) reached; try again in %d seconds",
			rule.Name, rule.Limit, wholeSeconds(wait)),
		RetryAfter: wait,
	}
}

// storeFailed decides what an unreachable store means for op: a start is refused unless the
// operator chose to fail open; a check or cancel costs nothing and goes on.
func (g *Guard) storeFailed(ctx context.Context, op verify.Op, err error) error {
	if ctx.Err() != nil {
		// The client hung up (or its deadline passed) and the store call gave up with it: nothing is
		// wrong with the store, and the answer nobody reads is the server's 499.
		return ctx.Err()
	}
	// Only a start spends money, so only a start fails closed.
	if op == verify.OpStart && !g.failOpen {
		g.failure(ctx, err, StoreFailureRefused)
		return unavailable(err)
	}
	g.failure(ctx, err, StoreFailureLetThrough)
	return nil
}

// failure records one failed store call, and what was done about it, in the log and the metrics.
func (g *Guard) failure(ctx context.Context, err error, outcome string) {
	g.outage.failed(ctx, err)
	g.onStoreFailure(outcome)
}

// What the guard did about a failed store call, as OnStoreFailure is told.
const (
	StoreFailureRefused    = "refused"
	StoreFailureLetThrough = "let_through"
)

func unavailable(err error) *Error {
	return &Error{Kind: KindUnavailable, Text: "verification is unavailable right now; try again later", Err: err}
}

// wholeSeconds rounds up, as Retry-After does, so a client told to wait never comes back too early.
func wholeSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// ClientKey is the key a client's limit is counted under: the IPv4 address, or the /64 of an IPv6
// address (one subscriber gets a whole /64, so single IPv6 addresses cost an attacker nothing).
func ClientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// hashed keeps personal data (numbers, addresses) out of the store's key names.
func hashed(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
