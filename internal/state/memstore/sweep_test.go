package memstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// TestMemoryFollowsRecentTraffic: keys of callers long gone are dropped, so a flood of distinct
// IPs or numbers does not grow the process for ever.
func TestMemoryFollowsRecentTraffic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New()
	s := New(clock.Now)
	for i := range 1000 {
		_, _ = s.Take(ctx, []state.Rule{{Key: fmt.Sprint("ip:", i), Limit: state.Limit{Count: 5, Window: time.Minute}}})
		_, _, _ = s.Reserve(ctx, fmt.Sprint("idem:", i), "fp", time.Minute)
		_ = s.StartSession(ctx, fmt.Sprint("test", i), "1234", time.Minute)
		_ = s.RememberVerification(ctx, fmt.Sprint("id", i), state.Verification{Number: "1"}, time.Minute)
	}
	clock.Advance(2 * time.Minute)
	for range 4000/sweepBatch + 1 {
		_, _ = s.Take(ctx, []state.Rule{{Key: "ip:new", Limit: state.Limit{Count: 5000, Window: time.Minute}}})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.windows) != 1 || len(s.records) != 0 || len(s.sessions) != 0 || len(s.verifications) != 0 ||
		s.used != s.windows["ip:new"].cost() {
		t.Fatalf("after the windows passed: %d windows, %d records, %d sessions, %d verifications kept (%d keys)",
			len(s.windows), len(s.records), len(s.sessions), len(s.verifications), s.used)
	}
}

// TestSweepIsSpreadOverCalls: when 200,000 keys expire at once, no call looks at more than
// sweepBatch of them; the calls that follow take them all out, a batch each.
func TestSweepIsSpreadOverCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New()
	s := New(clock.Now)
	const keys = 200_000
	for i := range keys {
		rule := state.Rule{Key: fmt.Sprint("ip:", i), Limit: state.Limit{Count: 5, Window: time.Minute}, Evictable: true}
		if _, err := s.Take(ctx, []state.Rule{rule}); err != nil {
			t.Fatal(err)
		}
	}
	if s.swept != 0 {
		t.Fatalf("%d keys looked at while none had expired", s.swept)
	}
	clock.Advance(2 * time.Minute)
	calls := 0
	for s.held() > 1 {
		before := s.swept
		if _, err := s.Take(ctx, []state.Rule{{Key: "ip:new", Limit: state.Limit{Count: 1 << 20, Window: time.Hour}}}); err != nil {
			t.Fatal(err)
		}
		if work := s.swept - before; work > sweepBatch {
			t.Fatalf("call %d looked at %d keys, more than %d", calls, work, sweepBatch)
		}
		calls++
		if calls > keys/sweepBatch+1 {
			t.Fatalf("%d keys still held after %d calls", s.held(), calls)
		}
	}
}

// TestAWindowInUseOutlivesItsFirstExpiry: a window is queued for when its first call leaves it;
// when later calls still hold it, the sweep queues it again instead of dropping it.
func TestAWindowInUseOutlivesItsFirstExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New()
	s := New(clock.Now)
	rule := []state.Rule{{Key: "number:1", Limit: state.Limit{Count: 2, Window: time.Minute}}}
	take := func() bool {
		t.Helper()
		d, err := s.Take(ctx, rule)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	take()
	clock.Advance(50 * time.Second)
	take()
	clock.Advance(20 * time.Second) // the first call left; the second is 20s old
	for i := range 10 {
		_, _ = s.Take(ctx, []state.Rule{{Key: fmt.Sprint("other:", i), Limit: state.Limit{Count: 1, Window: time.Minute}}})
	}
	if !take() || take() {
		t.Fatal("the window must still hold its second call: one more call fits under a limit of 2, not two")
	}
}

// held counts the windows s holds.
func (s *Store) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.windows)
}
