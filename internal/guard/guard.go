// Package guard owns the decisions that protect the paid Verify API and its verifications: who the
// client is (its IP, IPv6 by /64), the independent rate limits (per client IP, per number, per
// request_id's code checks, per country, global, and wrong codes per number), where numbers may go
// (countries and line types), idempotent starts, what each started verification was for and who may
// learn its request_id, and what happens when the shared state is unreachable (fail closed for
// starts; checks and cancels go on, their limits counted in this replica's memory). It decides on numbers already read (phone.Number); the counting lives in a state.Store.
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
	"slices"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// Limits are the independent limits. Each has its own key, so rotating one (the IP, say)
// never frees another (the number).
type Limits struct {
	IP      state.Limit // all three calls, per client IP (IPv6: per /64)
	Number  state.Limit // starts, per normalised number
	Check   state.Limit // checks, per request_id, whatever the IP
	Country state.Limit // starts, per destination country
	Global  state.Limit // all starts together
	// Prefix is starts per block of 10,000 numbers (the number without its last 4 digits): pumping
	// walks a range its operator pays for. Numbers verified here recently are not counted.
	Prefix state.Limit
	// WrongCodes are wrong codes per number, over all its verifications, so that a brute force of a
	// number's codes is bounded, not only of one verification's.
	WrongCodes state.Limit
}

// Fallback is where the limits are counted, and started verifications remembered, while the store
// fails: this replica's memory.
type Fallback interface {
	state.Limiter
	state.Verifications
}

// defaultIdempotencyLease is how long a first request may stay in flight when the caller does not
// say: a minute, well above any upstream call.
const defaultIdempotencyLease = time.Minute

// Options configure a Guard. Store, Logger, IdempotencyTTL and VerificationTTL are required.
type Options struct {
	Store state.Store
	// Fallback, when set, counts the limits of every call the guard lets through while Store fails,
	// instead of letting it through unlimited; nil for a Store in memory already.
	Fallback     Fallback
	Logger       *slog.Logger
	Now          func() time.Time // nil means time.Now
	Limits       Limits
	Destinations Destinations
	// IdempotencyTTL is how long a finished response is replayed (IDEMPOTENCY_TTL); required.
	IdempotencyTTL time.Duration
	// IdempotencyLease is how long a first request may stay in flight before a retry may start
	// afresh (the process handling it may have died); 0 means 1m. Set it above the upstream timeout.
	IdempotencyLease time.Duration
	// FailOpen lets starts go on without idempotency (and with the Fallback's limits only) while the
	// store is unreachable.
	FailOpen bool
	// OnStoreFailure, when set, is told of every store call that failed and of what was done about
	// it: "refused" (a start, failing closed), "memory" (let through, counted by the Fallback),
	// "let_through" (let through uncounted), so that metrics can say how much went on without limits,
	// or "full" (an in-memory store full of what guards spend, whatever was done).
	OnStoreFailure func(outcome string)
	// VerificationTTL is how long a started verification is remembered: as long as its code can be
	// checked (config.Config.CodeLifetime); required.
	VerificationTTL time.Duration
	// Disclosure says who may learn a running verification's request_id; empty means DiscloseNever.
	Disclosure Disclosure
	// Fraud configures the fraud guard; its zero value is off.
	Fraud FraudOptions
}

// Guard decides whether a call may go ahead. It is safe for concurrent use.
type Guard struct {
	now             func() time.Time
	fraud           *fraud
	store           state.Store
	fallback        Fallback
	verificationTTL time.Duration
	disclosure      Disclosure
	logger          *slog.Logger
	limits          Limits
	destinations    destinations
	idemTTL         time.Duration
	idemLease       time.Duration
	failOpen        bool
	onStoreFailure  func(outcome string)
	outage          *outage
}

