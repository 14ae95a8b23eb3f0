package memstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

const ceiling = 1000

func clientRule(i int) state.Rule {
	return state.Rule{Key: fmt.Sprint("ip:", i), Limit: state.Limit{Count: 1, Window: time.Hour}, Evictable: true}
}

func numberRule(i int) state.Rule {
	return state.Rule{Key: fmt.Sprint("number:", i), Limit: state.Limit{Count: 1, Window: time.Hour}}
}

// take takes one call under rules and answers whether it was admitted; a store error fails the test.
func take(t *testing.T, s *Store, rules ...state.Rule) bool {
	t.Helper()
	d, err := s.Take(context.Background(), rules)
	if err != nil {
		t.Fatal(err)
	}
	return d.Allowed
}

// within fails the test when s holds more keys than the ceiling.
func within(t *testing.T, s *Store) {
	t.Helper()
	if keys := s.Stats().Keys; keys > ceiling {
		t.Fatalf("%d keys held, more than the ceiling of %d", keys, ceiling)
	}
}

// TestCeilingDropsClientWindowsOldestFirst: a flood of client addresses never holds more than the
// ceiling; the windows used longest ago go, the ones in use stay.
func TestCeilingDropsClientWindowsOldestFirst(t *testing.T) {
	t.Parallel()
	s := New(clocktest.New().Now, MaxKeys(ceiling))
	take(t, s, clientRule(0))
	for i := 1; i < 5*ceiling; i++ {
		if !take(t, s, clientRule(i)) {
			t.Fatalf("client %d refused", i)
		}
		if i%100 == 0 {
			take(t, s, clientRule(0)) // refused, but used: client 0 stays
		}
		within(t, s)
	}
	if take(t, s, clientRule(5*ceiling-1)) {
		t.Fatal("the newest window was dropped: its client got a second call under a limit of 1")
	}
	if take(t, s, clientRule(0)) {
		t.Fatal("a window in use was dropped")
	}
	if !take(t, s, clientRule(1)) {
		t.Fatal("the window used longest ago was kept")
	}
	if st := s.Stats(); st.Evicted < 4*ceiling-ceiling/10 || st.Refused != 0 {
		t.Fatalf("stats after the flood: %+v", st)
	}
}

// TestSpendWindowsAreNeverDroppedEarly: windows that guard spend fill the store up to its headroom,
// then a start is refused with state.ErrFull (which the guard answers with 503 unavailable), and
// every one of them still counts its call.
func TestSpendWindowsAreNeverDroppedEarly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(clocktest.New().Now, MaxKeys(ceiling))
	for i := range ceiling / 2 {
		take(t, s, clientRule(i)) // dropped to make room for what guards spend
	}
	admitted := 0
	for ; ; admitted++ {
		d, err := s.Take(ctx, []state.Rule{numberRule(admitted), clientRule(ceiling + admitted)})
		if err != nil {
			if !errors.Is(err, state.ErrFull) || !errors.Is(err, state.ErrUnavailable) {
				t.Fatalf("a start with no room: %v, want state.ErrFull", err)
			}
			break
		}
		if !d.Allowed {
			t.Fatalf("start %d refused: %+v", admitted, d)
		}
		within(t, s)
	}
	if want := ceiling - ceiling/headroomShare; admitted != want {
		t.Fatalf("%d starts admitted before the store was full, want %d (the ceiling less its headroom)", admitted, want)
	}
	for i := range admitted {
		if take(t, s, numberRule(i)) {
			t.Fatalf("the window of number %d was dropped", i)
		}
	}
	// What an admitted start writes next finds room in the headroom; past it, the store is full.
	for i := range ceiling / headroomShare {
		if err := s.RememberVerification(ctx, fmt.Sprint("id", i), state.Verification{Number: "1"}, time.Hour); err != nil {
			t.Fatalf("verification %d of an admitted start: %v", i, err)
		}
		within(t, s)
	}
	if err := s.RememberVerification(ctx, "one-more", state.Verification{Number: "1"}, time.Hour); !errors.Is(err, state.ErrFull) {
		t.Fatalf("a verification past the ceiling: %v, want state.ErrFull", err)
	}
	if _, _, err := s.Reserve(ctx, "idem", "fp", time.Minute); !errors.Is(err, state.ErrFull) {
		t.Fatalf("an idempotency record past the ceiling: %v, want state.ErrFull", err)
	}
	if _, err := s.Take(ctx, []state.Rule{clientRule(-1)}); !errors.Is(err, state.ErrFull) {
		t.Fatalf("a client window with nothing left to drop: %v, want state.ErrFull", err)
	}
}

