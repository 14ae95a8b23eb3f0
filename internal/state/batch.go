package state

import (
	"context"
	"time"
)

// Batcher sends several calls to a store together: one Redis answers them in one round trip,
// which is what lets an API call make at most two (one before Vonage, one after) whatever limits
// are on. Each call's answer and error are set in it when Batch returns, which is the first error
// of any call. A call that failed did nothing, as if it had been made alone.
//
// The calls that spend (TakeCall, ReserveCall, PausedCall, and a RecallCall's Take) are made in the
// batch's order, and once one of them is refused (a full rule, a key already reserved), those after it are
// not made: they are Skipped; once one fails, they fail with it. So a call refused by its client's limit spends nothing
// of anyone else's, and a start spends its number's budget only once its key is its own. The other
// calls are independent of everything in the batch.
type Batcher interface {
	Batch(ctx context.Context, calls ...Call) error
}

// Call is one call of a batch: one of the *Call types below, each the batched form of a Store
// method.
type Call interface{ batched() }

// TakeCall is Limiter.Take.
type TakeCall struct {
	Rules []Rule
	// Unless, when set, names a remembered verification (RememberVerification's id) that exempts
	// the call: when it is remembered, nothing is taken.
	Unless string
	// Probation, when set, makes the take apply only to a start the fraud guard holds on
	// probation; any other is exempt.
	Probation *Probation
	Decision  Decision
	Exempt    bool // Unless or Probation exempted it: nothing was taken
	Skipped   bool // a spending call before it in the batch was refused: nothing was taken
	Err       error
}

// Probation is a start to a destination under suspicion: its Country (a fraud key) has a running
// block, or had one within the memory of its repeats, and its Prefix (a fraud key) has not converted
// since ConvertedSince.
type Probation struct {
	Country, Prefix string
	ConvertedSince  time.Time
}

// PausedCall stops the spending calls after it when the fraud key Key has a running block, unless
// a remembered verification (Unless, RememberVerification's id) exempts the call: a start to a
// paused destination spends nothing.
type PausedCall struct {
	Key, Unless string
	Paused      bool // the block runs, and nothing exempted the call: the calls after it were skipped
	Skipped     bool // a spending call before it was refused
	Err         error
}

// RefundCall is Limiter.Refund.
type RefundCall struct {
	Rules []Rule
	Token string
	Err   error
}

// ReserveCall is Idempotency.Reserve.
type ReserveCall struct {
	Key, Fingerprint string
	Lease            time.Duration
	Record           Record // when not Reserved: the key's record
	Reserved         bool
	Skipped          bool // a spending call before it in the batch was refused: nothing was reserved
	Err              error
}

// CompleteCall is Idempotency.Complete.
type CompleteCall struct {
	Key    string
	Record Record
	TTL    time.Duration
	Err    error
}

// ReleaseCall is Idempotency.Release.
type ReleaseCall struct {
	Key string
	Err error
}

// RememberCall is Verifications.RememberVerification.
type RememberCall struct {
	ID           string
	Verification Verification
	TTL          time.Duration
	Err          error
}

// RecallCall is Verifications.RecallVerification; when Take is set and the record found names a
// window (Verification.Window), it then takes that rule under the window's key, in the same call:
// a check holds the wrong codes of the number its request_id was started for, which only the
// record knows.
type RecallCall struct {
	ID           string
	Take         *Rule // its Key is replaced by the record's Window
	Verification Verification
	Found        bool
	Taken        bool     // Take was made (not skipped): Decision is its answer, under Verification.Window
	Decision     Decision // Take's
	Err          error
}

// ReadFraudCall is Fraud.ReadFraud.
type ReadFraudCall struct {
	Keys    []string
	Records []FraudRecord
	Err     error
}

// NoteFraudCall is Fraud.NoteFraud.
type NoteFraudCall struct {
	Keys []string
	Note FraudNote
	Err  error
}

// EndBlocksCall is Fraud.EndBlocks.
type EndBlocksCall struct {
	Now   time.Time
	Ended []Block
	Err   error
}

func (*TakeCall) batched()      {}
func (*PausedCall) batched()    {}
func (*RefundCall) batched()    {}
func (*ReserveCall) batched()   {}
func (*CompleteCall) batched()  {}
func (*ReleaseCall) batched()   {}
func (*RememberCall) batched()  {}
func (*RecallCall) batched()    {}
func (*ReadFraudCall) batched() {}
func (*NoteFraudCall) batched() {}
func (*EndBlocksCall) batched() {}

