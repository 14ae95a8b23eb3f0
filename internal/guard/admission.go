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
// at all once one before it refused (state.Batcher): a start refused by one limit spends at most
// the limits before it, given back at once. The per-prefix take is exempt for a trusted number in
// the store itself. Whether the fraud guard puts the prefix on probation is known only from what
// the batch reads; so the probation is taken last, beside the others, and given back with the
// start's settling when it turns out not to apply. It is one start a day per prefix, and it does
// not apply to another start of the same prefix either, so nobody is refused for it meanwhile.
type admission struct {
	g     *Guard
	num   phone.Number
	trust *state.RecallCall    // nil when verified numbers are not remembered
	fraud *state.ReadFraudCall // nil when the fraud guard is off
	// The takes, in the order a refusal names them: per number, per prefix (not for a trusted
	// number), per country and global, the probation (only when judge says it applies).
	number, prefix, rest, probation *state.TakeCall
}

func (g *Guard) prepareAdmission(num phone.Number) *admission {
	a := &admission{g: g, num: num}
	if g.trusts() {
		a.trust = &state.RecallCall{ID: trustKey(num.E164)}
	}
	if g.fraud.on() {
		a.fraud = &state.ReadFraudCall{Keys: fraudKeys(num.E164, CountryOf(num))}
		a.probation = &state.TakeCall{Rules: []state.Rule{probationRule(num.E164)}}
	}
	if !g.limits.Number.Off() {
		a.number = &state.TakeCall{Rules: []state.Rule{{Name: "per phone number", Label: "number", Key: "number:" + hashed(num.E164), Limit: g.limits.Number}}}
	}
	if !g.limits.Prefix.Off() {
		// A number verified here recently is not counted: its trust mark exempts it.
		a.prefix = &state.TakeCall{Rules: []state.Rule{{Name: "per number prefix", Label: "prefix", Key: "prefix:" + hashed(PrefixOf(num.E164)), Limit: g.limits.Prefix}},
			Unless: trustKey(num.E164)}
	}
	var rest []state.Rule
	if !g.limits.Country.Off() {
		rest = append(rest, state.Rule{Name: "per country", Label: "country", Key: "country:" + CountryOf(num), Limit: g.limits.Country})
	}
	if !g.limits.Global.Off() {
		rest = append(rest, state.Rule{Name: "global", Label: "global", Key: "global", Limit: g.limits.Global})
	}
	if len(rest) > 0 {
		a.rest = &state.TakeCall{Rules: rest}
	}
	return a
}

// calls are what the admission asks of the store, for the call's first batch.
func (a *admission) calls() []state.Call {
	if a == nil {
		return nil
	}
	return []state.Call{a.trust, a.fraud, a.number, a.prefix, a.rest, a.probation}
}

// takes are the admission's takes in the order a refusal names them.
func (a *admission) takes() []*state.TakeCall {
	return []*state.TakeCall{a.number, a.prefix, a.rest, a.probation}
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
	for _, tc := range a.takes() {
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
	trusted := (a.trust != nil && a.trust.Found) || (a.prefix != nil && a.prefix.Known)
	probation := false
	if a.fraud != nil && !trusted {
		var err error
		if probation, err = g.judge(ctx, a.num, a.fraud.Records); err != nil {
			a.undo(later)
			return nil, err
		}
	}
	applies := map[*state.TakeCall]bool{a.number: true, a.prefix: !trusted, a.rest: true, a.probation: probation}
	hold := &Hold{g: g}
	var refusal error
	for _, tc := range a.takes() {
		if tc == nil || tc.Skipped || tc.Known {
			continue // nothing taken: a take before it refused, or the number is exempt
		}
		if !applies[tc] || refusal != nil {
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
