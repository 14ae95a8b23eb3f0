package memstore

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// TestFraudCountsAreKeptUnderAFloodOfPrefixes: starts to ever new prefixes cannot grow the counts
// past the ceiling, and the counts are evidence: the earliest are kept, and a note that finds no
// room fails rather than drop one.
func TestFraudCountsAreKeptUnderAFloodOfPrefixes(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	const most = 1000
	s := New(clock.Now, MaxKeys(most))
	ctx := context.Background()
	refused := 0
	for i := range 2 * most {
		clock.Advance(time.Millisecond)
		err := s.NoteFraud(ctx, []string{"prefix:" + strconv.Itoa(i)}, state.FraudNote{Kind: state.FraudStarted,
			StartedAt: clock.Now(), At: clock.Now(), Retain: time.Hour})
		switch {
		case errors.Is(err, state.ErrFull):
			refused++
		case err != nil:
			t.Fatal(err)
		}
		if keys := s.Stats().Keys; keys > most {
			t.Fatalf("%d keys held, more than %d", keys, most)
		}
	}
	if refused != most {
		t.Fatalf("%d notes refused, want %d", refused, most)
	}
	last := "prefix:" + strconv.Itoa(2*most-1)
	if recs, _ := s.ReadFraud(ctx, []string{"prefix:0", last}); len(recs[0].Buckets) != 1 || len(recs[1].Buckets) != 0 {
		t.Fatalf("the first counts must be kept and the note that found no room not: %+v", recs)
	}
}
