package server_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// trips counts what go-redis sends to a real redis-server: round trips (a command alone, or a
// pipeline) and the commands in them, and how many round trips had been made when the backend was
// asked.
type trips struct {
	mu               sync.Mutex
	roundTrips, cmds int
	atBackend        []int // roundTrips when each backend call began
}

func (c *trips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *trips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(1)
		return next(ctx, cmd)
	}
}

func (c *trips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.add(len(cmds))
		return next(ctx, cmds)
	}
}

func (c *trips) add(cmds int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roundTrips++
	c.cmds += cmds
}

// reset starts counting one API call.
func (c *trips) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roundTrips, c.cmds, c.atBackend = 0, 0, nil
}

func (c *trips) read() (roundTrips, cmds int, atBackend []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roundTrips, c.cmds, append([]int(nil), c.atBackend...)
}

// backendSeen notes each call to the backend in c.
type backendSeen struct {
	verify.Provider
	c *trips
}

func (b backendSeen) note() {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	b.c.atBackend = append(b.c.atBackend, b.c.roundTrips)
}

func (b backendSeen) Start(ctx context.Context, number string) (verify.Started, error) {
	b.note()
	return b.Provider.Start(ctx, number)
}

func (b backendSeen) Check(ctx context.Context, requestID, code string) (verify.Checked, error) {
	b.note()
	return b.Provider.Check(ctx, requestID, code)
}

func (b backendSeen) Cancel(ctx context.Context, requestID string) error {
	b.note()
	return b.Provider.Cancel(ctx, requestID)
}

// TestEachCallMakesAtMostTwoRedisRoundTrips: with every limit and the fraud guard on, each API call
// makes at most two round trips to a real redis-server, and at most one before Vonage is asked:
// whatever it needs to decide goes in one batch, whatever it settles in another.
func TestEachCallMakesAtMostTwoRedisRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	counter := &trips{}
	store, err := redisstore.New(srv.URL(), redisstore.Options{Hook: counter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	limits := guard.Limits{IP: limit(1000, time.Minute), Number: limit(2, time.Hour), Check: limit(100, time.Hour),
		Country: limit(1000, time.Hour), Global: limit(1000, time.Hour), Prefix: limit(1000, time.Hour),
		WrongCodes: limit(100, time.Hour)}
	h := newHarness(t, options{store: store, limits: limits, fraud: fraudOptions(guard.FraudEnforce),
		wrapProvider: func(p verify.Provider) verify.Provider { return backendSeen{p, counter} }})

	// Redis learns the scripts on their first run (a second round trip then); from there on:
	first := h.postWith("/request", requestBody("14155550100"), map[string]string{"Idempotency-Key": "k0"})
	if first.status != http.StatusOK {
		t.Fatalf("first start: %d %s", first.status, first.raw)
	}
	id := first.str("request_id")
	h.postJSON("/check", checkBody(id, "0000"))
	h.postJSON("/cancel", cancelBody(id))

	var second, third *response
	tests := []struct {
		name    string
		call    func() *response
		status  int
		backend int // calls to the backend
	}{
		{"a start with an Idempotency-Key", func() *response {
			second = h.postWith("/request", requestBody("14155550123"), map[string]string{"Idempotency-Key": "k1"})
			return second
		}, http.StatusOK, 1},
		{"its replay", func() *response {
			return h.postWith("/request", requestBody("14155550123"), map[string]string{"Idempotency-Key": "k1"})
		}, http.StatusOK, 0},
		{"a wrong code", func() *response { return h.postJSON("/check", checkBody(second.str("request_id"), "0000")) },
			http.StatusOK, 1},
		{"the right code", func() *response {
			id := second.str("request_id")
			return h.postJSON("/check", checkBody(id, h.fake.CodeFor(id)))
		}, http.StatusOK, 1},
		{"a start of a number verified here (trusted)", func() *response {
			third = h.postJSON("/request", requestBody("14155550123"))
			return third
		}, http.StatusOK, 1},
		{"a cancel", func() *response { return h.postJSON("/cancel", cancelBody(third.str("request_id"))) }, http.StatusOK, 1},
		{"a start over the per-number limit", func() *response { return h.postJSON("/request", requestBody("14155550123")) },
			http.StatusTooManyRequests, 0},
		{"an invalid number", func() *response { return h.postJSON("/request", requestBody("12")) }, http.StatusBadRequest, 0},
		{"a body the contract refuses", func() *response { return h.postJSON("/check", `{"request_id": 7}`) }, http.StatusBadRequest, 0},
		{"a check of an unknown request_id", func() *response { return h.postJSON("/check", checkBody("0123456789abcdef0123456789abcdef", "1234")) },
			http.StatusOK, 1},
	}
	for _, tt := range tests {
		counter.reset()
		r := tt.call()
		roundTrips, cmds, atBackend := counter.read()
		if r.status != tt.status && !(tt.status == http.StatusOK && r.status < 500 && tt.backend == 1) {
			t.Errorf("%s: %d %s, want %d", tt.name, r.status, r.raw, tt.status)
		}
		if len(atBackend) != tt.backend {
			t.Errorf("%s: %d calls to the backend, want %d", tt.name, len(atBackend), tt.backend)
		}
		if roundTrips > 2 || (len(atBackend) > 0 && atBackend[0] > 1) {
			t.Errorf("%s: %d round trips (%d commands), %v of them before the backend; want at most 2, 1 before",
				tt.name, roundTrips, cmds, atBackend)
		}
		t.Logf("%s: %d round trips, %d commands", tt.name, roundTrips, cmds)
	}
}
