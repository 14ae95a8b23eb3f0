package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
	"github.com/verify-proxy/verify-proxy/internal/state/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(_ *testing.T, now func() time.Time) state.Store { return memstore.New(now) })
}

// TestConformanceUnderACeiling: a store with a ceiling behaves as any other while it has room.
func TestConformanceUnderACeiling(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(_ *testing.T, now func() time.Time) state.Store {
		return memstore.New(now, memstore.MaxKeys(10_000))
	})
}

func TestRecordsAndSessionsExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New()
	store := memstore.New(clock.Now)

	if _, reserved, _ := store.Reserve(ctx, "k", "fp", time.Minute); !reserved {
		t.Fatal("first reserve")
	}
	clock.Advance(time.Minute)
	if _, reserved, _ := store.Reserve(ctx, "k", "other", time.Minute); !reserved {
		t.Fatal("an in-flight record whose lease ran out must give way (its process may have died)")
	}
	_ = store.Complete(ctx, "k", state.Record{Fingerprint: "other", Done: true}, time.Hour)
	clock.Advance(time.Hour - time.Second)
	if _, reserved, _ := store.Reserve(ctx, "k", "other", time.Minute); reserved {
		t.Fatal("a finished record must be kept for its ttl")
	}
	clock.Advance(time.Second)
	if _, reserved, _ := store.Reserve(ctx, "k", "other", time.Minute); !reserved {
		t.Fatal("a finished record must be forgotten after its ttl")
	}

	_ = store.StartSession(ctx, "s", "1234", 5*time.Minute)
	clock.Advance(5 * time.Minute)
	if got, _ := store.CheckSession(ctx, "s", "1234", 3); got != state.CodeUnknown {
		t.Fatalf("an expired session must be unknown, got %v", got)
	}
	_ = store.StartSession(ctx, "s", "1234", 5*time.Minute)
	clock.Advance(5 * time.Minute)
	if ended, _ := store.EndSession(ctx, "s"); ended {
		t.Fatal("ending an expired session must report that it did not exist")
	}
}