// New builds a Guard from explicit options.
func New(opts Options) (*Guard, error) {
	if opts.Store == nil || opts.Logger == nil || opts.IdempotencyTTL <= 0 || opts.VerificationTTL <= 0 {
		return nil, errors.New("guard: store, logger, idempotency ttl and verification ttl are required")
	}
	disclosure := opts.Disclosure
	if disclosure == "" {
		disclosure = DiscloseNever
	}
	if !slices.Contains(Disclosures, disclosure) {
		return nil, fmt.Errorf("guard: unknown disclosure %q", disclosure)
	}
	dest, err := newDestinations(opts.Destinations)
	if err != nil {
		return nil, err
	}
	fr, err := newFraud(opts.Fraud)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		fraud:           fr,
		fallback:        opts.Fallback,
		verificationTTL: opts.VerificationTTL,
		disclosure:      disclosure,
		store:           opts.Store,
		logger:          opts.Logger,
		limits:          opts.Limits,
		destinations:    dest,
		idemTTL:         opts.IdempotencyTTL,
		idemLease:       opts.IdempotencyLease,
		failOpen:        opts.FailOpen,
		onStoreFailure:  opts.OnStoreFailure,
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	g.now = now
	if g.onStoreFailure == nil {
		g.onStoreFailure = func(string) {}
	}
	if g.idemLease == 0 {
		g.idemLease = defaultIdempotencyLease
	}
	g.outage = &outage{logger: opts.Logger, now: now, failOpen: opts.FailOpen, fallback: opts.Fallback != nil}
	return g, nil
}

// AllowClient applies the per-IP limit to any call from ip, the client address the server trusts,
// on its own: a call whose first batch carries it uses Begin instead.
func (g *Guard) AllowClient(ctx context.Context, op verify.Op, ip string) error {
	return g.Begin(op, ip).Finish(ctx)
}

// checkRule is the per-request_id limit on code checks, so that guesses spread over many addresses
// still add up, and over the letter cases of one id too (ids are hex or UUIDs, which a backend may
// match without regard to case). Evictable, as a client's: a request_id's window guards no spend,
// and the wrong codes per number (never dropped early) still bound a brute force of its codes.
func (g *Guard) checkRule(requestID string) state.Rule {
	return state.Rule{Name: "per request_id", Label: "check", Key: "check:" + strings.ToLower(requestID),
		Limit: g.limits.Check, Evictable: true}
}

// Admit decides whether a verification of num may start, on its own (Call.Start decides it with
// the call's other business): see admission.
func (g *Guard) Admit(ctx context.Context, num phone.Number) (*Hold, error) {
	if err := g.destinations.allow(num); err != nil {
		return nil, err
	}
	a := g.prepareAdmission(num)
	g.batch(ctx, a.calls()...)
	var later settleLater
	hold, err := a.decide(ctx, &later)
	g.sendStart(ctx, &later)
	return hold, err
}

// Hold is a call counted against limits before the backend answered it.
type Hold struct {
	g      *Guard
	takens []taken
}

// Release gives the call back to every limit that counted it: the backend never accepted it.
func (h *Hold) Release(ctx context.Context) {
	if h == nil || h.g == nil {
		return
	}
	// The client may have hung up; the hold must still be given back.
	ctx = context.WithoutCancel(ctx)
	for _, t := range h.takens {
		if t.limiter == nil {
			continue
		}
		if err := t.limiter.Refund(ctx, t.rules, t.token); err != nil {
			// The call stays counted until its window passes.
			h.g.failure(ctx, fmt.Errorf("give back a held call: %w", err), StoreFailureLetThrough)
		}
	}
}

// Unaccepted reports whether err means the backend never accepted the call, so that it cost
// nothing and must not use up a budget: it could not be reached, failed, timed out or throttled us,
// or refused the input before any call (a Verify v1 code longer than v1's codes).
func Unaccepted(err error) bool {
	ve, ok := verify.AsError(err)
	if !ok {
		return false
	}
	switch ve.Kind {
	case verify.KindUpstreamUnavailable, verify.KindUpstreamTimeout, verify.KindUpstreamError, verify.KindThrottled,
		verify.KindInvalidRequest:
		return true
	}
	return false
}

// taken is one call take admitted: the limiter that counted it (nil when none did) and its token.
type taken struct {
	limiter state.Limiter
	rules   []state.Rule
	token   string
}

// take spends one call under rules, all or none, on its own. While the store fails, a call that
// is let through is counted in the fallback instead.
func (g *Guard) take(ctx context.Context, op verify.Op, rules []state.Rule) (taken, error) {
	tc := &state.TakeCall{Rules: rules}
	tc.Decision, tc.Err = g.store.Take(ctx, tc.Rules)
	return g.decided(ctx, op, tc)
}

