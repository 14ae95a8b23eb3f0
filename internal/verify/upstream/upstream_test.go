package upstream_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify/upstream"
)

func TestNewHTTPClientIsSizedForOneUpstream(t *testing.T) {
	hc := upstream.NewHTTPClient(0)
	if hc.Timeout != 0 {
		t.Errorf("Timeout = %s, want 0 so that the per-call deadline is the one that fires", hc.Timeout)
	}
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport is %T, want *http.Transport", hc.Transport)
	}
	if tr.MaxIdleConns != 100 || tr.MaxIdleConnsPerHost != 100 || tr.IdleConnTimeout != 90*time.Second || !tr.ForceAttemptHTTP2 {
		t.Errorf("pool = %d/%d idle %s h2 %v", tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.ForceAttemptHTTP2)
	}
	if tr.TLSHandshakeTimeout != 5*time.Second || tr.ResponseHeaderTimeout == 0 || tr.DialContext == nil {
		t.Errorf("timeouts: tls %s, header %s", tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
	}
}

func TestParseBaseURL(t *testing.T) {
	tests := []struct {
		name, raw, want string
		wantErr         bool
	}{
		{"a trailing slash is dropped so paths can be appended", "https://api.nexmo.com/", "https://api.nexmo.com", false},
		{"plain http is allowed for a local fake", "http://127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"empty is refused", "", "", true},
		{"no scheme is refused", "api.nexmo.com", "", true},
		{"a query is refused", "https://api.nexmo.com?x=1", "", true},
		{"a fragment is refused", "https://api.nexmo.com#x", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := upstream.ParseBaseURL("test", tt.raw)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseBaseURL(%q) = %q, %v", tt.raw, got, err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "test: ") {
				t.Errorf("error %q does not name the client", err)
			}
		})
	}
	if _, err := upstream.ParseBaseURL("test", "https://user:hunter2@api.nexmo.com?x=1"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a base url with a password must be refused without echoing it: %v", err)
	}
}

func TestNewCallerRefusesANegativeTimeout(t *testing.T) {
	if _, err := upstream.NewCaller("test", nil, -time.Second, nil); err == nil {
		t.Fatal("a negative timeout was accepted")
	}
}

// TestExchangeAttrsGiveLatencyInMilliseconds: the upstream line reads like the access line
// (latency_ms), not as slog's integer nanoseconds.
func TestExchangeAttrsGiveLatencyInMilliseconds(t *testing.T) {
	attrs := upstream.ExchangeAttrs("start", time.Now().Add(-1500*time.Millisecond), 200, nil)
	for _, a := range attrs {
		if a.Key != "latency_ms" {
			continue
		}
		if ms := a.Value.Float64(); ms < 1500 || ms > 60_000 {
			t.Errorf("latency_ms = %v for a call of 1.5 s", ms)
		}
		return
	}
	t.Errorf("no latency_ms in %v", attrs)
}
