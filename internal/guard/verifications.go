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

// Started remembers what the verification requestID was started for, as long as its code can be
// checked: the number, whether it is a test number, and the client that started it. It is best
// effort: the verification has started whatever happens here, and without the record its check
// only goes without a token and without the per-number wrong-code limit. While the store fails, the
// record is kept in this replica's memory.
func (g *Guard) Started(ctx context.Context, requestID string, num phone.Number, test bool, clientIP string) {
	v := state.Verification{Number: num.E164, Client: ClientKey(clientIP), Test: test, Started: g.now().UnixMilli()}
	if !test {
		v.Country = CountryOf(num)
		if g.fraud.on() {
			g.fraud.Observer.FraudStarted(v.Country)
			g.noteFraud(ctx, v, state.FraudStarted)
		}
	}
	id := verificationID(requestID)
	err := g.store.RememberVerification(ctx, id, v, g.verificationTTL)
	if err == nil {
		g.outage.ok(ctx)
		return
	}
	if ctx.Err() != nil {
		return
	}
	g.failure(ctx, err, g.fallbackOutcome())
	if g.fallback != nil {
		_ = g.fallback.RememberVerification(ctx, id, v, g.verificationTTL) // memory does not fail
	}
}

// Recall answers what the verification requestID was started for, and false when this server does
// not know it (started elsewhere, before an upgrade, or so long ago that it can no longer be checked).
func (g *Guard) Recall(ctx context.Context, requestID string) (state.Verification, bool) {
	id := verificationID(requestID)
	v, found, err := g.store.RecallVerification(ctx, id)
	switch {
	case err == nil:
		g.outage.ok(ctx)
	case ctx.Err() != nil:
		return state.Verification{}, false
	default:
		g.failure(ctx, err, g.fallbackOutcome())
	}
	if !found && g.fallback != nil {
		// Started while the store was failing, perhaps: then only this replica's memory knows it.
		v, found, _ = g.fallback.RecallVerification(ctx, id)
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
// in flight at once cannot together exceed it.
func (g *Guard) BeginCheck(ctx context.Context, requestID string) (*Check, error) {
	perID, err := g.AllowCheck(ctx, requestID)
	if err != nil {
		return nil, err
	}
	v, known := g.Recall(ctx, requestID)
	c := &Check{Verification: v, Known: known, g: g, perID: perID, wrong: &Hold{}}
	if known && !g.limits.WrongCodes.Off() {
		t, err := g.take(ctx, verify.OpCheck, []state.Rule{{Name: "per phone number for wrong codes", Label: "wrong_codes",
			Key: "wrong:" + hashed(v.Number), Limit: g.limits.WrongCodes}})
		if err != nil {
			return nil, err
		}
		c.wrong = &Hold{g: g, taken: t}
	}
	return c, nil
}

// End settles the check by the backend's answer (err nil: the code was right). Only a wrong code
// (Verify status 16 or 17) keeps its wrong-code hold; a check the backend never accepted gives its
// per-request_id hold back too. A right code, or the last wrong one, settles the verification for
// the fraud guard.
func (c *Check) End(ctx context.Context, err error) {
	var kind verify.Kind
	if ve, ok := verify.AsError(err); ok {
		kind = ve.Kind
	}
	if kind != verify.KindCodeMismatch && kind != verify.KindTooManyAttempts {
		c.wrong.Release(ctx)
	}
	if Unaccepted(err) {
		c.perID.Release(ctx)
	}
	switch {
	case !c.Known:
	case err == nil:
		c.g.Verified(ctx, c.Verification)
	case kind == verify.KindTooManyAttempts:
		c.g.Unverified(ctx, c.Verification)
	}
}

// verificationID is the key a request_id is remembered under: ids are hex or UUIDs, which a backend
// may match without regard to case.
func verificationID(requestID string) string { return strings.ToLower(requestID) }
