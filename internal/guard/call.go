package guard

import (
	"context"

	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// Call is one API call's business with the store. What the call needs to know before the backend
// is asked goes to the store in one batch (Start, BeginCheck, BeginCancel), and what it settles
// after in another: on one Redis, two round trips whatever limits are on. Its per-IP limit rides
// in the first batch; a call refused before it made one (an invalid body) has it applied by Finish.
// A Call is used by one request at a time.
type Call struct {
	g       *Guard
	op      verify.Op
	ip      string
	limited bool // the per-IP limit was applied, or is off
}

// Begin starts the business of one call of op from ip, the client address the server trusts.
func (g *Guard) Begin(op verify.Op, ip string) *Call {
	return &Call{g: g, op: op, ip: ip, limited: g.limits.IP.Off()}
}

// BeginLimited is Begin for a call whose per-IP limit was applied already.
func (g *Guard) BeginLimited(op verify.Op, ip string) *Call {
	return &Call{g: g, op: op, ip: ip, limited: true}
}

// IP is the client address the call came from.
func (c *Call) IP() string { return c.ip }

// Finish applies the per-IP limit when no batch of the call did: every call counts against it,
// the ones refused before they reached the guard too.
func (c *Call) Finish(ctx context.Context) error {
	if c == nil || c.limited {
		return nil
	}
	ip := c.ipCall()
	c.g.batch(ctx, ip) // the script every first batch runs, which Redis knows already
	_, err := c.g.decided(ctx, c.op, ip)
	return err
}

// ipCall is the per-IP limit's take for the call's first batch, or nil when it is applied already.
func (c *Call) ipCall() *state.TakeCall {
	if c.limited {
		return nil
	}
	c.limited = true
	// Evictable: a client's window guards no spend (the per-number, per-prefix, per-country and
	// global windows do), so a store bounded in size may drop it under a flood of addresses.
	return &state.TakeCall{Rules: []state.Rule{{Name: "per client IP", Label: "ip", Key: "ip:" + hashed(ClientKey(c.ip)),
		Limit: c.g.limits.IP, Evictable: true}}}
}

// batch sends calls (nil ones left out) to the store in one round trip where it can. Each call
// carries its own answer or error; the caller decides what each failure means.
func (g *Guard) batch(ctx context.Context, calls ...state.Call) {
	sent := calls[:0:0]
	for _, c := range calls {
		if c != nil && !isNilCall(c) {
			sent = append(sent, c)
		}
	}
	if len(sent) > 0 {
		_ = g.store.Batch(ctx, sent...)
	}
}

// isNilCall reports a typed nil in an interface: a step that was not asked for.
func isNilCall(c state.Call) bool {
	switch c := c.(type) {
	case *state.TakeCall:
		return c == nil
	case *state.PausedCall:
		return c == nil
	case *state.ReserveCall:
		return c == nil
	case *state.RecallCall:
		return c == nil
	case *state.ReadFraudCall:
		return c == nil
	}
	return false
}

// settleLater collects what a call gives back or records once its outcome is known, for one batch.
type settleLater struct {
	calls []state.Call
	holds []*Hold // given back in memory: taken from the fallback while the store failed
	// kept says a record in calls is kept in memory when the store fails (rememberedOrNot), for
	// the metrics' outcome of the failure.
	kept bool
}

func (s *settleLater) add(c ...state.Call) { s.calls = append(s.calls, c...) }

// release gives back what h holds: in the batch what the store took, at once what memory did.
func (s *settleLater) release(h *Hold) {
	if h == nil || h.g == nil {
		return
	}
	for _, t := range h.takens {
		switch t.limiter {
		case nil:
		case state.Limiter(h.g.store):
			s.add(&state.RefundCall{Rules: t.rules, Token: t.token})
		default:
			s.holds = append(s.holds, &Hold{g: h.g, takens: []taken{t}})
		}
	}
}

// giveBack gives back what tc took, if it took anything: a take the call turned out not to need.
func (s *settleLater) giveBack(tc *state.TakeCall) {
	if tc != nil && tc.Err == nil && tc.Decision.Allowed {
		s.add(&state.RefundCall{Rules: tc.Rules, Token: tc.Decision.Token})
	}
}

// send makes the collected calls in one batch. What fails is lost: a call given back stays counted
// until its window passes, a record is not kept; each failure is logged and counted once.
func (g *Guard) send(ctx context.Context, s *settleLater) {
	// The client may have hung up; what it took must still be given back, its record kept.
	ctx = context.WithoutCancel(ctx)
	for _, h := range s.holds {
		h.Release(ctx)
	}
	if len(s.calls) == 0 {
		return
	}
	if err := g.store.Batch(ctx, s.calls...); err != nil {
		outcome := StoreFailureLetThrough
		if s.kept {
			outcome = g.fallbackOutcome()
		}
		g.failure(ctx, err, outcome)
		return
	}
	g.outage.ok(ctx)
}
