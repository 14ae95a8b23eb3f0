package guard

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// FraudMode says what the fraud guard does with its decisions.
type FraudMode string

// The modes FRAUD_GUARD names.
const (
	FraudEnforce FraudMode = "enforce" // refuse starts to blocked destinations
	FraudShadow  FraudMode = "shadow"  // decide and record, refuse nothing
	FraudOff     FraudMode = "off"     // neither learn nor decide
)

// FraudModes are the accepted modes, the default first.
var FraudModes = []FraudMode{FraudEnforce, FraudShadow, FraudOff}

// FraudOptions configure the fraud guard, which learns from conversion: SMS pumping asks for codes
// that nobody ever enters, so a destination whose starts stop being verified is paused.
type FraudOptions struct {
	Mode FraudMode // empty means FraudOff
	// Window is how far back conversion is measured.
	Window time.Duration
	// SettleAfter is how old a start without an outcome must be to count as unverified: until then
	// its code may still be entered, and a pending start is never a failure.
	SettleAfter time.Duration
	// A prefix (country) with at least this many settled starts in the window, converting below
	// MinConversion, is blocked.
	MinStartsPrefix  int
	MinStartsCountry int
	MinConversion    float64
	// BlockFor is how long a first block lasts; each repeat within a day doubles it, up to a day.
	BlockFor time.Duration
	// TrustVerifiedFor is how long a number verified here is never refused by the fraud guard.
	TrustVerifiedFor time.Duration
	// Observer, when set, is told of starts, verified starts, blocks and shadow refusals.
	Observer FraudObserver
}

// FraudObserver is told what the fraud guard sees and does, for metrics. Countries are ISO regions
// (or "+" and a country code); never a prefix or a number.
type FraudObserver interface {
	FraudStarted(country string)
	FraudVerified(country string)
	FraudBlocked(scope string)
	FraudShadowRefused(rule string)
}

type noObserver struct{}

func (noObserver) FraudStarted(string)       {}
func (noObserver) FraudVerified(string)      {}
func (noObserver) FraudBlocked(string)       {}
func (noObserver) FraudShadowRefused(string) {}

const (
	// blockMemory is how long a block counts as a repeat for the next block of its key, and how
	// long a blocked key stays under suspicion: its bar drops to a quarter.
	blockMemory = 24 * time.Hour
	// maxBlock is the longest block, however often it repeats.
	maxBlock = 24 * time.Hour
	// recentConversion is how long a verified start vouches for its prefix while its country is
	// under suspicion.
	recentConversion = 24 * time.Hour
	// probation is how often a prefix without a recent conversion may start one verification while
	// its country is under suspicion: new users there still get a code, while a pumped prefix,
	// which never converts, gets one a day.
	probation = 24 * time.Hour
	// sweepBlocksEvery is how often a replica looks for blocks whose time is up, to log their end.
	sweepBlocksEvery = time.Second
)

// The scopes of a block, and the rules of the fraud guard's refusals (the metrics' labels).
const (
	ScopePrefix       = "prefix"
	ScopeCountry      = "country"
	RuleFraudPrefix   = "fraud_prefix"
	RuleFraudCountry  = "fraud_country"
	fraudRefusalText  = "verifications to this destination are paused; try again later"
	fraudKeyPrefix    = ScopePrefix + ":"
	fraudKeyCountry   = ScopeCountry + ":"
	probationRuleName = "probation of a prefix in a country under suspicion"
)

// fraud is the fraud guard's part of the Guard.
type fraud struct {
	FraudOptions
	lastSweep atomic.Int64 // Unix nanoseconds of the last look for ended blocks
}

