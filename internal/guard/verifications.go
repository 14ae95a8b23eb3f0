package guard

import (
	"context"
	"strings"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// Disclosure says who may learn the request_id of a verification that is already running, which
// Verify hands to anyone who starts a second one for the same number (status 10). Whoever holds it
// can cancel that verification or spend its wrong codes.
type Disclosure string

// The disclosures CONCURRENT_REQUEST_ID names.
const (
	DiscloseNever     Disclosure = "withhold"     // nobody: the app resumes through its Idempotency-Key
	DiscloseToStarter Disclosure = "same_address" // the client address (IPv6: its /64) that started it
	DiscloseAlways    Disclosure = "expose"       // anyone, as Vonage does
)

// Disclosures are the accepted values, the default first.
var Disclosures = []Disclosure{DiscloseNever, DiscloseToStarter, DiscloseAlways}

// Started remembers what the verification requestID was started for, on its own (Start.Finish
// does it in the start's settling batch): see started.
func (g *Guard) Started(ctx context.Context, requestID string, num phone.Number, test bool, clientIP string) {
	var later settleLater
	remember := g.started(&later, requestID, num, test, clientIP)
	g.send(ctx, &later)
	g.rememberedOrNot(ctx, remember)
}

// started remembers what the verification requestID was started for, as long as its code can be
// checked: the number, whether it is a test number, the client that started it, and its number's
// wrong-code window. It is best effort: the verification has started whatever happens here, and
// without the record its check only goes without a token and without the per-number wrong-code
// limit. It answers the record's call, for rememberedOrNot once the batch is sent.
func (g *Guard) started(later *settleLater, requestID string, num phone.Number, test bool, clientIP string) *state.RememberCall {
	v := state.Verification{Number: num.E164, Client: ClientKey(clientIP), Test: test, Started: g.now().UnixMilli(),
		Window: wrongKey(num.E164)}
	if !test {
		v.Country = CountryOf(num)
		if g.fraud.on() {
			g.fraud.Observer.FraudStarted(v.Country)
			if n := g.noteCall(v, state.FraudStarted); n != nil {
				later.add(n)
			}
		}
	}
	remember := &state.RememberCall{ID: verificationID(requestID), Verification: v, TTL: g.verificationTTL}
	later.add(remember)
	later.kept = true
	return remember
}

// rememberedOrNot keeps in this replica's memory a record the store failed to keep, so that the
// verification's check still finds it here.
func (g *Guard) rememberedOrNot(ctx context.Context, r *state.RememberCall) {
	if r == nil || r.Err == nil || g.fallback == nil {
		return
	}
	_ = g.fallback.RememberVerification(context.WithoutCancel(ctx), r.ID, r.Verification, r.TTL) // memory does not fail
}

// wrongKey is the window of e164's wrong codes.
func wrongKey(e164 string) string { return "wrong:" + hashed(e164) }

// Recall answers what the verification requestID was started for, and false when this server does
// not know it (started elsewhere, before an upgrade, or so long ago that it can no longer be checked).
func (g *Guard) Recall(ctx context.Context, requestID string) (state.Verification, bool) {
	r := &state.RecallCall{ID: verificationID(requestID)}
	r.Verification, r.Found, r.Err = g.store.RecallVerification(ctx, r.ID)
	return g.recalled(ctx, r)
}

// recalled reads the store's answer to r, asking this replica's memory when the store failed or
// did not know: a verification started while the store was failing is known only here.
func (g *Guard) recalled(ctx context.Context, r *state.RecallCall) (state.Verification, bool) {
	v, found := r.Verification, r.Found
	switch {
	case r.Err == nil:
		g.outage.ok(ctx)
	case ctx.Err() != nil:
		return state.Verification{}, false
	default:
		g.failure(ctx, r.Err, g.fallbackOutcome())
		v, found = state.Verification{}, false
	}
	if !found && g.fallback != nil {
		v, found, _ = g.fallback.RecallVerification(ctx, r.ID)
	}
	return v, found
}

// Disclose reports whether the client at clientIP may learn the request_id of the verification that
// is already running for the number it asked for.
func (g *Guard) Disclose(ctx context.Context, requestID, clientIP string) bool {
	switch g.disclosure {
	case DiscloseAlways:
		return true
	case DiscloseToStarter:
		v, found := g.Recall(ctx, requestID)
		return found && v.Client == ClientKey(clientIP)
	}
	return false
}

// Check is a code check the guard let go ahead: what its verification was started for, and the
// holds it takes on the limits until the backend's answer says what the check cost.
type Check struct {
	Verification state.Verification // zero when not Known
	Known        bool               // this server remembers the verification's start
	g            *Guard
	perID, wrong *Hold
}

// BeginCheck applies the per-request_id limit, recalls what requestID was started for, and holds the
// check against its number's wrong-code limit before the code reaches the backend, so that checks
// in flight at once cannot together exceed it: all in one batch with the call's per-IP limit, the
// record naming the wrong-code window it takes.
//
// The holds are released when the backend never accepted the check, so that an outage of Vonage
// does not use up the user's checks.
func (c *Call) BeginCheck(ctx context.Context, requestID string) (*Check, error) {
	g := c.g
	ip := c.ipCall()
	var perID *state.TakeCall
	if !g.limits.Check.Off() {
		perID = &state.TakeCall{Rules: []state.Rule{g.checkRule(requestID)}}
	}
	recall := &state.RecallCall{ID: verificationID(requestID)}
	var wrong state.Rule
	if !g.limits.WrongCodes.Off() {
		wrong = state.Rule{Name: "per phone number for wrong codes", Label: "wrong_codes", Limit: g.limits.WrongCodes}
		recall.Take = &wrong
	}
	g.batch(ctx, ip, perID, recall)

	var later settleLater
	refuse := func(err error) (*Check, error) {
		later.giveBack(perID)
		if recall.Err == nil && recall.Taken {
			r := wrong
			r.Key = recall.Verification.Window
			later.giveBack(&state.TakeCall{Rules: []state.Rule{r}, Decision: recall.Decision})
		}
		g.send(ctx, &later)
		return nil, err
	}
	if ip != nil {
		if _, err := g.decided(ctx, c.op, ip); err != nil {
			return refuse(err)
		}
	}
	chk := &Check{g: g, perID: &Hold{}, wrong: &Hold{}}
	if perID != nil {
		t, err := g.decided(ctx, verify.OpCheck, perID)
		if err != nil {
			return refuse(err)
		}
		chk.perID = &Hold{g: g, takens: []taken{t}}
	}
	chk.Verification, chk.Known = g.recalled(ctx, recall)
	if !chk.Known || g.limits.WrongCodes.Off() {
		return chk, nil
	}
	wrong.Key = wrongKey(chk.Verification.Number)
	var t taken
	var err error
	if recall.Err == nil && recall.Taken && recall.Verification.Window == wrong.Key {
		t, err = g.decided(ctx, verify.OpCheck, &state.TakeCall{Rules: []state.Rule{wrong}, Decision: recall.Decision})
	} else {
		// A record kept before records named their window, or one this replica's memory kept
		// while the store failed: its window is taken on its own.
		t, err = g.take(ctx, verify.OpCheck, []state.Rule{wrong})
	}
	if err != nil {
		return nil, err // the per-request_id hold stays: the check was made, and refused
	}
	chk.wrong = &Hold{g: g, takens: []taken{t}}
	return chk, nil
}

// BeginCheck is Call.BeginCheck for a call whose per-IP limit is applied already.
func (g *Guard) BeginCheck(ctx context.Context, requestID string) (*Check, error) {
	return g.BeginLimited(verify.OpCheck, "").BeginCheck(ctx, requestID)
}

// End settles the check by the backend's answer (err nil: the code was right), in one batch. Only
// a wrong code (Verify status 16 or 17) keeps its wrong-code hold; a check the backend never
// accepted gives its per-request_id hold back too. A right code, or the last wrong one, settles
// the verification for the fraud guard.
func (c *Check) End(ctx context.Context, err error) {
	var kind verify.Kind
	if ve, ok := verify.AsError(err); ok {
		kind = ve.Kind
	}
	var later settleLater
	if kind != verify.KindCodeMismatch && kind != verify.KindTooManyAttempts {
		later.release(c.wrong)
	}
	if Unaccepted(err) {
		later.release(c.perID)
	}
	switch {
	case !c.Known:
	case err == nil:
		c.g.verified(&later, c.Verification)
	case kind == verify.KindTooManyAttempts:
		if n := c.g.noteCall(c.Verification, state.FraudUnverified); n != nil {
			later.add(n)
		}
	}
	c.g.send(ctx, &later)
}

// Cancel is a cancel the guard let go ahead: what its verification was started for.
type Cancel struct {
	Verification state.Verification
	Known        bool
	g            *Guard
}

// BeginCancel recalls what requestID was started for, in one batch with the call's per-IP limit.
func (c *Call) BeginCancel(ctx context.Context, requestID string) (*Cancel, error) {
	ip := c.ipCall()
	recall := &state.RecallCall{ID: verificationID(requestID)}
	c.g.batch(ctx, ip, recall)
	if ip != nil {
		if _, err := c.g.decided(ctx, c.op, ip); err != nil {
			return nil, err
		}
	}
	v, known := c.g.recalled(ctx, recall)
	return &Cancel{Verification: v, Known: known, g: c.g}, nil
}

// End settles the cancel: a verification cancelled will never be verified.
func (c *Cancel) End(ctx context.Context, err error) {
	if err == nil && c.Known {
		c.g.Unverified(ctx, c.Verification) // nobody will enter its code
	}
}

// verificationID is the key a request_id is remembered under: ids are hex or UUIDs, which a backend
// may match without regard to case.
func verificationID(requestID string) string { return strings.ToLower(requestID) }
