package server_test

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

func limit(n int, window time.Duration) state.Limit { return state.Limit{Count: n, Window: window} }

var loopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// call is one request in a limits scenario: what is sent, and what must come back.
type call struct {
	path, body string
	from       string            // X-Forwarded-For (honoured: the harness trusts loopback in these tests)
	after      time.Duration     // the clock moves this much before the call
	limited    string            // "" = must get through; else the limit error_text must name
	retryAfter string            // Retry-After when limited; "" = not checked
	header     map[string]string // more headers
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	check, cancel := checkBody(requestID, "1234"), cancelBody(requestID)
	tests := []struct {
		name   string
		limits guard.Limits
		calls  []call
	}{
		{"per client IP counts all three operations", guard.Limits{IP: limit(3, time.Minute)}, []call{
			{path: "/request", body: requestBody("14155550100"), from: "203.0.113.7"},
			{path: "/check", body: check, from: "203.0.113.7"},
			{path: "/cancel", body: cancel, from: "203.0.113.7"},
			{path: "/check", body: check, from: "203.0.113.7", limited: "per client IP (3/1m)", retryAfter: "60"},
			{path: "/request", body: requestBody("442071838750"), from: "203.0.113.8"},
			{path: "/request", body: requestBody("442071838750"), from: "203.0.113.7", after: time.Minute},
		}},
		{"per client IP counts invalid requests too", guard.Limits{IP: limit(1, time.Minute)}, []call{
			{path: "/request", body: `{"number":"nope"}`, from: "203.0.113.7"},
			{path: "/request", body: requestBody("14155550100"), from: "203.0.113.7", limited: "per client IP"},
		}},
		{"per client IP refuses an invalid request over it as any other", guard.Limits{IP: limit(1, time.Minute)}, []call{
			{path: "/request", body: requestBody("14155550100"), from: "203.0.113.7"},
			{path: "/check", body: `{"request_id": 7}`, from: "203.0.113.7", limited: "per client IP"},
			{path: "/request", body: requestBody("14155550100"), from: "203.0.113.7", header: map[string]string{"Idempotency-Key": `""`},
				limited: "per client IP"},
			{path: "/request", body: `{"number":"nope"}`, from: "203.0.113.8"},
		}},
		{"per number counts the normalised number from any IP", guard.Limits{Number: limit(2, 10*time.Minute)}, []call{
			{path: "/request", body: requestBody("14155550100"), from: "203.0.113.1"},
			{path: "/request", body: requestBody("+1 (415) 555-0100"), from: "203.0.113.2"},
			{path: "/request", body: requestBody("1-415-555-0100"), from: "203.0.113.3", limited: "per phone number (2/10m)", retryAfter: "600"},
			{path: "/request", body: requestBody("442071838750"), from: "203.0.113.3"},
			{path: "/request", body: requestBody("14155550100"), after: 9*time.Minute + 30*time.Second, limited: "per phone number", retryAfter: "30"},
			{path: "/request", body: requestBody("14155550100"), after: 30 * time.Second},
		}},
		{"per request_id checks whatever the IP", guard.Limits{Check: limit(2, 10*time.Minute)}, []call{
			{path: "/check", body: check, from: "203.0.113.1"},
			{path: "/check", body: check, from: "198.51.100.2"},
			{path: "/check", body: check, from: "192.0.2.3", limited: "per request_id (2/10m)", retryAfter: "600"},
			{path: "/check", body: checkBody(strings.ToUpper(requestID), "1234"), from: "192.0.2.3", limited: "per request_id"}, // the same id in capitals
			{path: "/check", body: checkBody("fedcba9876543210fedcba9876543210", "1234"), from: "192.0.2.3"},
			{path: "/cancel", body: cancel, from: "192.0.2.3"},
		}},
		{"per country", guard.Limits{Country: limit(1, time.Hour)}, []call{
			{path: "/request", body: requestBody("14155550100")},
			{path: "/request", body: requestBody("13102000000"), limited: "per country (1/1h)", retryAfter: "3600"},
			{path: "/request", body: requestBody("442071838750")},
		}},
		{"global counts every start", guard.Limits{Global: limit(2, 24*time.Hour)}, []call{
			{path: "/request", body: requestBody("14155550100"), from: "203.0.113.1"},
			{path: "/request", body: requestBody("442071838750"), from: "203.0.113.2"},
			{path: "/request", body: requestBody("4915112345678"), from: "203.0.113.3", limited: "global (2/24h)", retryAfter: "86400"},
			{path: "/check", body: check, from: "203.0.113.3"},
		}},
		{"Retry-After rounds up to whole seconds", guard.Limits{Number: limit(1, time.Minute)}, []call{
			{path: "/request", body: requestBody("14155550100")},
			{path: "/request", body: requestBody("14155550100"), after: 30*time.Second + 500*time.Millisecond, limited: "per phone number", retryAfter: "30"},
			{path: "/request", body: requestBody("14155550100"), after: 29 * time.Second, limited: "per phone number", retryAfter: "1"},
		}},
		{"a start refused by one limit is not counted by the others", guard.Limits{Number: limit(1, time.Hour), Global: limit(2, time.Hour)}, []call{
			{path: "/request", body: requestBody("14155550100")},
			{path: "/request", body: requestBody("14155550100"), limited: "per phone number"},
			{path: "/request", body: requestBody("14155550100"), limited: "per phone number"},
			{path: "/request", body: requestBody("442071838750")},
			{path: "/request", body: requestBody("4915112345678"), limited: "global"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{limits: tt.limits, trustedProxies: loopbackProxy})
			for i, c := range tt.calls {
				c.play(t, h, i+1)
			}
		})
	}
}

