package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// These tests run real redis-server processes (see redistest) and two servers where it matters,
// as replicas behind a load balancer would be.

func TestReplicasSharingRedisEnforceOneBudget(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	fake := v1test.NewServer(t)
	limits := guard.Limits{IP: limit(100, time.Minute), Number: limit(3, 10*time.Minute)}
	a := newHarness(t, options{fake: fake, limits: limits, store: redisStore(t, srv)})
	b := newHarness(t, options{fake: fake, limits: limits, store: redisStore(t, srv)})

	for i, h := range []*harness{a, b, a} {
		if r := h.postJSON("/request", requestBody("14155550100")); r.status == http.StatusTooManyRequests {
			t.Fatalf("start %d limited: %s", i+1, r.raw)
		}
	}
	for name, h := range map[string]*harness{"a": a, "b": b} {
		r := h.postJSON("/request", requestBody("+1 415 555 0100"))
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.str("error_text"), "per phone number") {
			t.Fatalf("replica %s let a 4th start through: %d %s", name, r.status, r.raw)
		}
	}
	if n := a.upstreamCalls(v1test.PathStart); n != 3 {
		t.Fatalf("the Verify API got %d starts from two replicas, want 3", n)
	}
}

func TestReplicasShareIdempotencyAndTestSessions(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	fake := v1test.NewServer(t)
	a := newHarness(t, options{fake: fake, testNumbers: reviewNumbers, store: redisStore(t, srv)})
	b := newHarness(t, options{fake: fake, testNumbers: reviewNumbers, store: redisStore(t, srv)})

	first := a.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	again := b.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	if first.status != http.StatusOK || !bytes.Equal(first.raw, again.raw) || a.upstreamCalls(v1test.PathStart) != 1 {
		t.Fatalf("a retry on another replica: %s / %s", first.raw, again.raw)
	}

	id := a.postJSON("/request", requestBody("15555550100")).str("request_id")
	b.postJSON("/check", checkBody(id, "999999"))
	a.postJSON("/check", checkBody(id, "999999"))
	if r := b.postJSON("/check", checkBody(id, "999999")); r.str("error") != "too_many_attempts" {
		t.Fatalf("wrong codes spread over replicas must add up: %d %s", r.status, r.raw)
	}
}

// redisOutage is a server on a Redis of its own, with a Vonage verification (id) and a test one
// (testID) started before Redis goes away.
func redisOutage(t *testing.T) (h *harness, srv *redistest.Server, id, testID string) {
	t.Helper()
	srv = redistest.Start(t)
	h = newHarness(t, options{store: redisStore(t, srv), testNumbers: reviewNumbers,
		limits: guard.Limits{IP: limit(100, time.Minute), Number: limit(3, 10*time.Minute), Check: limit(5, 10*time.Minute)}})
	id = h.postJSON("/request", requestBody("14155550100")).str("request_id")
	testID = h.postJSON("/request", requestBody("15555550100")).str("request_id")
	if id == "" || testID == "" {
		t.Fatal("starts before the outage failed")
	}
	srv.Stop()
	return h, srv, id, testID
}

// TestRedisOutageFailsStartsClosed: with Redis gone, starts are refused (503) so spending stays
// bounded, and the outage is logged once, not per request.
func TestRedisOutageFailsStartsClosed(t *testing.T) {
	t.Parallel()
	h, _, _, _ := redisOutage(t)
	for i := range 5 {
		r := h.postJSON("/request", requestBody("442071838750"))
		if r.status != http.StatusServiceUnavailable || r.str("error") != "unavailable" {
			t.Fatalf("start %d during the outage: %d %s, want 503 unavailable", i+1, r.status, r.raw)
		}
		if r := h.postWith("/request", requestBody("442071838750"), withKey(idemKey)); r.status != http.StatusServiceUnavailable {
			t.Fatalf("idempotent start during the outage: %d %s", r.status, r.raw)
		}
	}
	if n := h.upstreamCalls(v1test.PathStart); n != 1 {
		t.Fatalf("starts reached the Verify API during the outage: %d calls", n)
	}
	if got := metricstest.Scrape(t, h.metrics+"/metrics").Sum("verify_proxy_store_failures_total", "outcome", "refused"); got != 10 {
		t.Errorf("store failures refused = %v, want 10: one per start refused", got)
	}
	if n := strings.Count(h.logs.String(), "shared state failing"); n != 1 {
		t.Fatalf("the outage was logged %d times, want once:\n%s", n, h.logs)
	}
}

