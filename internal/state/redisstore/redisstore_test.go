package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/state/storetest"
)

// TestConformance holds the Redis store to the in-memory store's behaviour. Each test gets its own
// redis-server; windows follow the test's clock so the tables need no sleeping. Every key a test
// leaves behind must carry an expiry.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, now func() time.Time) state.Store {
		srv := redistest.Start(t)
		everyKeyExpires(t, srv.Addr())
		return newStore(t, srv, redisstore.Options{Now: now})
	})
}

func newStore(t *testing.T, srv *redistest.Server, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(srv.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestWindowsOnRedisClock: without an injected clock, windows follow Redis's TIME, as in production.
func TestWindowsOnRedisClock(t *testing.T) {
	t.Parallel()
	s := newStore(t, redistest.Start(t), redisstore.Options{})
	rules := []state.Rule{{Key: "n", Limit: state.Limit{Count: 2, Window: time.Hour}}}
	for i, want := range []bool{true, true, false} {
		d, err := s.Take(context.Background(), rules)
		if err != nil || d.Allowed != want {
			t.Fatalf("call %d: %+v %v, want allowed=%v", i+1, d, err, want)
		}
		if !want && (d.RetryAfter <= 59*time.Minute || d.RetryAfter > time.Hour) {
			t.Fatalf("retry after %s, want just under an hour", d.RetryAfter)
		}
	}
}

// TestRecordsAndSessionsExpireInRedis: keys carry their TTL, so Redis forgets them on its own.
// Expiry follows Redis's clock, so this polls with a deadline instead of moving a fake clock.
func TestRecordsAndSessionsExpireInRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, redistest.Start(t), redisstore.Options{})
	if _, reserved, err := s.Reserve(ctx, "k", "fp", 50*time.Millisecond); err != nil || !reserved {
		t.Fatalf("reserve: %v %v", reserved, err)
	}
	if err := s.StartSession(ctx, "s", "1234", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the in-flight record expires", func() bool {
		_, reserved, err := s.Reserve(ctx, "k", "fp", time.Hour)
		return err == nil && reserved
	})
	eventually(t, "the session expires", func() bool {
		got, err := s.CheckSession(ctx, "s", "1234", 3)
		return err == nil && got == state.CodeUnknown
	})
}

// TestUnreachableRedisIsErrUnavailable: every operation says so quickly, and recovers by itself.
func TestUnreachableRedisIsErrUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{})
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	rules := []state.Rule{{Key: "n", Limit: state.Limit{Count: 1, Window: time.Minute}}}
	calls := map[string]func() error{
		"take":          func() error { _, err := s.Take(ctx, rules); return err },
		"reserve":       func() error { _, _, err := s.Reserve(ctx, "k", "fp", time.Minute); return err },
		"complete":      func() error { return s.Complete(ctx, "k", state.Record{}, time.Minute) },
		"release":       func() error { return s.Release(ctx, "k") },
		"start session": func() error { return s.StartSession(ctx, "s", "1234", time.Minute) },
		"check session": func() error { _, err := s.CheckSession(ctx, "s", "1234", 3); return err },
		"end session":   func() error { _, err := s.EndSession(ctx, "s"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, state.ErrUnavailable) {
			t.Errorf("%s with Redis stopped: %v, want state.ErrUnavailable", name, err)
		}
	}
	srv.Restart()
	eventually(t, "the store works again once Redis is back", func() bool {
		d, err := s.Take(ctx, rules)
		return err == nil && d.Allowed
	})
}

