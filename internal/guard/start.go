package guard

import (
	"context"
	"strings"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// StartRequest is a start as the guard sees it.
type StartRequest struct {
	// Key is the Idempotency-Key as the app meant it (the HTTP layer has read any quotes off), or
	// "" for none; Request is the number as sent. Under a key, a valid number is identified by its
	// E.164 form, so the same number typed another way is the same request (see fingerprint).
	Key, Request string
	Number       phone.Number
	Read         bool // Number was read: the number is valid
	Test         bool // a test number: sent nowhere, so guarded by the per-IP limit only
}

// fingerprint identifies the request under its Idempotency-Key: the number in E.164 when it was
// read, so that "+1 415 555 0100" and "14155550100" with one key are one request and the second is
// a replay, not a reuse of the key; the number as sent otherwise.
func (r StartRequest) fingerprint() string {
	if r.Read {
		return hashed(r.Number.E164)
	}
	return hashed(r.Request)
}

// recordedByLastRelease says whether fingerprint is this request's as the last release recorded it:
// the number as sent, so that a retry across an upgrade is still a replay. Only text with more than
// digits in it is taken that way: digits alone hash as some number's E.164 form does, and would
// match another number's record (with DEFAULT_COUNTRY, "15555550100" is not +1 555 555 0100).
func (r StartRequest) recordedByLastRelease(fingerprint string) bool {
	return strings.ContainsFunc(r.Request, func(c rune) bool { return c < '0' || c > '9' }) &&
		fingerprint == hashed(r.Request)
}

// Start is a start the guard let go ahead, or one whose Idempotency-Key already has its answer.
// Finish settles it whatever happened next.
type Start struct {
	// Replay is the first response to the key, to send again byte for byte: the start must not
	// run. A later call with the same key and another request is refused (KindIdempotencyKeyReused),
	// and so is one while the first is in flight (KindRequestInProgress).
	Replay   *state.Response
	c        *Call
	req      StartRequest
	hold     *Hold
	storeKey string // the key's record, when this call reserved it: Finish completes or releases it
	later    settleLater
}

// Start decides, in one batch with the call's per-IP limit and its Idempotency-Key, whether a
// verification may start: a destination the policy refuses, one the fraud guard has paused, and a
// start over a limit are refused (see admission). An invalid number (Read false) is checked
// against the limits that apply to any call, so the server can answer its error after them.
func (c *Call) Start(ctx context.Context, r StartRequest) (*Start, error) {
	g := c.g
	st := &Start{c: c, req: r}
	ip := c.ipCall()
	var reserve *state.ReserveCall
	if r.Key != "" {
		reserve = &state.ReserveCall{Key: "idem:" + hashed(r.Key), Fingerprint: r.fingerprint(), Lease: g.idemLease}
	}
	var adm *admission
	var refused error
	if r.Read && !r.Test {
		if refused = g.destinations.allow(r.Number); refused == nil {
			adm = g.prepareAdmission(r.Number)
		}
	}
	g.batch(ctx, append([]state.Call{ip, reserve}, adm.calls()...)...)

	abandon := func(err error) (*Start, error) {
		adm.undo(&st.later)
		if st.storeKey != "" {
			st.later.add(&state.ReleaseCall{Key: st.storeKey})
		}
		g.sendStart(ctx, &st.later)
		return nil, err
	}
	if ip != nil {
		if _, err := g.decided(ctx, c.op, ip); err != nil {
			// What came after it was skipped: a client over its limit spends nothing of others'.
			return abandon(err)
		}
	}
	if reserve != nil {
		switch {
		case reserve.Err != nil:
			if refusal := g.storeFailed(ctx, verify.OpStart, reserve.Err, false); refusal != nil {
				return abandon(refusal)
			}
			// Failing open: no idempotency without the store.
		case reserve.Skipped:
			// Only a refused per-IP take skips it, and that returned above.
		case !reserve.Reserved && !r.Read:
			// The key is another request's, but this number is no number, which no key could
			// have kept an answer for: the app is to hear that (the caller's invalid_number), not
			// that its key is taken.
			if _, err := abandon(nil); err != nil {
				return nil, err
			}
			return &Start{}, nil
		case !reserve.Reserved:
			rec := reserve.Record
			switch {
			case rec.Fingerprint != reserve.Fingerprint && !r.recordedByLastRelease(rec.Fingerprint):
				return abandon(&Error{Kind: KindIdempotencyKeyReused,
					Text: "this Idempotency-Key was used with a different request; send a new key for a new request"})
			case !rec.Done:
				return abandon(&Error{Kind: KindRequestInProgress,
					Text: "a request with this Idempotency-Key is still in progress; retry when it has finished"})
			}
			if _, err := abandon(nil); err != nil {
				return nil, err
			}
			return &Start{Replay: &rec.Response}, nil
		default:
			g.outage.ok(ctx)
			st.storeKey = reserve.Key
		}
	}
	if refused != nil {
		return abandon(refused)
	}
	if adm != nil {
		hold, err := adm.decide(ctx, &st.later)
		if err != nil {
			if st.storeKey != "" {
				st.later.add(&state.ReleaseCall{Key: st.storeKey})
			}
			g.sendStart(ctx, &st.later)
			return nil, err
		}
		st.hold = hold
	}
	return st, nil
}

// StartOutcome is what became of a start the guard let go ahead.
type StartOutcome struct {
	// Err is the backend's refusal, or nil; a refusal that means the backend never accepted the
	// start (Unaccepted) gives its limits back.
	Err error
	// RequestID names the verification that started, or "" when none did.
	RequestID string
	// Response is the answer to the start, kept for the Idempotency-Key when Keep says it is final
	// and worth a replay; otherwise the key is released, and a retry with it starts afresh.
	Response state.Response
	Keep     bool
}

// Finish settles the start in one batch: it gives back what it held when the backend never
// accepted it, remembers what a started verification was for (see Started), and keeps or releases
// the Idempotency-Key's answer. It is best effort: the answer stands whatever fails here.
func (st *Start) Finish(ctx context.Context, o StartOutcome) {
	if st == nil || st.c == nil {
		return
	}
	g := st.c.g
	if Unaccepted(o.Err) {
		st.later.release(st.hold) // Vonage did nothing: the user's budgets are as they were
	}
	var remember *state.RememberCall
	if o.RequestID != "" {
		remember = g.started(&st.later, o.RequestID, st.req.Number, st.req.Test, st.c.ip)
	}
	if st.storeKey != "" {
		if o.Keep {
			st.later.add(&state.CompleteCall{Key: st.storeKey, TTL: g.idemTTL,
				Record: state.Record{Fingerprint: st.req.fingerprint(), Done: true, Response: o.Response}})
		} else {
			st.later.add(&state.ReleaseCall{Key: st.storeKey})
		}
	}
	g.sendStart(ctx, &st.later)
	g.rememberedOrNot(ctx, remember)
}

// sendStart sends a start's settling batch, with a look for blocks whose time is up when one is due.
func (g *Guard) sendStart(ctx context.Context, later *settleLater) {
	sweep := g.sweepCall(g.now())
	if sweep != nil {
		later.add(sweep)
	}
	g.send(ctx, later)
	if sweep != nil && sweep.Err == nil {
		g.logEnded(ctx, sweep.Ended)
	}
}