// TestChecksGoOnWhileStartsAreRefused: once spend fills the store up to its headroom, starts are
// refused but windows that guard no spend (a check's per-request_id window) still come and go.
func TestChecksGoOnWhileStartsAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(clocktest.New().Now, MaxKeys(ceiling))
	for i := 0; ; i++ {
		if _, err := s.Take(ctx, []state.Rule{numberRule(i)}); err != nil {
			break
		}
	}
	for i := range 3 * ceiling {
		check := state.Rule{Key: fmt.Sprint("check:", i), Limit: state.Limit{Count: 5, Window: 10 * time.Minute}, Evictable: true}
		if !take(t, s, check) {
			t.Fatalf("check %d refused", i)
		}
		within(t, s)
	}
	if _, err := s.Take(ctx, []state.Rule{numberRule(-1)}); !errors.Is(err, state.ErrFull) {
		t.Fatalf("a start while the store is full of spend: %v, want state.ErrFull", err)
	}
}

// TestTrustedNumbersGoAfterClientWindows: a flood of clients drops other clients' windows, not the
// marks of trusted numbers; those go only when no window is left to drop.
func TestTrustedNumbersGoAfterClientWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(clocktest.New().Now, MaxKeys(ceiling))
	trust := state.Verification{Evictable: true}
	for i := range 100 {
		if err := s.RememberVerification(ctx, fmt.Sprint("trusted:", i), trust, 30*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 * ceiling {
		take(t, s, clientRule(i))
	}
	for i := range 100 {
		if _, found, _ := s.RecallVerification(ctx, fmt.Sprint("trusted:", i)); !found {
			t.Fatalf("trusted number %d was dropped while client windows were left", i)
		}
	}
	// Spend takes all but the headroom, then verifications the rest: the marks go, oldest first.
	for i := 0; ; i++ {
		if _, err := s.Take(ctx, []state.Rule{numberRule(i)}); err != nil {
			break
		}
	}
	for i := 0; ; i++ {
		if err := s.RememberVerification(ctx, fmt.Sprint("id", i), state.Verification{Number: "1"}, time.Hour); err != nil {
			break
		}
	}
	if _, found, _ := s.RecallVerification(ctx, "trusted:99"); found {
		t.Fatal("a trusted number was kept instead of a verification")
	}
	if st := s.Stats(); st.Keys != ceiling || st.Kept != ceiling {
		t.Fatalf("a store full of what it may not drop: %+v", st)
	}
}

// TestCeilingCountsWhatKeysHold: a window counts one key more for every callsPerKey calls it holds,
// and gives them back as its calls leave it.
func TestCeilingCountsWhatKeysHold(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	s := New(clock.Now, MaxKeys(ceiling))
	global := state.Rule{Key: "global", Limit: state.Limit{Count: 1 << 20, Window: time.Minute}}
	for range 10 * callsPerKey {
		take(t, s, global)
	}
	if keys := s.Stats().Keys; keys != 11 {
		t.Fatalf("a window of %d calls counts %d keys, want 11", 10*callsPerKey, keys)
	}
	clock.Advance(time.Minute - time.Second)
	take(t, s, global)
	clock.Advance(time.Second)
	take(t, s, global)
	if keys := s.Stats().Keys; keys != 1 {
		t.Fatalf("a window of 2 calls counts %d keys, want 1", keys)
	}
}

// TestEveryKindIsCounted: what each kind of write adds is taken back when it ends or expires.
func TestEveryKindIsCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New()
	s := New(clock.Now, MaxKeys(ceiling))
	for i, f := range fillers {
		if err := f.fill(ctx, s, i); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if keys := s.Stats().Keys; keys != i+1 {
			t.Fatalf("after %s: %d keys, want %d", f.name, keys, i+1)
		}
	}
	b, _, err := s.Block(ctx, state.Block{Key: "country:XX", Since: clock.Now()}, time.Hour, time.Hour, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if keys := s.Stats().Keys; keys != len(fillers)+2 {
		t.Fatalf("a block and its repeats: %d keys, want %d", keys, len(fillers)+2)
	}
	if _, _, err := s.Lift(ctx, b.Key); err != nil {
		t.Fatal(err)
	}
	clock.Advance(31 * 24 * time.Hour)
	for range 2 {
		take(t, s, clientRule(-1))
	}
	if st := s.Stats(); st.Keys != 1 || st.Kept != 0 {
		t.Fatalf("after everything expired: %+v, want the one new window", st)
	}
}

// TestARefundedWindowHoldsNoKey: a window whose only call was given back is forgotten, so that
// calls taken and given back (a start Vonage never accepted, a limit that turned out not to apply)
// do not fill the store.
func TestARefundedWindowHoldsNoKey(t *testing.T) {
	s := New(nil, MaxKeys(100))
	ctx := context.Background()
	rules := []state.Rule{{Name: "n", Key: "n", Limit: state.Limit{Count: 1, Window: time.Hour}}}
	for i := range 500 {
		rules[0].Key = fmt.Sprint("probation:", i)
		d, err := s.Take(ctx, rules)
		if err != nil || !d.Allowed {
			t.Fatalf("take %d: %+v %v", i, d, err)
		}
		if err := s.Refund(ctx, rules, d.Token); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Keys != 0 {
		t.Fatalf("%d keys held after every call was given back", st.Keys)
	}
}