func TestNewRefusesBadURLWithoutEchoingIt(t *testing.T) {
	t.Parallel()
	_, err := redisstore.New("http://:hunter2@example.test", redisstore.Options{})
	if err == nil {
		t.Fatal("a non-redis URL was accepted")
	}
	if got := err.Error(); got == "" || strings.Contains(got, "hunter2") {
		t.Fatalf("error %q must not repeat the URL", got)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLibraryLogGoesToDebug: during an outage go-redis logs every failed dial; those lines must not
// reach the operator's log at Info, where the guard logs the outage once. Not parallel: go-redis
// has one logger per process, and this test sets it.
func TestLibraryLogGoesToDebug(t *testing.T) {
	logger, buf := logtest.New()
	redisstore.LogLibraryTo(logger)
	t.Cleanup(func() { redisstore.LogLibraryTo(slog.New(slog.DiscardHandler)) })

	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{})
	srv.Stop()
	_, _ = s.Take(context.Background(), []state.Rule{{Key: "n", Limit: state.Limit{Count: 1, Window: time.Minute}}})
	if !strings.Contains(buf.String(), `"level":"DEBUG","msg":"go-redis: `) {
		t.Fatalf("go-redis's dial failure was not logged at debug level:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), `"level":"INFO"`) || strings.Contains(buf.String(), `"level":"ERROR"`) {
		t.Fatalf("go-redis logged above debug:\n%s", buf.String())
	}
}

// TestPingNeedsAWritableRedis: readiness asks what /request needs. A replica that turned read-only
// after a failover still answers PING, but refuses every limit's write.
func TestPingNeedsAWritableRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = admin.Close() })

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("a writable Redis: %v", err)
	}
	// A replica of a master that is not there: it answers, and refuses writes.
	if err := admin.ReplicaOf(ctx, "127.0.0.1", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("a read-only replica passed: %v", err)
	}
	if err := admin.ReplicaOf(ctx, "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("writable again: %v", err)
	}
}

// TestBatchAfterRedisForgotItsScripts: a Redis that restarted or failed over knows none of the
// scripts; a batch then sends the ones it refused whole, and each call counts once.
func TestBatchAfterRedisForgotItsScripts(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{})
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = admin.Close() })
	r := state.Rule{Name: "n", Key: "n", Limit: state.Limit{Count: 2, Window: time.Hour}}
	for i := range 3 {
		if err := admin.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		take := &state.TakeCall{Rules: []state.Rule{r}}
		remember := &state.RememberCall{ID: "v", Verification: state.Verification{Number: "14155550100"}, TTL: time.Hour}
		if err := s.Batch(ctx, take, remember); err != nil {
			t.Fatalf("batch %d: %v", i+1, err)
		}
		if take.Decision.Allowed != (i < 2) {
			t.Fatalf("take %d of a limit of 2: %+v", i+1, take.Decision)
		}
	}
}

// TestBatchToAnUnreachableRedisFailsEveryCall: go-redis leaves commands of a pipeline that could
// not be sent without an error of their own; a batch must not read them as done, or a record it
// failed to keep would not be kept in memory instead.
func TestBatchToAnUnreachableRedisFailsEveryCall(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{})
	srv.Stop()
	r := state.Rule{Name: "n", Key: "n", Limit: state.Limit{Count: 2, Window: time.Hour}}
	take := &state.TakeCall{Rules: []state.Rule{r}}
	reserve := &state.ReserveCall{Key: "k", Fingerprint: "f", Lease: time.Minute}
	remember := &state.RememberCall{ID: "v", Verification: state.Verification{Number: "14155550100"}, TTL: time.Hour}
	refund := &state.RefundCall{Rules: []state.Rule{r}, Token: "t"}
	release := &state.ReleaseCall{Key: "k"}
	recall := &state.RecallCall{ID: "v"}
	read := &state.ReadFraudCall{Keys: []string{"country:US"}}
	err := s.Batch(context.Background(), take, reserve, remember, refund, release, recall, read)
	if !errors.Is(err, state.ErrUnavailable) {
		t.Fatalf("batch: %v, want unavailable", err)
	}
	for i, err := range []error{take.Err, reserve.Err, remember.Err, refund.Err, release.Err, recall.Err, read.Err} {
		if !errors.Is(err, state.ErrUnavailable) {
			t.Errorf("call %d: %v, want unavailable", i+1, err)
		}
	}
}