func newFraud(opts FraudOptions) (*fraud, error) {
	if opts.Mode == "" {
		opts.Mode = FraudOff
	}
	switch opts.Mode {
	case FraudOff:
	case FraudEnforce, FraudShadow:
		if opts.Window <= 0 || opts.SettleAfter <= 0 || opts.BlockFor <= 0 || opts.TrustVerifiedFor <= 0 ||
			opts.MinStartsPrefix < 1 || opts.MinStartsCountry < 1 || opts.MinConversion < 0 || opts.MinConversion > 1 {
			return nil, fmt.Errorf("guard: fraud options out of range: %+v", opts)
		}
	default:
		return nil, fmt.Errorf("guard: unknown fraud mode %q", opts.Mode)
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	return &fraud{FraudOptions: opts}, nil
}

func (f *fraud) on() bool { return f.Mode != FraudOff }

// PrefixOf is the block of 10,000 numbers num belongs to: its E.164 digits without the last 4.
func PrefixOf(e164 string) string {
	if len(e164) <= 4 {
		return e164
	}
	return e164[:len(e164)-4]
}

// CountryOf is num's region, or "+" and its country code for numbers of no region (+882).
func CountryOf(num phone.Number) string {
	if num.Region != "" {
		return num.Region
	}
	return "+" + strconv.Itoa(num.CountryCode)
}

func trustKey(e164 string) string { return "trusted:" + hashed(e164) }

// fraudKeys are the keys the fraud guard counts a start to num under: its prefix and its country.
func fraudKeys(e164, country string) []string {
	return []string{fraudKeyPrefix + PrefixOf(e164), fraudKeyCountry + country}
}

// probationRule is the start a day a prefix of a country under suspicion is allowed (see judge).
func probationRule(e164 string) state.Rule {
	return state.Rule{Name: probationRuleName, Label: RuleFraudCountry, Key: "probation:" + PrefixOf(e164),
		Limit: state.Limit{Count: 1, Window: probation}}
}

// trusts says whether verified numbers are remembered: for the fraud guard, or for the per-prefix
// limit, which does not count them either.
func (g *Guard) trusts() bool { return g.fraud.on() || !g.limits.Prefix.Off() }

// judge decides a start to num by what the fraud guard has learnt (recs: its prefix's and its
// country's records): a blocked prefix is refused; a prefix or country converting too little is
// blocked. In a country under suspicion (blocked, or blocked within the last day) only prefixes that
// converted recently pass freely, and the others one start a day: that probation is a limit the
// store applies with the others (state.Probation), so that it is spent only by a start that
// happens. judge answers whether this very start blocked the country, which the store could not
// know: its probation is then taken on its own.
func (g *Guard) judge(ctx context.Context, num phone.Number, recs []state.FraudRecord) (onProbation bool, err error) {
	f := g.fraud
	keys := fraudKeys(num.E164, CountryOf(num))
	now := g.now()
	p, c := recs[0], recs[1]

	if p.Block != nil {
		return false, g.fraudRefusal(ctx, RuleFraudPrefix)
	}
	if settled, verified := f.conversion(p, now); f.tooLow(settled, verified, f.MinStartsPrefix, p.Repeats) {
		g.block(ctx, state.Block{Key: keys[0], Scope: ScopePrefix, Value: "+" + PrefixOf(num.E164), Since: now,
			Settled: settled, Verified: verified, Conversion: ratio(verified, settled)})
		return false, g.fraudRefusal(ctx, RuleFraudPrefix)
	}
	// A country stays under suspicion for a day after a block began: pumping resumes the moment a
	// block ends, and measuring it again would pay for another hundred codes each time.
	if settled, verified := f.conversion(c, now); c.Block == nil && f.tooLow(settled, verified, f.MinStartsCountry, c.Repeats) {
		g.block(ctx, state.Block{Key: keys[1], Scope: ScopeCountry, Value: CountryOf(num), Since: now,
			Settled: settled, Verified: verified, Conversion: ratio(verified, settled)})
		// Blocked within the day already, the country was under suspicion when the batch asked.
		firstSuspicion := c.Repeats == 0
		return firstSuspicion && (p.LastConverted.IsZero() || now.Sub(p.LastConverted) >= recentConversion), nil
	}
	return false, nil
}

// conversion counts rec's settled starts within the window, and how many of them were verified. A
// start settles when it is verified, ends unverified, or is older than SettleAfter.
func (f *fraud) conversion(rec state.FraudRecord, now time.Time) (settled, verified int) {
	// Minute buckets: a bucket counts when all of it is within the window, and its starts are aged
	// when all of them are older than SettleAfter. Both err towards counting less.
	first := (now.Add(-f.Window).Unix() + 59) / 60
	aged := now.Add(-f.SettleAfter).Unix()/60 - 1
	for _, b := range rec.Buckets {
		if b.Minute < first {
			continue
		}
		verified += b.Verified
		if b.Minute <= aged {
			settled += max(b.Started, b.Verified+b.Unverified)
		} else {
			settled += b.Verified + b.Unverified
		}
	}
	return settled, verified
}

// tooLow says whether settled starts, verified of them, are reason to block. A key blocked within
// the last day stays under suspicion: its bar drops to a quarter, so a pumping that resumes when the
// block ends is stopped sooner.
func (f *fraud) tooLow(settled, verified, minStarts, repeats int) bool {
	if repeats > 0 {
		minStarts = max(1, minStarts/4)
	}
	return settled >= minStarts && ratio(verified, settled) < f.MinConversion
}

func ratio(verified, settled int) float64 {
	if settled == 0 {
		return 0
	}
	return float64(verified) / float64(settled)
}

// block starts a block, once across replicas, and says so once.
func (g *Guard) block(ctx context.Context, b state.Block) {
	got, created, err := g.store.Block(ctx, b, g.fraud.BlockFor, maxBlock, blockMemory)
	if err != nil {
		g.failure(ctx, err, StoreFailureLetThrough)
		return
	}
	if !created {
		return
	}
	g.fraud.Observer.FraudBlocked(got.Scope)
	g.logger.WarnContext(ctx, "fraud guard: verifications paused", "scope", got.Scope, "key", got.Value,
		"until", got.Until, "settled", got.Settled, "verified", got.Verified, "repeat", got.Repeat,
		"mode", string(g.fraud.Mode))
}

// fraudRefusal refuses a start, or in shadow mode records that it would have.
func (g *Guard) fraudRefusal(ctx context.Context, rule string) error {
	if g.fraud.Mode == FraudShadow {
		g.fraud.Observer.FraudShadowRefused(rule)
		g.logger.InfoContext(ctx, "fraud guard (shadow): this start would have been refused", "rule", rule)
		return nil
	}
	return &Error{Kind: KindVerificationBlocked, Rule: rule, Text: fraudRefusalText}
}

// sweepCall is a look for blocks whose time is up, for a start's settling batch, at most once a
// second per replica (nil otherwise): one look a second is enough to log an end on time.
func (g *Guard) sweepCall(now time.Time) *state.EndBlocksCall {
	if !g.fraud.on() {
		return nil
	}
	last := g.fraud.lastSweep.Load()
	if now.UnixNano()-last < int64(sweepBlocksEvery) || !g.fraud.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return nil
	}
	return &state.EndBlocksCall{Now: now}
}