// play moves the clock, makes call n of a scenario, and fails t unless the call got through or was
// limited as c says.
func (c call) play(t *testing.T, h *harness, n int) {
	t.Helper()
	h.clock.Advance(c.after)
	before := len(h.fake.Requests())
	header := map[string]string{}
	for k, v := range c.header {
		header[k] = v
	}
	if c.from != "" {
		header["X-Forwarded-For"] = c.from
	}
	r := h.postWith(c.path, c.body, header)
	reached := len(h.fake.Requests()) > before
	if c.limited == "" {
		if r.status == http.StatusTooManyRequests {
			t.Fatalf("call %d (%s): limited, want through: %s", n, c.path, r.raw)
		}
		return
	}
	if r.status != http.StatusTooManyRequests || r.str("error") != "rate_limited" {
		t.Fatalf("call %d (%s): got %d %s, want 429 rate_limited", n, c.path, r.status, r.raw)
	}
	if !strings.Contains(r.str("error_text"), c.limited) {
		t.Errorf("call %d: error_text %q does not name the limit %q", n, r.str("error_text"), c.limited)
	}
	if got := r.header.Get("Retry-After"); c.retryAfter != "" && got != c.retryAfter {
		t.Errorf("call %d: Retry-After %q, want %q", n, got, c.retryAfter)
	}
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("call %d: Retry-After %q is not whole seconds", n, r.header.Get("Retry-After"))
	}
	if reached {
		t.Errorf("call %d: a limited call reached the Verify API", n)
	}
	if _, has := r.body["status"]; has {
		t.Errorf("call %d: our own limit must not pretend to be a Verify status: %s", n, r.raw)
	}
}

// sendConcurrently sends n copies of one request at once and returns the responses, checked
// against the contract once all are in.
func sendConcurrently(h *harness, n int, path, body string) []*response {
	h.t.Helper()
	type result struct {
		req *http.Request
		res *response
		err error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			<-start
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				results[i] = result{err: err}
				return
			}
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			results[i] = result{req: req, res: &response{status: res.StatusCode, header: res.Header, raw: raw}, err: err}
		})
	}
	close(start)
	wg.Wait()
	out := make([]*response, n)
	for i, r := range results {
		if r.err != nil {
			h.t.Fatal(r.err)
		}
		h.checkContract(r.req, r.res)
		out[i] = r.res
	}
	return out
}

// TestConcurrentStartsNeverExceedTheLimit: 100 starts at once for one number with a limit of 3
// let exactly 3 through to the Verify API, with the in-memory store and with Redis.
func TestConcurrentStartsNeverExceedTheLimit(t *testing.T) {
	t.Parallel()
	for name, newStore := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := v1test.NewServer(t)
			// Every start succeeds, so only the limit can stop one.
			fake.Script(v1test.PathStart, http.StatusOK, `{"request_id":"`+requestID+`","status":"0"}`)
			h := newHarness(t, options{fake: fake, limits: guard.Limits{Number: limit(3, 10*time.Minute)}, store: newStore(t)})
			through, limited := 0, 0
			for _, r := range sendConcurrently(h, 100, "/request", requestBody("14155550100")) {
				switch r.status {
				case http.StatusOK:
					through++
				case http.StatusTooManyRequests:
					limited++
				default:
					t.Fatalf("unexpected answer %d %s", r.status, r.raw)
				}
			}
			if through != 3 || limited != 97 {
				t.Fatalf("%d through and %d limited, want 3 and 97", through, limited)
			}
			if n := h.upstreamCalls(v1test.PathStart); n != 3 {
				t.Fatalf("the Verify API got %d starts, want 3", n)
			}
		})
	}
}
