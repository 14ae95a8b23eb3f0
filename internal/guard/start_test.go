package guard_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// stores are the stores a guard runs on: memory, and one real Redis.
func stores(t *testing.T) map[string]func(t *testing.T) state.Store {
	return map[string]func(t *testing.T) state.Store{
		"memory": func(*testing.T) state.Store { return memstore.New(nil) },
		"redis": func(t *testing.T) state.Store {
			s, err := redisstore.New(redistest.Start(t).URL(), redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

func newGuard(t *testing.T, store state.Store, limits guard.Limits) *guard.Guard {
	t.Helper()
	logger, _ := logtest.New()
	g, err := guard.New(guard.Options{Store: store, Logger: logger, IdempotencyTTL: time.Hour, VerificationTTL: time.Minute,
		Limits: limits, Fraud: guard.FraudOptions{TrustVerifiedFor: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// isRule says whether err is a rate limit of the rule labelled label.
func isRule(err error, label string) bool {
	ge, ok := guard.AsError(err)
	return ok && ge.Kind == guard.KindRateLimited && ge.Rule == label
}

func number(t *testing.T, e164 string) phone.Number {
	t.Helper()
	n, err := (&phone.Parser{}).Parse(e164)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAStartSpendsNothingOfOthersUntilItsOwnLimitsPass: a client over its per-IP limit, and a start
// whose Idempotency-Key is another request's, spend nothing of the number's or anyone's limits,
// even for the moment before they are refused; and a number verified here is not counted by its
// prefix while its own start is in flight.
func TestAStartSpendsNothingOfOthersUntilItsOwnLimitsPass(t *testing.T) {
	t.Parallel()
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hour := state.Limit{Count: 1, Window: time.Hour}
			g := newGuard(t, newStore(t), guard.Limits{IP: hour, Number: hour, Prefix: hour})
			ctx := context.Background()
			start := func(ip string, r guard.StartRequest) (*guard.Start, error) {
				r.Read = true
				return g.Begin(verify.OpStart, ip).Start(ctx, r)
			}
			victim, other := number(t, "14155550100"), number(t, "442071838750")
			trusted, neighbour := number(t, "4915112345601"), number(t, "4915112345602")

			if err := g.AllowClient(ctx, verify.OpStart, "203.0.113.9"); err != nil {
				t.Fatal(err)
			}
			if _, err := start("203.0.113.9", guard.StartRequest{Number: victim}); !isRule(err, "ip") {
				t.Fatalf("a client over its limit: %v", err)
			}
			first, err := start("203.0.113.1", guard.StartRequest{Key: "k", Request: "a", Number: other})
			if err != nil {
				t.Fatal(err)
			}
			first.Finish(ctx, guard.StartOutcome{RequestID: "r1", Response: state.Response{Status: 200, Body: []byte("{}")}, Keep: true})
			if _, err := start("203.0.113.2", guard.StartRequest{Key: "k", Request: "b", Number: victim}); err == nil {
				t.Fatal("a key used for another request was let start")
			}
			if _, err := start("203.0.113.5", guard.StartRequest{Number: victim}); err != nil {
				t.Fatalf("the victim, after a client over its limit and a reused key asked for its number: %v", err)
			}

			// A number verified here is not counted by its prefix, not even while its start is in flight.
			g.Verified(ctx, state.Verification{Number: trusted.E164, Country: "DE"})
			again, err := start("203.0.113.3", guard.StartRequest{Number: trusted})
			if err != nil {
				t.Fatalf("a trusted number: %v", err)
			}
			if _, err := start("203.0.113.4", guard.StartRequest{Number: neighbour}); err != nil {
				t.Fatalf("its neighbour, while the trusted start is in flight: %v", err)
			}
			again.Finish(ctx, guard.StartOutcome{RequestID: "r2"})
		})
	}
}

// takes is a store that counts the calls taken under each rule's label.
type takes struct {
	state.Store
	labels map[string]int
}

func (s *takes) Take(ctx context.Context, rules []state.Rule) (state.Decision, error) {
	d, err := s.Store.Take(ctx, rules)
	if err == nil && d.Allowed {
		for _, r := range rules {
			s.labels[r.Label]++
		}
	}
	return d, err
}

func (s *takes) Batch(ctx context.Context, calls ...state.Call) error {
	return state.BatchEach(ctx, s, calls...)
}

// TestAStartTheFraudGuardRefusesSpendsNothing: a flood of starts to a paused prefix, or to a prefix
// whose probation is spent, is refused before any limit counts it, so it cannot use up the
// country's or the global budget of real users; and a number verified here is not put on probation.
func TestAStartTheFraudGuardRefusesSpendsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &takes{Store: memstore.New(nil), labels: map[string]int{}}
	logger, _ := logtest.New()
	hour := state.Limit{Count: 1000, Window: time.Hour}
	g, err := guard.New(guard.Options{Store: store, Logger: logger, IdempotencyTTL: time.Hour, VerificationTTL: time.Minute,
		Limits: guard.Limits{Number: hour, Country: hour, Global: hour, Prefix: hour},
		Fraud: guard.FraudOptions{Mode: guard.FraudEnforce, Window: time.Hour, SettleAfter: 5 * time.Minute, MinStartsPrefix: 1000,
			MinStartsCountry: 1000, MinConversion: 0.2, BlockFor: time.Hour, TrustVerifiedFor: 720 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, key := range []string{"prefix:3361234", "country:FR"} {
		if _, _, err := store.Block(ctx, state.Block{Key: key, Since: now}, time.Hour, 24*time.Hour, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	trusted := number(t, "33655555501")
	g.Verified(ctx, state.Verification{Number: trusted.E164, Country: "FR"})
	if _, err := g.Admit(ctx, number(t, "33644444401")); err != nil { // the prefix's probation start
		t.Fatal(err)
	}
	clear(store.labels)

	for _, n := range []string{"33612345601", "33612345602", "33644444402", "33644444403"} {
		if _, err := g.Admit(ctx, number(t, n)); err == nil {
			t.Fatalf("%s: let start", n)
		}
	}
	if len(store.labels) != 0 {
		t.Fatalf("refused starts counted under %v", store.labels)
	}
	for range 2 {
		if _, err := g.Admit(ctx, trusted); err != nil {
			t.Fatalf("a number verified here, in a country under suspicion: %v", err)
		}
	}
	if store.labels[guard.RuleFraudCountry] != 0 {
		t.Fatalf("a trusted number spent its prefix's probation: %v", store.labels)
	}
}

// TestAKeyRecordedByTheLastReleaseStillReplays: the last release identified a request under its
// Idempotency-Key by the number as sent, not its E.164 form. A retry that reaches this version while
// the record is alive (a rolling upgrade) must still be given the first answer, not 422.
func TestAKeyRecordedByTheLastReleaseStillReplays(t *testing.T) {
	t.Parallel()
	hex16 := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:16]) }
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := newStore(t)
			ctx := context.Background()
			const sent = "+1 415 555 0100"
			first := state.Response{Status: 200, Body: []byte(`{"request_id":"r1","status":"0"}`)}
			if err := store.Complete(ctx, "idem:"+hex16("k"), state.Record{Fingerprint: hex16(sent), Done: true, Response: first}, time.Hour); err != nil {
				t.Fatal(err)
			}
			g := newGuard(t, store, guard.Limits{})
			st, err := g.Begin(verify.OpStart, "203.0.113.1").Start(ctx, guard.StartRequest{Key: "k", Request: sent, Number: number(t, "14155550100"), Read: true})
			if err != nil || st.Replay == nil || string(st.Replay.Body) != string(first.Body) {
				t.Fatalf("retry of a start the last release recorded: %+v, %v", st, err)
			}
		})
	}
}
