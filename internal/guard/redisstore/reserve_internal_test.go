package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/guard/redisstore/redistest"
)

// TestAResentReserveKeepsItsLease: go-redis resends a call that timed out, and a slow Redis then
// runs it twice. The second run must find its own lease, not another request in flight.
func TestAResentReserveKeepsItsLease(t *testing.T) {
	srv := redistest.Start(t)
	s, err := New(srv.URL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	first := guard.Record{Fingerprint: "f1", Owner: "call-1"}
	for try := range 2 {
		if _, reserved, err := s.reserve(ctx, "idem:k", first, time.Minute); err != nil || !reserved {
			t.Fatalf("try %d of one call: reserved %v, err %v", try+1, reserved, err)
		}
	}
	rec, reserved, err := s.reserve(ctx, "idem:k", guard.Record{Fingerprint: "f1", Owner: "call-2"}, time.Minute)
	if err != nil || reserved || rec.Fingerprint != "f1" || rec.Done {
		t.Fatalf("another call: reserved %v, record %+v, err %v; want the first call's lease in flight", reserved, rec, err)
	}
}
