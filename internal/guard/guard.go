// Package guard owns the decisions that protect the paid Verify API: who the client is (its IP,
// IPv6 by /64), the independent rate limits (per client IP, per number, per request_id's code
// checks, per country, global), where numbers may go (countries and line types), idempotent starts,
// and what happens when the shared state is unreachable (fail closed for starts, open for checks and
// cancels). It decides on numbers already read (phone.Number); the counting lives in a state.Store.
// It knows nothing of HTTP: its refusals are *Error values the server maps.
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
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// Limits are the five independent limits. Each has its own key, so rotating one (the IP, say)
// never frees another (the number).
type Limits struct {
	IP      state.Limit // all three calls, per client IP (IPv6: per /64)
	Number  state.Limit // starts, per normalised number
	Check   state.Limit // checks, per request_id, whatever the IP
	Country state.Limit // starts, per destination country
	Global  state.Limit // all starts together
}

// defaultIdempotencyLease is how long a first request may stay in flight when the caller does not
// say: a minute, well above any upstream call.
const defaultIdempotencyLease = time.Minute

// Options configure a Guard. Store, Logger and IdempotencyTTL are required.
type Options struct {
	Store        state.Store
	Logger       *slog.Logger
	Now          func() time.Time // nil means time.Now
	Limits       Limits
	Destinations Destinations
	// IdempotencyTTL is how long a finished response is replayed (IDEMPOTENCY_TTL); required.
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
	store          state.Store
	logger         *slog.Logger
	limits         Limits
	destinations   destinations
	idemTTL        time.Duration
	idemLease      time.Duration
	failOpen       bool
	onStoreFailure func(outcome string)
	outage         *outage
}

// New builds a Guard from explicit options.
func New(opts Options) (*Guard, error) {
	if opts.Store == nil || opts.Logger == nil || opts.IdempotencyTTL <= 0 {
		return nil, errors.New("guard: store, logger and idempotency ttl are required")
	}
	dest, err := newDestinations(opts.Destinations)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		store:          opts.Store,
		logger:         opts.Logger,
		limits:         opts.Limits,
		destinations:   dest,
		idemTTL:        opts.IdempotencyTTL,
		idemLease:      opts.IdempotencyLease,
		failOpen:       opts.FailOpen,
		onStoreFailure: opts.OnStoreFailure,
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if g.onStoreFailure == nil {
		g.onStoreFailure = func(string) {}
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
	return g.take(ctx, op, []state.Rule{{Name: "per client IP", Label: "ip", Key: "ip:" + hashed(ClientKey(ip)), Limit: g.limits.IP}})
}

// AllowCheck applies the per-request_id limit on code checks, so that guesses spread over many
// addresses still add up, and over the letter cases of one id too (ids are hex or UUIDs, which
// a backend may match without regard to case).
func (g *Guard) AllowCheck(ctx context.Context, requestID string) error {
	if g.limits.Check.Off() {
		return nil
	}
	return g.take(ctx, verify.OpCheck, []state.Rule{{Name: "per request_id", Label: "check", Key: "check:" + strings.ToLower(requestID), Limit: g.limits.Check}})
}

// Admit decides whether a verification of num may start: it refuses a destination the policy
// refuses, and a start over the per-number, per-country or global limit. Test numbers never come
// here: they are not sent anywhere, so nothing needs guarding but the per-IP limit.
func (g *Guard) Admit(ctx context.Context, num phone.Number) error {
	if err := g.destinations.allow(num); err != nil {
		return err
	}
	var rules []state.Rule
	if !g.limits.Number.Off() {
		rules = append(rules, state.Rule{Name: "per phone number", Label: "number", Key: "number:" + hashed(num.E164), Limit: g.limits.Number})
	}
	if !g.limits.Country.Off() {
		country := num.Region
		if country == "" {
			country = fmt.Sprintf("+%d", num.CountryCode) // non-geographic numbers such as +882
		}
		rules = append(rules, state.Rule{Name: "per country", Label: "country", Key: "country:" + country, Limit: g.limits.Country})
	}
	if !g.limits.Global.Off() {
		rules = append(rules, state.Rule{Name: "global", Label: "global", Key: "global", Limit: g.limits.Global})
	}
	if len(rules) == 0 {
		return nil
	}
	return g.take(ctx, verify.OpStart, rules)
}

// take spends one call under rules, all or none.
func (g *Guard) take(ctx context.Context, op verify.Op, rules []state.Rule) error {
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
