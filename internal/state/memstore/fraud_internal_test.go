package memstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// TestFraudCountsStayBoundedUnderAFloodOfPrefixes: starts to ever new prefixes within one window
// cannot grow the counts past maxFraudKeys, and the newest keys are the ones kept.
func TestFraudCountsStayBoundedUnderAFloodOfPrefixes(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	s := New(clock.Now)
	ctx := context.Background()
	for i := range maxFraudKeys + maxFraudKeys/2 {
		clock.Advance(time.Millisecond)
		err := s.NoteFraud(ctx, []string{"prefix:" + strconv.Itoa(i)}, state.FraudNote{Kind: state.FraudStarted,
			StartedAt: clock.Now(), At: clock.Now(), Retain: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.fraud); n > maxFraudKeys {
		t.Fatalf("%d keys held, more than %d", n, maxFraudKeys)
	}
	last := "prefix:" + strconv.Itoa(maxFraudKeys+maxFraudKeys/2-1)
	if recs, _ := s.ReadFraud(ctx, []string{last, "prefix:0"}); len(recs[0].Buckets) != 1 || len(recs[1].Buckets) != 0 {
		t.Fatalf("the newest key must be kept and the oldest dropped: %+v", recs)
	}
}
