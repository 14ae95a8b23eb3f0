package memstore

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// fillers write the i-th key of each kind the store holds, as the guard writes them: keys as long
// as its hashed ones (a prefix and 32 hex digits), records as big as a start's.
var fillers = []struct {
	name string
	fill func(ctx context.Context, s *Store, i int) error
}{
	{"client window", func(ctx context.Context, s *Store, i int) error {
		_, err := s.Take(ctx, []state.Rule{{Key: hexKey("ip:", i), Limit: state.Limit{Count: 30, Window: time.Minute}, Evictable: true}})
		return err
	}},
	{"number window", func(ctx context.Context, s *Store, i int) error {
		_, err := s.Take(ctx, []state.Rule{{Key: hexKey("number:", i), Limit: state.Limit{Count: 3, Window: 10 * time.Minute}}})
		return err
	}},
	{"idempotency record", func(ctx context.Context, s *Store, i int) error {
		key := hexKey("idem:", i)
		if _, _, err := s.Reserve(ctx, key, hexKey("", i), time.Minute); err != nil {
			return err
		}
		body := []byte(`{"request_id":"` + hexKey("", i) + `","status":"0"}` + "\n")
		return s.Complete(ctx, key, state.Record{Fingerprint: hexKey("", i), Done: true,
			Response: state.Response{Status: 200, Body: body}}, 24*time.Hour)
	}},
	{"verification", func(ctx context.Context, s *Store, i int) error {
		v := state.Verification{Number: "1415" + strconv.Itoa(5_000_000+i), Client: "203.0.113.7", Country: "US", Started: 1,
			Window: hexKey("wrong:", i)}
		return s.RememberVerification(ctx, hexKey("", i), v, 10*time.Minute)
	}},
	{"trusted number", func(ctx context.Context, s *Store, i int) error {
		return s.RememberVerification(ctx, hexKey("trusted:", i), state.Verification{Evictable: true}, 30*24*time.Hour)
	}},
	{"test session", func(ctx context.Context, s *Store, i int) error {
		return s.StartSession(ctx, hexKey("", i), "123456", 10*time.Minute)
	}},
	{"fraud key, one minute", func(ctx context.Context, s *Store, i int) error {
		n := state.FraudNote{Kind: state.FraudStarted, StartedAt: s.now(), At: s.now(), Retain: time.Hour}
		return s.NoteFraud(ctx, []string{"prefix:" + strconv.Itoa(1_415_500+i)}, n)
	}},
}

// hexKey is prefix and 32 hex digits made of i, as long as the guard's hashed keys.
func hexKey(prefix string, i int) string {
	h := strconv.FormatUint(uint64(i)*0x9e3779b97f4a7c15, 16)
	for len(h) < 32 {
		h += h
	}
	return prefix + h[:32]
}

// BenchmarkBytesPerKey measures the heap a key of each kind takes, as the ceiling counts keys, to
// size MEMORY_STORE_MAX_KEYS: run with -bench BytesPerKey -benchtime 1x.
func BenchmarkBytesPerKey(b *testing.B) {
	const n = 100_000
	for _, f := range fillers {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				perKey, _ := bytesPerKey(b, f.fill, n)
				b.ReportMetric(perKey, "B/key")
			}
		})
	}
}

// bytesPerKey fills a store with n keys by fill and answers the heap they take per key held.
func bytesPerKey(tb testing.TB, fill func(context.Context, *Store, int) error, n int) (float64, int) {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := New(func() time.Time { return start })
	ctx := context.Background()
	for i := range n {
		if err := fill(ctx, s, i); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	keys := s.Stats().Keys
	runtime.KeepAlive(s)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(keys), keys
}
