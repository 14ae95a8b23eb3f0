package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/verify/sandbox"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// walkTheFunnel walks every stage of a verification through the real server (the sandbox backend,
// with a clock for expiry), adds refused calls and a scanner, and returns the counts as Prometheus
// scrapes them.
func walkTheFunnel(t *testing.T) metricstest.Families {
	t.Helper()
	clk := clocktest.New()
	h := newHarness(t, options{provider: func(logger *slog.Logger) verify.Provider {
		return sandbox.New(sandbox.Options{Now: clk.Now, PinExpiry: time.Minute}, logger)
	}})
	start := func(number string) (id, code string) {
		t.Helper()
		r := h.postJSON("/request", requestBody(number))
		if r.status != 200 {
			t.Fatalf("request %s: %d %s", number, r.status, r.raw)
		}
		id = r.str("request_id")
		return id, codeFromLog(t, h.logs.String(), id)
	}
	check := func(id, code string) *response {
		t.Helper()
		return h.postJSON("/check", checkBody(id, code))
	}

	id, code := start("14155550100") // verified after one wrong code
	check(id, wrongCode(code))
	check(id, code)
	id, code = start("14155550101") // three wrong codes: failed
	for range 3 {
		check(id, wrongCode(code))
	}
	id, _ = start("14155550102") // cancelled
	h.postJSON("/cancel", cancelBody(id))
	id, code = start("14155550103") // expired
	clk.Advance(90 * time.Second)   // past its minute, within the minute after that it is still known
	if r := check(id, code); r.str("error") != "expired" {
		t.Fatalf("check after expiry: %d %s", r.status, r.raw)
	}
	h.postJSON("/request", `{"number":"999999999999"}`)    // refused: invalid number
	h.postJSON("/request", `{"number":`)                   // refused: not JSON
	h.send(http.MethodPost, "/request", "text/plain", "x") // refused: not JSON at all
	h.send("PROPFIND", "/no/such/path/12345", "", "")      // a scanner

	return metricstest.Scrape(t, h.metrics+"/metrics")
}

// count is one series an operator reads, and its value after walkTheFunnel.
type count struct {
	name   string
	labels []string
	want   float64
}

func checkCounts(t *testing.T, m metricstest.Families, counts []count) {
	t.Helper()
	for _, c := range counts {
		if got := m.Sum(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestEveryStageOfTheFunnelIsCounted(t *testing.T) {
	t.Parallel()
	checkCounts(t, walkTheFunnel(t), []count{
		{"verify_proxy_verifications_total", []string{"outcome", "started"}, 4},
		{"verify_proxy_verifications_total", []string{"outcome", "verified"}, 1},
		{"verify_proxy_verifications_total", []string{"outcome", "wrong_code"}, 3},
		{"verify_proxy_verifications_total", []string{"outcome", "failed"}, 1},
		{"verify_proxy_verifications_total", []string{"outcome", "expired"}, 1},
		{"verify_proxy_verifications_total", []string{"outcome", "cancelled"}, 1},
		{"verify_proxy_upstream_requests_total", []string{"endpoint", "start", "status", "0", "error", "none"}, 4},
		{"verify_proxy_upstream_requests_total", []string{"endpoint", "check", "status", "16", "error", "code_mismatch"}, 3},
		{"verify_proxy_upstream_requests_total", []string{"endpoint", "check", "status", "17", "error", "too_many_attempts"}, 1},
		{"verify_proxy_upstream_requests_total", []string{"endpoint", "cancel", "status", "0"}, 1},
		{"verify_proxy_upstream_request_duration_seconds", []string{"endpoint", "check"}, 6},
	})
}

func TestRequestsAndRefusalsAreCounted(t *testing.T) {
	t.Parallel()
	checkCounts(t, walkTheFunnel(t), []count{
		{"verify_proxy_refusals_total", []string{"reason", "invalid_number"}, 1},
		{"verify_proxy_refusals_total", []string{"reason", "invalid_request"}, 1},
		{"verify_proxy_refusals_total", []string{"reason", "unsupported_media_type"}, 1},
		{"verify_proxy_http_requests_total", []string{"route", "/request", "method", "POST", "status", "200"}, 4},
		{"verify_proxy_http_requests_total", []string{"route", "/check", "status", "400"}, 5},
		{"verify_proxy_http_requests_total", []string{"route", "/request", "status", "400"}, 2},
		{"verify_proxy_http_requests_total", []string{"route", "unmatched", "method", "other", "status", "404"}, 1},
		{"verify_proxy_http_request_duration_seconds", []string{"route", "/cancel", "status", "200"}, 1},
		{"verify_proxy_http_requests_in_flight", nil, 0},
		{"verify_proxy_build_info", []string{"version", testVersion}, 1},
	})
}

// TestNothingAClientSendsBecomesALabel: the scanner's path and method are nowhere in the metrics.
func TestNothingAClientSendsBecomesALabel(t *testing.T) {
	t.Parallel()
	m := walkTheFunnel(t)
	if !m.LabelHolds("/request") {
		t.Fatal("LabelHolds cannot see the route labels it must search")
	}
	if m.LabelHolds("12345") || m.LabelHolds("PROPFIND") {
		t.Error("a client-chosen path or method became a label")
	}
}

func TestUpstreamFailuresAreCountedByStatusAndError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{}) // no timeout of its own: a slow answer under load must not change the counts
	h.fake.Script(v1test.PathStart, 200, `{"status":"1","error_text":"Throttled"}`)
	h.postJSON("/request", `{"number":"14155550100"}`)
	h.fake.Script(v1test.PathStart, 200, `{"status":"4","error_text":"Bad Credentials"}`)
	h.postJSON("/request", `{"number":"14155550100"}`)
	h.fake.Script(v1test.PathStart, 503, `down`)
	h.postJSON("/request", `{"number":"14155550100"}`)

	m := metricstest.Scrape(t, h.metrics+"/metrics")
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"endpoint", "start", "status", "1", "error", "throttled"}, 1},
		{[]string{"endpoint", "start", "status", "4", "error", "upstream_error"}, 1},
		{[]string{"endpoint", "start", "status", "none", "error", "upstream_unavailable"}, 1},
	} {
		if got := m.Sum("verify_proxy_upstream_requests_total", c.labels...); got != c.want {
			t.Errorf("upstream_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := m.Sum("verify_proxy_verifications_total", "outcome", "started"); got != 0 {
		t.Errorf("failed starts counted as started: %v", got)
	}
}

// TestInFlightRequestsAreCounted: a request waiting on the upstream shows as in flight, and stops
// showing once answered.
func TestInFlightRequestsAreCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	arrived, release := make(chan struct{}), make(chan struct{})
	h.fake.Respond(v1test.PathStart, func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		_, _ = io.WriteString(w, `{"request_id":"abcdef0123456789abcdef0123456789","status":"0"}`)
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := http.Post(h.url+"/request", "application/json", strings.NewReader(`{"number":"14155550100"}`))
		if err == nil {
			res.Body.Close()
		}
	}()
	<-arrived
	if got := metricstest.Scrape(t, h.metrics+"/metrics").Sum("verify_proxy_http_requests_in_flight"); got != 1 {
		t.Errorf("in flight while waiting on the upstream: %v, want 1", got)
	}
	close(release)
	<-done
	if got := metricstest.Scrape(t, h.metrics+"/metrics").Sum("verify_proxy_http_requests_in_flight"); got != 0 {
		t.Errorf("in flight after the answer: %v, want 0", got)
	}
}