// decided reads the store's answer to tc: the call taken, or the refusal of the rule that is full.
// While the store fails, a call that is let through is counted in the fallback instead.
func (g *Guard) decided(ctx context.Context, op verify.Op, tc *state.TakeCall) (taken, error) {
	if tc.Err != nil {
		if refusal := g.storeFailed(ctx, op, tc.Err, true); refusal != nil {
			return taken{}, refusal
		}
		return g.takeFallback(ctx, op, tc.Rules)
	}
	g.outage.ok(ctx)
	return g.admitted(g.store, tc.Rules, tc.Decision)
}

// takeFallback counts a call the failing store could not, in the fallback when there is one.
func (g *Guard) takeFallback(ctx context.Context, op verify.Op, rules []state.Rule) (taken, error) {
	if g.fallback == nil {
		return taken{}, nil
	}
	d, err := g.fallback.Take(ctx, rules)
	if err != nil {
		// Memory fails only when full of what it may not drop: a start is then refused, since
		// nothing would count it; any other call goes on.
		if op == verify.OpStart && errors.Is(err, state.ErrFull) {
			g.failure(ctx, err, StoreFailureRefused)
			return taken{}, unavailable(err)
		}
		return taken{}, nil
	}
	return g.admitted(g.fallback, rules, d)
}

// admitted is the call limiter decided on: taken, or refused by its full rule.
func (g *Guard) admitted(limiter state.Limiter, rules []state.Rule, d state.Decision) (taken, error) {
	if d.Allowed {
		return taken{limiter: limiter, rules: rules, token: d.Token}, nil
	}
	rule := rules[d.Rule]
	wait := max(d.RetryAfter, time.Second)
	return taken{}, &Error{
		Kind: KindRateLimited,
		Rule: rule.Label,
		Text: fmt.Sprintf("rate limit %s (%s) reached; try again in %d seconds",
			rule.Name, rule.Limit, wholeSeconds(wait)),
		RetryAfter: wait,
	}
}

// storeFailed decides what an unreachable store means for op: a start is refused unless the
// operator chose to fail open; a check or cancel costs nothing and goes on. counted says whether a
// call that goes on is counted by the fallback, when there is one.
func (g *Guard) storeFailed(ctx context.Context, op verify.Op, err error, counted bool) error {
	if ctx.Err() != nil {
		// The client hung up (or its deadline passed) and the store call gave up with it: nothing is
		// wrong with the store, and the answer nobody reads is the server's 499.
		return ctx.Err()
	}
	// Only a start spends money, so only a start fails closed. A store in memory that is full fails
	// closed whatever REDIS_FAIL_OPEN says: it is full of what guards spend, and nothing else would
	// count this start.
	if op == verify.OpStart && (!g.failOpen || errors.Is(err, state.ErrFull)) {
		g.failure(ctx, err, StoreFailureRefused)
		return unavailable(err)
	}
	outcome := StoreFailureLetThrough
	if counted {
		outcome = g.fallbackOutcome()
	}
	g.failure(ctx, err, outcome)
	return nil
}

// fallbackOutcome is what a call that goes on while the store fails is: counted in memory, or not.
func (g *Guard) fallbackOutcome() string {
	if g.fallback != nil {
		return StoreFailureMemory
	}
	return StoreFailureLetThrough
}

// failure records one failed store call, and what was done about it, in the log and the metrics. A
// store in memory that is full is counted apart (StoreFailureFull): it is no Redis outage, and an
// alert that pages for one must not page for it.
func (g *Guard) failure(ctx context.Context, err error, outcome string) {
	if errors.Is(err, state.ErrFull) {
		outcome = StoreFailureFull
	}
	g.outage.failed(ctx, err)
	g.onStoreFailure(outcome)
}

// What the guard did about a failed store call, as OnStoreFailure is told.
const (
	StoreFailureRefused    = "refused"
	StoreFailureMemory     = "memory"
	StoreFailureLetThrough = "let_through"
	StoreFailureFull       = "full" // the in-memory state was full of what guards spend: a start refused, or a count not kept
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