// TestRedisOutageLetsChecksAndCancelsGoOn: checks and cancels of Vonage verifications need no
// shared state, so they go on through an outage; a test verification lives in the store, so it
// cannot.
func TestRedisOutageLetsChecksAndCancelsGoOn(t *testing.T) {
	t.Parallel()
	h, _, id, testID := redisOutage(t)
	if r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); r.status != http.StatusOK {
		t.Fatalf("check during the outage: %d %s", r.status, r.raw)
	}
	id2 := "fedcba9876543210fedcba9876543210"
	if r := h.postJSON("/cancel", cancelBody(id2)); r.status == http.StatusServiceUnavailable || h.upstreamCalls(v1test.PathControl) != 1 {
		t.Fatalf("cancel during the outage must reach the Verify API: %d %s", r.status, r.raw)
	}
	if r := h.postJSON("/check", checkBody(testID, "123456")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("a test session cannot be checked without its store: %d %s", r.status, r.raw)
	}
	if n := strings.Count(h.logs.String(), "shared state failing"); n != 1 {
		t.Fatalf("the outage was logged %d times, want once:\n%s", n, h.logs)
	}
}

// TestRedisRecoveryIsLoggedOnceAfterAQuietPeriod: when Redis is back everything works again, and
// the end of the outage is logged once Redis has answered for a while.
func TestRedisRecoveryIsLoggedOnceAfterAQuietPeriod(t *testing.T) {
	t.Parallel()
	h, srv, _, _ := redisOutage(t)
	if r := h.postJSON("/request", requestBody("442071838750")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("start during the outage: %d %s, want 503", r.status, r.raw)
	}

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.postJSON("/request", requestBody("442071838750"))
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after Redis came back: %d %s", r.status, r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(h.logs.String(), "shared state answering again") {
		t.Errorf("recovery was logged before Redis had answered for a while:\n%s", h.logs)
	}
	h.clock.Advance(time.Minute) // quiet long enough: the next answer ends the outage
	if r := h.postJSON("/request", requestBody("14155550199")); r.status != http.StatusOK {
		t.Fatalf("after the quiet period: %d %s", r.status, r.raw)
	}
	if n := strings.Count(h.logs.String(), "shared state answering again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once:\n%s", n, h.logs)
	}
}

func TestRedisFailOpenLetsStartsThrough(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	h := newHarness(t, options{store: redisStore(t, srv), failOpen: true,
		limits: guard.Limits{IP: limit(1, time.Minute), Number: limit(1, 10*time.Minute)}})
	srv.Stop()
	for i, number := range []string{"14155550100", "442071838750"} {
		if r := h.postWith("/request", requestBody(number), withKey(idemKey+number)); r.status != http.StatusOK {
			t.Fatalf("start %d with REDIS_FAIL_OPEN: %d %s", i+1, r.status, r.raw)
		}
	}
	// The operator can see that starts went on without limits, not only that they started.
	m := metricstest.Scrape(t, h.metrics+"/metrics")
	if got := m.Sum("verify_proxy_store_failures_total", "outcome", "let_through"); got < 2 {
		t.Errorf("store failures let through = %v, want at least one per start", got)
	}
	if got := m.Sum("verify_proxy_store_failures_total", "outcome", "refused"); got != 0 {
		t.Errorf("store failures refused = %v with REDIS_FAIL_OPEN", got)
	}
	if n := strings.Count(h.logs.String(), "shared state failing"); n != 1 {
		t.Fatalf("the outage was logged %d times, want once", n)
	}
}

