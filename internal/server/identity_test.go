package server_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
)

// TestClientIdentity: with a per-IP limit of 1, a second call is refused exactly when the server
// takes both calls to come from the same client.
func TestClientIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted []netip.Prefix
		header  string // CLIENT_IP_HEADER; "" is the default, X-Forwarded-For
		first   map[string]string
		second  map[string]string
		same    bool
	}{
		{"a spoofed X-Forwarded-For from an untrusted peer is ignored", nil, "",
			map[string]string{"X-Forwarded-For": "198.51.100.1"}, map[string]string{"X-Forwarded-For": "198.51.100.2"}, true},
		{"a spoofed X-Real-IP from an untrusted peer is ignored", nil, "",
			map[string]string{"X-Real-IP": "198.51.100.1"}, map[string]string{"X-Real-IP": "198.51.100.2"}, true},
		{"loopback is not trusted just because Echo would", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "",
			map[string]string{"X-Forwarded-For": "198.51.100.1"}, map[string]string{"X-Forwarded-For": "198.51.100.2"}, true},
		{"X-Forwarded-For from a trusted proxy names the client", loopbackProxy, "",
			map[string]string{"X-Forwarded-For": "198.51.100.1"}, map[string]string{"X-Forwarded-For": "198.51.100.2"}, false},
		{"X-Real-IP from a trusted proxy names the client", loopbackProxy, "X-Real-IP",
			map[string]string{"X-Real-IP": "198.51.100.1"}, map[string]string{"X-Real-IP": "198.51.100.2"}, false},
		{"the same client behind a trusted proxy is one client", loopbackProxy, "",
			map[string]string{"X-Forwarded-For": "198.51.100.1"}, map[string]string{"X-Forwarded-For": "198.51.100.1", "X-Real-IP": "192.0.2.1"}, true},
		{"with X-Forwarded-For the header, a client's own X-Real-IP is ignored", loopbackProxy, "",
			map[string]string{"X-Real-IP": "198.51.100.1"}, map[string]string{"X-Real-IP": "198.51.100.2"}, true},
		{"with X-Real-IP the header, a client's own X-Forwarded-For is ignored", loopbackProxy, "X-Real-IP",
			map[string]string{"X-Real-IP": "198.51.100.6", "X-Forwarded-For": "203.0.113.1"},
			map[string]string{"X-Real-IP": "198.51.100.6", "X-Forwarded-For": "203.0.113.2"}, true},
		{"addresses a client puts in front of the proxy's entry are ignored", loopbackProxy, "",
			map[string]string{"X-Forwarded-For": "192.0.2.9, 198.51.100.1"}, map[string]string{"X-Forwarded-For": "192.0.2.10, 198.51.100.1"}, true},
		{"a chain of trusted proxies is walked to the client", append([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, loopbackProxy...), "",
			map[string]string{"X-Forwarded-For": "198.51.100.1, 10.1.2.3"}, map[string]string{"X-Forwarded-For": "198.51.100.1, 10.9.9.9"}, true},
		{"IPv6 clients in one /64 are one client", loopbackProxy, "",
			map[string]string{"X-Forwarded-For": "2001:db8:1:2::1"}, map[string]string{"X-Forwarded-For": "2001:db8:1:2:ffff:ffff:ffff:ffff"}, true},
		{"IPv6 clients in different /64s are different clients", loopbackProxy, "",
			map[string]string{"X-Forwarded-For": "2001:db8:1:2::1"}, map[string]string{"X-Forwarded-For": "2001:db8:1:3::1"}, false},
		{"an IPv4-mapped IPv6 address is the IPv4 client", loopbackProxy, "",
			map[string]string{"X-Forwarded-For": "::ffff:198.51.100.1"}, map[string]string{"X-Forwarded-For": "198.51.100.1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{limits: guard.Limits{IP: limit(1, time.Minute)}, trustedProxies: tt.trusted, clientIPHeader: tt.header})
			if r := h.postWith("/cancel", cancelBody(requestID), tt.first); r.status == http.StatusTooManyRequests {
				t.Fatalf("first call limited: %s", r.raw)
			}
			r := h.postWith("/cancel", cancelBody(requestID), tt.second)
			if limited := r.status == http.StatusTooManyRequests; limited != tt.same {
				t.Fatalf("second call: %d %s; same client = %v", r.status, r.raw, tt.same)
			}
		})
	}
}

// TestAccessLogNamesTheTrustedClient: the log shows the client a trusted proxy named, not the proxy.
func TestAccessLogNamesTheTrustedClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{trustedProxies: loopbackProxy})
	h.postWith("/cancel", cancelBody(requestID), map[string]string{"X-Forwarded-For": "198.51.100.77"})
	if !strings.Contains(h.logs.String(), `"client_ip":"198.51.100.77"`) {
		t.Fatalf("access log does not name the client:\n%s", h.logs)
	}
}

// TestAnAddedXRealIPIsTheProxysOne: a proxy that adds X-Real-IP instead of replacing it passes the
// client's forged header first; the client is the value the proxy wrote, the last.
func TestAnAddedXRealIPIsTheProxysOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{IP: limit(1, time.Minute)}, trustedProxies: loopbackProxy, clientIPHeader: "X-Real-IP"})
	send := func(forged string) *response {
		req, err := http.NewRequest(http.MethodPost, h.url+"/cancel", strings.NewReader(cancelBody(requestID)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Add("X-Real-IP", forged)         // what the client wrote
		req.Header.Add("X-Real-IP", "198.51.100.7") // what the proxy added
		return h.do(req)
	}
	if r := send("203.0.113.1"); r.status == http.StatusTooManyRequests {
		t.Fatalf("first call limited: %s", r.raw)
	}
	if r := send("203.0.113.2"); r.status != http.StatusTooManyRequests {
		t.Fatalf("a second forged X-Real-IP made a new client: %d %s", r.status, r.raw)
	}
}
