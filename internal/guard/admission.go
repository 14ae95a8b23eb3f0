package guard

import (
	"context"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// admission decides whether a verification of a number may start: it refuses a destination the
// fraud guard has paused, and a start over the per-number, per-prefix, per-country or global limit.
// A number verified here recently is spared the fraud guard and the per-prefix limit. Test numbers
// never come here: they are not sent anywhere, so nothing needs guarding but the per-IP limit.
//
// Its reads and its takes go in one batch, each limit in a take of its own, made in order and not
// at all once one before it refused (state.Batcher). The store itself exempts a trusted number
// from the per-prefix limit and the fraud guard, stops a start to a paused prefix before any take,
// and takes the probation only from a start the fraud guard holds on probation. So a flood of starts
// the fraud guard refuses spends nothing, and one refused by a limit spends at most the limits
// before it, given back at once; what the fraud guard decides from the counts it read (a prefix or
// a country to pause) is decided once the batch has answered.
type admission struct {
	g     *Guard
	num   phone.Number
	trust *state.RecallCall    // nil when verified numbers are not remembered
	fraud *state.ReadFraudCall // nil when the fraud guard is off
	// paused stops the takes of a start to a paused prefix (enforcing only: in shadow mode it
	// would stop them for a refusal that is not made).
	paused *state.PausedCall
	// The takes, in their order: when enforcing, the probation first, so that a start it refuses
	// spends nothing; then per number, per prefix, per country and global; in shadow mode the
	// probation last, since its refusal is not one and must not stop the limits.
	takes                           []*state.TakeCall
	number, prefix, rest, probation *state.TakeCall
}

func (g *Guard) prepareAdmission(num phone.Number) *admission {
	a := &admission{g: g, num: num}
	trust := ""
	if g.trusts() {
		trust = trustKey(num.E164)
		a.trust = &state.RecallCall{ID: trust}
	}
	prefix, country := PrefixOf(num.E164), CountryOf(num)
	if g.fraud.on() {
		a.fraud = &state.ReadFraudCall{Keys: fraudKeys(num.E164, country)}
		a.probation = &state.TakeCall{Rules: []state.Rule{probationRule(num.E164)}, Unless: trust,
			Probation: &state.Probation{Country: fraudKeyCountry + country, Prefix: fraudKeyPrefix + prefix,
				ConvertedSince: g.now().Add(-recentConversion)}}
		if g.fraud.Mode == FraudEnforce {
			a.paused = &state.PausedCall{Key: fraudKeyPrefix + prefix, Unless: trust}
		}
	}
	if !g.limits.Number.Off() {
		a.number = &state.TakeCall{Rules: []state.Rule{{Name: "per phone number", Label: "number", Key: "number:" + hashed(num.E164), Limit: g.limits.Number}}}
	}
	if !g.limits.Prefix.Off() {
		a.prefix = &state.TakeCall{Rules: []state.Rule{{Name: "per number prefix", Label: "prefix", Key: "prefix:" + hashed(prefix), Limit: g.limits.Prefix}},
			Unless: trust}
	}
	var rest []state.Rule
	if !g.limits.Country.Off() {
		rest = append(rest, state.Rule{Name: "per country", Label: "country", Key: "country:" + country, Limit: g.limits.Country})
	}
	if !g.limits.Global.Off() {
		rest = append(rest, state.Rule{Name: "global", Label: "global", Key: "global", Limit: g.limits.Global})
	}
	if len(rest) > 0 {
		a.rest = &state.TakeCall{Rules: rest}
	}
	if g.fraud.Mode == FraudEnforce {
		a.takes = []*state.TakeCall{a.probation, a.number, a.prefix, a.rest}
	} else {
		a.takes = []*state.TakeCall{a.number, a.prefix, a.rest, a.probation}
	}
	return a
}

// calls are what the admission asks of the store, for the call's first batch.
func (a *admission) calls() []state.Call {
	if a == nil {
		return nil
	}
	calls := []state.Call{a.trust, a.fraud, a.paused}
	for _, tc := range a.takes {
		calls = append(calls, tc)
	}
	return calls
}

// failed is the first failure of the store among the admission's calls.
func (a *admission) failed() error {
	for _, c := range a.calls() {
		var err error
		switch c := c.(type) {
		case *state.TakeCall:
			if c != nil {
				err = c.Err
			}
		case *state.PausedCall:
			if c != nil {
				err = c.Err
			}
		case *state.RecallCall:
			if c != nil {
				err = c.Err
			}
		case *state.ReadFraudCall:
			if c != nil {
				err = c.Err
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// undo gives back every take of the admission, once the start is refused before it.
func (a *admission) undo(later *settleLater) {
	if a == nil {
		return
	}
	for _, tc := range a.takes {
		later.giveBack(tc)
	}
}

// decide reads the store's answers. It answers the start's hold on the limits, or its refusal; what
// the start took and must give back goes to later.
func (a *admission) decide(ctx context.Context, later *settleLater) (*Hold, error) {
	g := a.g
	if err := a.failed(); err != nil {
		return a.decideWithout(ctx, err, later)
	}
	g.outage.ok(ctx)
	trusted := (a.trust != nil && a.trust.Found) || (a.prefix != nil && a.prefix.Exempt)
	if a.fraud != nil && !trusted {
		onProbation, err := g.judge(ctx, a.num, a.fraud.Records)
		if err != nil {
			a.undo(later)
			return nil, err
		}
		if onProbation && a.probation.Exempt {
			// This start blocked the country: it is the first on probation, which the batch,
			// made before, could not know. One more round trip, once per block.
			a.probation.Exempt = false
			a.probation.Decision, a.probation.Err = g.store.Take(ctx, a.probation.Rules)
			if a.probation.Err != nil {
				a.undo(later)
				return a.decideWithout(ctx, a.probation.Err, later)
			}
		}
	}
	if a.paused != nil && a.paused.Paused {
		// The pause the batch found has ended since it read the counts: refused all the same, as
		// its takes were not made.
		return nil, g.fraudRefusal(ctx, RuleFraudPrefix)
	}
	hold := &Hold{g: g}
	var refusal error
	for _, tc := range a.takes {
		if tc == nil || tc.Skipped || tc.Exempt {
			continue // nothing taken: a take before it refused, or the start is exempt
		}
		if refusal != nil {
			later.giveBack(tc)
			continue
		}
		t, err := g.admitted(g.store, tc.Rules, tc.Decision)
		if err != nil && tc == a.probation {
			// The prefix spent its probation: a fraud refusal, not a rate limit to retry (in
			// shadow mode, none: the start goes on, its probation not counted).
			err = g.fraudRefusal(ctx, RuleFraudCountry)
		}
		if err != nil {
			refusal = err
			continue
		}
		hold.takens = append(hold.takens, t)
	}
	if refusal != nil {
		later.release(hold)
		return nil, refusal
	}
	return hold, nil
}

// decideWithout decides while the store fails (err): a start is refused unless the operator chose
// to fail open; then it goes on with its limits counted in memory, without the fraud guard.
func (a *admission) decideWithout(ctx context.Context, err error, later *settleLater) (*Hold, error) {
	g := a.g
	a.undo(later) // what the store did take, in a batch it failed part of
	if refusal := g.storeFailed(ctx, verify.OpStart, err, true); refusal != nil {
		return nil, refusal
	}
	var rules []state.Rule
	for _, tc := range []*state.TakeCall{a.number, a.prefix, a.rest} {
		if tc != nil {
			rules = append(rules, tc.Rules...)
		}
	}
	if len(rules) == 0 {
		return &Hold{}, nil
	}
	t, err := g.takeFallback(ctx, verify.OpStart, rules)
	if err != nil {
		return nil, err
	}
	return &Hold{g: g, takens: []taken{t}}, nil
}
