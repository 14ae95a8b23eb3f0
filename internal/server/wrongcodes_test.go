package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// Wrong codes are counted per number over all its verifications, so that a brute force that
// starts a fresh verification every three guesses is bounded too.

// startOK starts a verification of number and returns its request_id.
func startOK(t *testing.T, h *harness, number string) string {
	t.Helper()
	r := h.postJSON("/request", requestBody(number))
	if r.status != http.StatusOK || r.str("request_id") == "" {
		t.Fatalf("start %s: %d %s", number, r.status, r.raw)
	}
	return r.str("request_id")
}

// wrongCodeLimited fails t unless r is the wrong-code limit's refusal.
func wrongCodeLimited(t *testing.T, r *response) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.str("error") != "rate_limited" ||
		!strings.Contains(r.str("error_text"), "wrong codes") {
		t.Fatalf("got %d %s, want 429 rate_limited for wrong codes", r.status, r.raw)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}
}

func TestWrongCodesAreLimitedPerNumberAcrossItsVerifications(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{WrongCodes: limit(4, 24*time.Hour)}})
	first := startOK(t, h, "14155550100")
	for i, want := range []string{"code_mismatch", "code_mismatch", "too_many_attempts"} {
		if r := h.postJSON("/check", checkBody(first, "0000")); r.str("error") != want {
			t.Fatalf("wrong code %d: %d %s, want %s", i+1, r.status, r.raw, want)
		}
	}
	// The third wrong code ended the first verification; a fresh one gets one more guess, not three.
	second := startOK(t, h, "+1 415 555 0100")
	if r := h.postJSON("/check", checkBody(second, "0000")); r.str("error") != "code_mismatch" {
		t.Fatalf("4th wrong code: %d %s", r.status, r.raw)
	}
	checks := h.upstreamCalls(v1test.PathCheck)
	// Now even the right code is not checked: the number's budget of guesses is spent.
	wrongCodeLimited(t, h.postJSON("/check", checkBody(second, h.fake.CodeFor(second))))
	wrongCodeLimited(t, h.postJSON("/check", checkBody(strings.ToUpper(second), "1111")))
	if n := h.upstreamCalls(v1test.PathCheck); n != checks {
		t.Fatalf("the Verify API got %d more checks after the limit", n-checks)
	}
	// Another number has a budget of its own.
	other := startOK(t, h, "442071838750")
	if r := h.postJSON("/check", checkBody(other, h.fake.CodeFor(other))); r.status != http.StatusOK {
		t.Fatalf("another number's check: %d %s", r.status, r.raw)
	}
	m := metricstest.Scrape(t, h.metrics+"/metrics")
	if got := m.Sum("verify_proxy_refusals_total", "rule", "wrong_codes"); got != 2 {
		t.Errorf("refusals by the wrong-code rule = %v, want 2", got)
	}
}

// TestOnlyWrongCodesCountAgainstTheNumber: a right code, an ended verification (status 6) and a
// failure of the Verify API cost the number nothing; statuses 16 and 17 do.
func TestOnlyWrongCodesCountAgainstTheNumber(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{WrongCodes: limit(2, time.Hour)}})
	id := startOK(t, h, "14155550100")
	if r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); r.status != http.StatusOK {
		t.Fatalf("right code: %d %s", r.status, r.raw)
	}
	for i := range 4 {
		if r := h.postJSON("/check", checkBody(id, "0000")); r.str("error") != "not_found" {
			t.Fatalf("check %d of an ended verification: %d %s, want not_found", i+1, r.status, r.raw)
		}
	}
	id = startOK(t, h, "14155550100")
	h.fake.Script(v1test.PathCheck, http.StatusInternalServerError, "oops")
	for range 3 {
		if r := h.postJSON("/check", checkBody(id, "0000")); r.status != http.StatusBadGateway {
			t.Fatalf("check while the Verify API fails: %d %s, want 502", r.status, r.raw)
		}
	}
	h.fake.Respond(v1test.PathCheck, nil) // the fake answers checks itself again
	for i := range 2 {
		if r := h.postJSON("/check", checkBody(id, "0000")); r.str("error") != "code_mismatch" {
			t.Fatalf("wrong code %d: %d %s", i+1, r.status, r.raw)
		}
	}
	wrongCodeLimited(t, h.postJSON("/check", checkBody(id, "0000")))
}

