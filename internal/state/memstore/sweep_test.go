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
	}
	clock.Advance(2 * time.Minute)
	_, _ = s.Take(ctx, []state.Rule{{Key: "ip:new", Limit: state.Limit{Count: 5, Window: time.Minute}}})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.windows) != 1 || len(s.records) != 0 || len(s.sessions) != 0 {
		t.Fatalf("after the windows passed: %d windows, %d records, %d sessions kept", len(s.windows), len(s.records), len(s.sessions))
	}
}
