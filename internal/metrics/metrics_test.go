package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/metrics"
	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

func scrape(t *testing.T, m *metrics.Metrics) metricstest.Families {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	return metricstest.Scrape(t, srv.URL)
}

// vonageClient is the real Verify v1 client, talking to fake.
func vonageClient(t *testing.T, fake *v1test.Server) *verifyv1.Client {
	t.Helper()
	client, err := verifyv1.New(verifyv1.Options{
		Endpoint: transport.Endpoint{BaseURL: fake.URL()}, APIKey: v1test.APIKey, APISecret: v1test.APISecret, Brand: "Acme",
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestUpstreamStatusesCannotMintSeries: Verify's status comes from the network; a broken or hostile
// upstream sending a new status on every call must not grow the metrics without bound.
func TestUpstreamStatusesCannotMintSeries(t *testing.T) {
	t.Parallel()
	fake := v1test.NewServer(t)
	m := metrics.New("v1")
	p := m.Instrument(vonageClient(t, fake))
	for _, status := range []string{`"banana"`, `"4000000"`, `"-1"`, `"101"`} {
		fake.Script(v1test.PathCheck, 200, `{"status":`+status+`,"error_text":"x"}`)
		_, _ = p.Check(context.Background(), "abcdef0123456789abcdef0123456789", "1234")
	}
	f := scrape(t, m)
	if got := f.Sum("verify_proxy_upstream_requests_total", "endpoint", "check", "status", "other"); got != 3 {
		t.Errorf("odd statuses folded into other: %v, want 3", got)
	}
	if got := f.Sum("verify_proxy_upstream_requests_total", "endpoint", "check", "status", "101", "error", "not_found"); got != 1 {
		t.Errorf("status 101: %v, want 1", got)
	}
}

// TestAClientThatHangsUpIsNotAnUpstreamFailure: the caller's own cancellation is told apart.
func TestAClientThatHangsUpIsNotAnUpstreamFailure(t *testing.T) {
	t.Parallel()
	fake := v1test.NewServer(t)
	fake.Respond(v1test.PathControl, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	m := metrics.New("v1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Instrument(vonageClient(t, fake)).Cancel(ctx, "abcdef0123456789abcdef0123456789"); err == nil {
		t.Fatal("a cancelled call succeeded")
	}
	f := scrape(t, m)
	if got := f.Sum("verify_proxy_upstream_requests_total", "endpoint", "cancel", "error", "client_gone"); got != 1 {
		t.Errorf("client_gone: %v, want 1", got)
	}
	if got := f.Sum("verify_proxy_verifications_total", "outcome", "cancelled"); got != 0 {
		t.Errorf("a failed cancel counted as cancelled: %v", got)
	}
}

// TestNamesFollowPrometheusConventions: counters end in _total, durations are histograms in seconds,
// every family has help text, and the funnel shows every stage from the first scrape.
func TestNamesFollowPrometheusConventions(t *testing.T) {
	t.Parallel()
	m := metrics.New("")
	m.ObserveRequest("/request", "POST", 200, 0)
	m.Refused("invalid_number", "")
	f := scrape(t, m)
	ours := 0
	for name, fam := range f {
		if !strings.HasPrefix(name, "verify_proxy_") {
			continue
		}
		ours++
		if fam.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		switch typ := fam.GetType().String(); typ {
		case "COUNTER":
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case "HISTOGRAM":
			if !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s is not in seconds", name)
			}
		case "GAUGE":
			if strings.HasSuffix(name, "_total") {
				t.Errorf("gauge %s ends in _total", name)
			}
		default:
			t.Errorf("%s is a %s", name, typ)
		}
	}
	// Vectors without a series yet are not served; these ten are, after one request and one
	// refusal: the funnel, build info, the requests, the calls to the backend that succeeded and
	// the rare events alerts watch, shown at 0.
	if ours != 10 {
		t.Errorf("%d verify_proxy_ families served, want 10", ours)
	}
	for _, stage := range []string{"started", "verified", "wrong_code", "failed", "expired", "cancelled"} {
		if got := f.Sum("verify_proxy_verifications_total", "outcome", stage); got != 0 {
			t.Errorf("funnel stage %s = %v before any verification, want a visible 0", stage, got)
		}
	}
	if got := f.Sum("verify_proxy_build_info", "version", "unknown"); got != 1 {
		t.Errorf("build_info without a version: %v", got)
	}
	if got := f.Sum("go_goroutines"); got <= 0 {
		t.Errorf("the Go runtime's metrics are missing")
	}
}
