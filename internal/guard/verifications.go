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

// Attempt is a code check held against its number's wrong-code limit until its answer is known.
type Attempt struct{ hold Hold }

// AllowWrongCode holds one check of a code for the number against the per-number wrong-code limit,
// before the code reaches the backend, so that checks in flight at once cannot together exceed it.
// Settle gives the hold back unless the answer was a wrong code.
func (g *Guard) AllowWrongCode(ctx context.Context, number string) (*Attempt, error) {
	if g.limits.WrongCodes.Off() || number == "" {
		return &Attempt{}, nil
	}
	rules := []state.Rule{{Name: "per phone number for wrong codes", Label: "wrong_codes",
		Key: "wrong:" + hashed(number), Limit: g.limits.WrongCodes}}
	t, err := g.take(ctx, verify.OpCheck, rules)
	if err != nil {
		return nil, err
	}
	return &Attempt{hold: Hold{g: g, taken: t}}, nil
}

// Settle counts the check as a wrong code when it was one (Verify status 16 or 17) and gives its
// hold back otherwise.
func (a *Attempt) Settle(ctx context.Context, err error) {
	if a == nil {
		return
	}
	if ve, ok := verify.AsError(err); ok && (ve.Kind == verify.KindCodeMismatch || ve.Kind == verify.KindTooManyAttempts) {
		return
	}
	a.hold.Release(ctx)
}

// verificationID is the key a request_id is remembered under: ids are hex or UUIDs, which a backend
// may match without regard to case.
func verificationID(requestID string) string { return strings.ToLower(requestID) }