// TestEachServerHasItsOwnMetrics: two servers in one process never share counts.
func TestEachServerHasItsOwnMetrics(t *testing.T) {
	t.Parallel()
	a := newHarness(t, options{sandbox: true})
	b := newHarness(t, options{sandbox: true})
	a.postJSON("/request", `{"number":"14155550100"}`)
	if got := metricstest.Scrape(t, a.metrics+"/metrics").Sum("verify_proxy_verifications_total", "outcome", "started"); got != 1 {
		t.Errorf("server a counted %v starts, want 1", got)
	}
	if got := metricstest.Scrape(t, b.metrics+"/metrics").Sum("verify_proxy_verifications_total", "outcome", "started"); got != 0 {
		t.Errorf("server b counted %v starts, want 0", got)
	}
}

// TestRefusalsAreCountedByRule: an operator tells the global spend ceiling from one client's limit,
// and a blocked country from a premium-rate number, in the metrics alone.
func TestRefusalsAreCountedByRule(t *testing.T) {
	t.Parallel()
	check := checkBody(requestID, "1234")
	tests := []struct {
		name             string
		opts             options
		path             string
		bodies           []string
		wantReason, rule string
	}{
		{"per client IP", options{limits: guard.Limits{IP: limit(1, time.Minute)}},
			"/request", []string{requestBody("14155550100"), requestBody("442071838750")}, "rate_limited", "ip"},
		{"per number", options{limits: guard.Limits{Number: limit(1, time.Minute)}},
			"/request", []string{requestBody("14155550100"), requestBody("14155550100")}, "rate_limited", "number"},
		{"per request_id", options{limits: guard.Limits{Check: limit(1, time.Minute)}},
			"/check", []string{check, check}, "rate_limited", "check"},
		{"per country", options{limits: guard.Limits{Country: limit(1, time.Minute)}},
			"/request", []string{requestBody("14155550100"), requestBody("14155550101")}, "rate_limited", "country"},
		{"global", options{limits: guard.Limits{Global: limit(1, time.Minute)}},
			"/request", []string{requestBody("14155550100"), requestBody("442071838750")}, "rate_limited", "global"},
		{"a country outside ALLOWED_COUNTRIES", options{destinations: guard.Destinations{AllowedCountries: []string{"GB"}}},
			"/request", []string{requestBody("14155550100")}, "destination_not_allowed", "country"},
		{"a premium-rate number", options{},
			"/request", []string{requestBody("449098765432")}, "destination_not_allowed", "number_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.opts)
			var last *response
			for _, body := range tt.bodies {
				last = h.postJSON(tt.path, body)
			}
			if last.str("error") != tt.wantReason {
				t.Fatalf("last answer %d %s, want %s", last.status, last.raw, tt.wantReason)
			}
			m := metricstest.Scrape(t, h.metrics+"/metrics")
			if got := m.Sum("verify_proxy_refusals_total", "reason", tt.wantReason, "rule", tt.rule); got != 1 {
				t.Errorf("refusals{reason=%q,rule=%q} = %v, want 1", tt.wantReason, tt.rule, got)
			}
			if got := m.Sum("verify_proxy_refusals_total", "reason", tt.wantReason); got != 1 {
				t.Errorf("refusals{reason=%q} = %v in all, want 1", tt.wantReason, got)
			}
		})
	}
}
