package transport_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
)

func TestNewHTTPClientIsSizedForOneUpstream(t *testing.T) {
	t.Parallel()
	hc := transport.NewHTTPClient(0)
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
	t.Parallel()
	tests := []struct {
		name, raw, want string
		wantErr         string // in the error, which must not repeat a secret
	}{
		{"a trailing slash is dropped so paths can be appended", "https://api.nexmo.com/", "https://api.nexmo.com", ""},
		{"plain http is allowed for a local fake", "http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"empty is refused", "", "", "http(s) URL"},
		{"no scheme is refused and quoted", "api.nexmo.com", "", `got "api.nexmo.com"`},
		{"another scheme is refused", "ftp://api.nexmo.com", "", "http(s) URL"},
		{"credentials are refused", "https://key:hunter2@api.nexmo.com", "", "credentials"},
		{"a query is refused", "https://api.nexmo.com?api_secret=hunter2", "", "query"},
		{"a fragment is refused", "https://api.nexmo.com#x", "", "fragment"},
		{"a URL that does not parse is not quoted when it may hold a password", "https://key:hunter2@api.nexmo.com:x/", "", "http(s) URL"},
		{"no scheme with a secret in the query is not quoted", "api.nexmo.com/verify?api_secret=hunter2", "", "http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := transport.ParseBaseURL(tt.raw)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseBaseURL(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseBaseURL(%q) = %q, %v; want an error saying %q", tt.raw, got, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats a secret: %v", err)
			}
		})
	}
}

func TestNewCallerRefusesANegativeTimeout(t *testing.T) {
	t.Parallel()
	if _, err := transport.NewCaller("test", transport.Endpoint{BaseURL: "https://api.nexmo.com", Timeout: -time.Second}, nil, nil); err == nil {
		t.Fatal("a negative timeout was accepted")
	}
}

// TestTheTraceLineGivesLatencyInMilliseconds: the upstream line reads like the access line
// (latency_ms), not as slog's integer nanoseconds, and is named after the API.
func TestTheTraceLineGivesLatencyInMilliseconds(t *testing.T) {
	t.Parallel()
	logger, logs := logtest.New()
	c, err := transport.NewCaller("vonage v2", transport.Endpoint{BaseURL: "https://api.nexmo.com"}, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	c.LogExchange(context.Background(), verify.OpStart, time.Now().Add(-1500*time.Millisecond), 202, nil, slog.String("instance", "abc"))
	ms, ok := logs.Find(map[string]string{"msg": "vonage v2 exchange", "endpoint": "start", "instance": "abc"}, "latency_ms")
	if !ok {
		t.Fatalf("no trace line:\n%s", logs)
	}
	if got, err := strconv.ParseFloat(ms, 64); err != nil || got < 1500 || got > 60_000 {
		t.Errorf("latency_ms = %s for a call of 1.5 s", ms)
	}
}