// BatchEach makes calls one after the other with store's own methods: a store with nothing to save
// by sending them together (memory), or one whose calls cannot share a round trip (a Redis
// Cluster, where each key may live on another node).
func BatchEach(ctx context.Context, store Store, calls ...Call) error {
	var first error
	// A spending call was refused (stopped) or failed (failed): the spending calls after it are
	// skipped, or fail with it.
	stopped := false
	var failed error
	spends := func(skipped *bool, err *error) bool {
		switch {
		case failed != nil:
			*err = failed
		case stopped:
			*skipped = true
		default:
			return true
		}
		return false
	}
	for _, c := range calls {
		var err error
		switch c := c.(type) {
		case *TakeCall:
			if !spends(&c.Skipped, &c.Err) {
				err = c.Err
				break
			}
			if c.Exempt, c.Err = exempt(ctx, store, c); c.Err != nil || c.Exempt {
				failed, err = c.Err, c.Err
				break
			}
			c.Decision, c.Err = store.Take(ctx, c.Rules)
			failed, stopped, err = c.Err, c.Err == nil && !c.Decision.Allowed, c.Err
		case *PausedCall:
			if !spends(&c.Skipped, &c.Err) {
				err = c.Err
				break
			}
			c.Paused, c.Err = paused(ctx, store, c)
			failed, stopped, err = c.Err, c.Paused, c.Err
		case *RefundCall:
			c.Err = store.Refund(ctx, c.Rules, c.Token)
			err = c.Err
		case *ReserveCall:
			if !spends(&c.Skipped, &c.Err) {
				err = c.Err
				break
			}
			c.Record, c.Reserved, c.Err = store.Reserve(ctx, c.Key, c.Fingerprint, c.Lease)
			failed, stopped, err = c.Err, c.Err == nil && !c.Reserved, c.Err
		case *CompleteCall:
			c.Err = store.Complete(ctx, c.Key, c.Record, c.TTL)
			err = c.Err
		case *ReleaseCall:
			c.Err = store.Release(ctx, c.Key)
			err = c.Err
		case *RememberCall:
			c.Err = store.RememberVerification(ctx, c.ID, c.Verification, c.TTL)
			err = c.Err
		case *RecallCall:
			c.Verification, c.Found, c.Err = store.RecallVerification(ctx, c.ID)
			err = c.Err
			if c.Err != nil || !c.Found || c.Take == nil || c.Verification.Window == "" || stopped || failed != nil {
				break
			}
			r := *c.Take
			r.Key = c.Verification.Window
			// A take that fails leaves Taken false: the caller takes the rule on its own, and
			// decides what the failure means; the record was read all the same.
			d, takeErr := store.Take(ctx, []Rule{r})
			if takeErr != nil {
				failed = takeErr
				break
			}
			c.Taken, c.Decision = true, d
			stopped = !d.Allowed
		case *ReadFraudCall:
			c.Records, c.Err = store.ReadFraud(ctx, c.Keys)
			err = c.Err
		case *NoteFraudCall:
			c.Err = store.NoteFraud(ctx, c.Keys, c.Note)
			err = c.Err
		case *EndBlocksCall:
			c.Ended, c.Err = store.EndBlocks(ctx, c.Now)
			err = c.Err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// exempt says whether c's Unless or Probation exempts it, asking store.
func exempt(ctx context.Context, store Store, c *TakeCall) (bool, error) {
	if c.Unless != "" {
		if _, found, err := store.RecallVerification(ctx, c.Unless); err != nil || found {
			return found, err
		}
	}
	if c.Probation == nil {
		return false, nil
	}
	recs, err := store.ReadFraud(ctx, []string{c.Probation.Country, c.Probation.Prefix})
	if err != nil {
		return false, err
	}
	country, prefix := recs[0], recs[1]
	suspect := country.Block != nil || country.Repeats > 0
	converted := !prefix.LastConverted.IsZero() && !prefix.LastConverted.Before(c.Probation.ConvertedSince)
	return !suspect || converted, nil
}

// paused says whether c's key has a running block that does not exempt it, asking store.
func paused(ctx context.Context, store Store, c *PausedCall) (bool, error) {
	if c.Unless != "" {
		if _, found, err := store.RecallVerification(ctx, c.Unless); err != nil || found {
			return false, err
		}
	}
	recs, err := store.ReadFraud(ctx, []string{c.Key})
	if err != nil {
		return false, err
	}
	return recs[0].Block != nil, nil
}
