package guard

import (
	"context"

	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// Idempotent makes a start idempotent under key (an Idempotency-Key as the app meant it: the HTTP
// layer has read any quotes off): the first call with key runs start; a later call with the same
// key and the same request (the body that identifies the call) within the TTL gets the first
// response again, byte for byte, and start does not run. The same key with another request is
// refused (KindIdempotencyKeyReused), and so is a call while the first is still in flight
// (KindRequestInProgress).
//
// start returns the response and whether it is final. Only final answers are kept; for any other
// ("try again later": a 5xx or a 429) the key is released and a retry with it tries again. That is
// safe even if the upstream did start: it allows one live verification per number and answers a
// second start with the running request_id.
func (g *Guard) Idempotent(ctx context.Context, key, request string, start func() (state.Response, bool)) (state.Response, error) {
	storeKey := "idem:" + hashed(key)
	fingerprint := hashed(request)

	rec, reserved, err := g.store.Reserve(ctx, storeKey, fingerprint, g.idemLease)
	if err != nil {
		if refusal := g.storeFailed(ctx, verify.OpStart, err, false); refusal != nil {
			return state.Response{}, refusal
		}
		resp, _ := start() // failing open: no idempotency without the store
		return resp, nil
	}
	g.outage.ok(ctx)
	if !reserved {
		switch {
		case rec.Fingerprint != fingerprint:
			return state.Response{}, &Error{Kind: KindIdempotencyKeyReused,
				Text: "this Idempotency-Key was used with a different request; send a new key for a new request"}
		case !rec.Done:
			return state.Response{}, &Error{Kind: KindRequestInProgress,
				Text: "a request with this Idempotency-Key is still in progress; retry when it has finished"}
		}
		return rec.Response, nil
	}

	resp, keep := start()
	// The client may have hung up; the record must still be settled, or the key stays in flight.
	settle := context.WithoutCancel(ctx)
	if keep {
		err = g.store.Complete(settle, storeKey, state.Record{Fingerprint: fingerprint, Done: true, Response: resp}, g.idemTTL)
	} else {
		err = g.store.Release(settle, storeKey)
	}
	if err != nil {
		// The answer stands (a code may be on its way); only its replay is lost.
		g.failure(ctx, err, StoreFailureLetThrough)
	} else {
		g.outage.ok(ctx)
	}
	return resp, nil
}