// TestTheWrongCodeBudgetComesBackAfterItsWindow: the limit is a sliding window, not a ban.
func TestTheWrongCodeBudgetComesBackAfterItsWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{WrongCodes: limit(1, time.Minute)}})
	id := startOK(t, h, "14155550100")
	h.postJSON("/check", checkBody(id, "0000"))
	r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id)))
	wrongCodeLimited(t, r)
	if got := r.header.Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After = %s, want 60", got)
	}
	h.clock.Advance(time.Minute)
	if r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); r.status != http.StatusOK {
		t.Fatalf("after the window: %d %s", r.status, r.raw)
	}
}

// TestTestNumberWrongCodesCountToo: a test number's code is fixed, so guessing it across fresh
// sessions would otherwise be unbounded.
func TestTestNumberWrongCodesCountToo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers, limits: guard.Limits{WrongCodes: limit(4, 24*time.Hour)}})
	for i := range 2 {
		id := startTest(t, h, "15555550100")
		if r := h.postJSON("/check", checkBody(id, "000000")); r.str("error") != "code_mismatch" {
			t.Fatalf("session %d, wrong code: %d %s", i+1, r.status, r.raw)
		}
		if r := h.postJSON("/check", checkBody(id, "000001")); r.str("error") != "code_mismatch" {
			t.Fatalf("session %d, 2nd wrong code: %d %s", i+1, r.status, r.raw)
		}
	}
	wrongCodeLimited(t, h.postJSON("/check", checkBody(startTest(t, h, "15555550100"), "123456")))
}

// TestAVerificationUnknownHereIsNotLimitedPerNumber: an id this server never started (another
// deployment's, or one that expired) has no number to count against; its per-request_id limit holds.
func TestAVerificationUnknownHereIsNotLimitedPerNumber(t *testing.T) {
	t.Parallel()
	fake := v1test.NewServer(t)
	starter := newHarness(t, options{fake: fake})
	id := startOK(t, starter, "14155550100")
	h := newHarness(t, options{fake: fake, limits: guard.Limits{WrongCodes: limit(1, time.Hour)}})
	for i := range 2 {
		if r := h.postJSON("/check", checkBody(id, "0000")); r.str("error") != "code_mismatch" {
			t.Fatalf("wrong code %d: %d %s", i+1, r.status, r.raw)
		}
	}
}

// TestConcurrentWrongCodesAcrossReplicasLetExactlyTheLimitThrough: guesses sent at once, over
// several verifications of one number and two replicas sharing Redis, reach the Verify API exactly
// as often as the limit allows: each is held against the limit before it is sent.
func TestConcurrentWrongCodesAcrossReplicasLetExactlyTheLimitThrough(t *testing.T) {
	t.Parallel()
	const allowed = 10
	srv := redistest.Start(t)
	fake := v1test.NewServer(t)
	limits := guard.Limits{WrongCodes: limit(allowed, 24*time.Hour)}
	a := newHarness(t, options{fake: fake, limits: limits, store: redisStore(t, srv)})
	b := newHarness(t, options{fake: fake, limits: limits, store: redisStore(t, srv)})

	var ids []string
	for i, h := range []*harness{a, b, a} {
		ids = append(ids, startOK(t, h, "14155550100"))
		if i < 2 {
			if r := h.postJSON("/cancel", cancelBody(ids[i])); r.status != http.StatusOK {
				t.Fatalf("cancel: %d %s", r.status, r.raw)
			}
		}
	}
	// Every guess that reaches the Verify API is wrong, whichever verification it names.
	fake.Script(v1test.PathCheck, http.StatusOK, `{"status":"16","error_text":"The code provided does not match the expected value"}`)

	var mu sync.Mutex
	answers := map[string]int{}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			h := []*harness{a, b}[i%2]
			r := h.postJSON("/check", checkBody(ids[i%len(ids)], "0000"))
			if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			mu.Lock()
			answers[r.str("error")]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if answers["code_mismatch"] != allowed || answers["rate_limited"] != 100-allowed {
		t.Fatalf("answers %v, want %d code_mismatch and %d rate_limited", answers, allowed, 100-allowed)
	}
	if n := a.upstreamCalls(v1test.PathCheck); n != allowed {
		t.Fatalf("the Verify API got %d checks, want %d", n, allowed)
	}
}