// TestRedisOutageCountsTheLimitsInMemory: while Redis is gone, the per-IP and per-request_id limits
// of the calls that go on are counted in this replica's memory rather than switched off, and the
// operator is told so.
func TestRedisOutageCountsTheLimitsInMemory(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	h := newHarness(t, options{store: redisStore(t, srv), memoryFallback: true,
		limits: guard.Limits{IP: limit(5, time.Minute), Check: limit(2, 10*time.Minute)}})
	id := startOK(t, h, "14155550100")
	srv.Stop()

	for i := range 2 {
		if r := h.postJSON("/check", checkBody(id, "0000")); r.str("error") != "code_mismatch" {
			t.Fatalf("wrong code %d during the outage: %d %s", i+1, r.status, r.raw)
		}
	}
	if r := h.postJSON("/check", checkBody(id, "0000")); r.status != http.StatusTooManyRequests ||
		!strings.Contains(r.str("error_text"), "per request_id") {
		t.Fatalf("3rd check of one id during the outage: %d %s, want the per-request_id limit", r.status, r.raw)
	}
	// Three calls of this address were counted in memory; two more are allowed (the start before
	// the outage was counted in Redis).
	if r := h.postJSON("/cancel", cancelBody(id)); r.status != http.StatusOK {
		t.Fatalf("cancel during the outage: %d %s", r.status, r.raw)
	}
	if r := h.postJSON("/cancel", cancelBody(id)); r.str("error") != "not_found" {
		t.Fatalf("cancel again during the outage: %d %s", r.status, r.raw)
	}
	if r := h.postJSON("/cancel", cancelBody(id)); r.status != http.StatusTooManyRequests ||
		!strings.Contains(r.str("error_text"), "per client IP") {
		t.Fatalf("6th call from one address during the outage: %d %s, want the per-IP limit", r.status, r.raw)
	}
	m := metricstest.Scrape(t, h.metrics+"/metrics")
	if got := m.Sum("verify_proxy_store_failures_total", "outcome", "memory"); got < 6 {
		t.Errorf("store failures counted in memory = %v, want one per limited call at least", got)
	}
	if got := m.Sum("verify_proxy_store_failures_total", "outcome", "let_through"); got != 0 {
		t.Errorf("store failures let through uncounted = %v", got)
	}
	if n := strings.Count(h.logs.String(), "counted in this replica's memory"); n != 1 {
		t.Fatalf("the outage and its memory limits were logged %d times, want once:\n%s", n, h.logs)
	}
}

// TestRedisFailOpenCountsStartsInMemory: REDIS_FAIL_OPEN lets starts go on, but not without limits.
func TestRedisFailOpenCountsStartsInMemory(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	h := newHarness(t, options{store: redisStore(t, srv), failOpen: true, memoryFallback: true,
		limits: guard.Limits{Number: limit(1, 10*time.Minute)}})
	srv.Stop()
	startOK(t, h, "14155550100")
	if r := h.postJSON("/request", requestBody("14155550100")); r.status != http.StatusTooManyRequests {
		t.Fatalf("a second start to one number with REDIS_FAIL_OPEN: %d %s, want the per-number limit", r.status, r.raw)
	}
}

// TestAReplicaSignsAVerificationAnotherStarted: replicas sharing Redis and one key prove the number a
// verification was started for, whichever replica the check lands on.
func TestAReplicaSignsAVerificationAnotherStarted(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	fake := v1test.NewServer(t)
	key := newKey(t)
	a := newHarness(t, options{fake: fake, store: redisStore(t, srv), tokens: issuerWith(t, key)})
	b := newHarness(t, options{fake: fake, store: redisStore(t, srv), tokens: issuerWith(t, key)})
	id := startOK(t, a, "+44 20 7183 8750")
	c := b.verified(b.postJSON("/check", checkBody(id, fake.CodeFor(id))))
	if c.PhoneNumber != "+442071838750" || c.RequestID != id {
		t.Fatalf("claims %+v", c)
	}
}