// endBlocks ends the blocks whose time is up; the store answers each ended block to one replica
// only, so each end is logged once.
func (g *Guard) endBlocks(ctx context.Context, now time.Time) {
	ended, err := g.store.EndBlocks(ctx, now)
	if err != nil {
		return // the next sweep ends them
	}
	g.logEnded(ctx, ended)
}

func (g *Guard) logEnded(ctx context.Context, ended []state.Block) {
	for _, b := range ended {
		g.logger.InfoContext(ctx, "fraud guard: verifications resumed", "scope", b.Scope, "key", b.Value,
			"since", b.Since, "until", b.Until)
	}
}

// noteCall records one event of a start to v's destination, for a settling batch; nil when there
// is nothing to record. It is best effort: a lost event only makes the guard learn a little less.
func (g *Guard) noteCall(v state.Verification, kind state.FraudKind) *state.NoteFraudCall {
	if !g.fraud.on() || v.Test || v.Started == 0 || v.Number == "" {
		return nil
	}
	return &state.NoteFraudCall{Keys: fraudKeys(v.Number, v.Country), Note: state.FraudNote{Kind: kind,
		StartedAt: time.UnixMilli(v.Started), At: g.now(), Retain: g.fraud.Window + 2*time.Minute, RetainConverted: recentConversion}}
}

// Verified records that v's code was right: its destination converts, and its number is trusted.
func (g *Guard) Verified(ctx context.Context, v state.Verification) {
	var later settleLater
	g.verified(&later, v)
	g.send(ctx, &later)
}

func (g *Guard) verified(later *settleLater, v state.Verification) {
	if !g.trusts() || v.Test || v.Number == "" {
		return
	}
	if g.fraud.on() {
		if n := g.noteCall(v, state.FraudVerified); n != nil {
			later.add(n)
		}
		g.fraud.Observer.FraudVerified(v.Country)
	}
	// Evictable: a trusted number only eases its user's way, and a month of them must not hold a
	// store bounded in size full for good; losing one errs towards judging the number as any other.
	later.add(&state.RememberCall{ID: trustKey(v.Number), Verification: state.Verification{Evictable: true}, TTL: g.fraud.TrustVerifiedFor})
}

// Unverified records that v ended before its code was entered: too many wrong codes, or cancelled.
func (g *Guard) Unverified(ctx context.Context, v state.Verification) {
	if n := g.noteCall(v, state.FraudUnverified); n != nil {
		g.send(ctx, &settleLater{calls: []state.Call{n}})
	}
}

// FraudBlocks lists the blocks in force, after ending those whose time is up.
func (g *Guard) FraudBlocks(ctx context.Context) ([]state.Block, error) {
	now := g.now()
	g.endBlocks(ctx, now)
	all, err := g.store.Blocks(ctx)
	if err != nil {
		return nil, err
	}
	running := all[:0]
	for _, b := range all {
		if now.Before(b.Until) {
			running = append(running, b)
		}
	}
	return running, nil
}

// LiftFraudBlock ends the block of scope and key (a prefix, with or without its '+', or a country)
// at once, and forgets its repeats; false when there was none.
func (g *Guard) LiftFraudBlock(ctx context.Context, scope, key string) (bool, error) {
	var storeKey string
	switch scope {
	case ScopePrefix:
		storeKey = fraudKeyPrefix + strings.TrimPrefix(key, "+")
	case ScopeCountry:
		storeKey = fraudKeyCountry + strings.ToUpper(key)
	default:
		return false, fmt.Errorf("unknown scope %q: use %s or %s", scope, ScopePrefix, ScopeCountry)
	}
	b, found, err := g.store.Lift(ctx, storeKey)
	if err != nil || !found {
		return false, err
	}
	g.logger.WarnContext(ctx, "fraud guard: verifications resumed by an operator", "scope", b.Scope, "key", b.Value,
		"since", b.Since, "until", b.Until)
	return true, nil
}
