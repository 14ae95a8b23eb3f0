package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// A stranger who knows only a phone number must never learn the running verification's request_id:
// whoever holds it can cancel that verification or spend its wrong codes.

// fromClient names the client address, as the trusted proxy in front of the harness does.
func fromClient(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

func TestTheRunningRequestIDIsDisclosedOnlyAsConfigured(t *testing.T) {
	t.Parallel()
	const owner, stranger = "203.0.113.7", "198.51.100.9"
	tests := []struct {
		name           string
		disclosure     guard.Disclosure
		sandbox        bool
		starter, asker string
		disclosed      bool
	}{
		{"by default to nobody, not even the client that started it", "", false, owner, owner, false},
		{"by default the sandbox withholds it too", "", true, owner, stranger, false},
		{"withhold: to nobody", guard.DiscloseNever, false, owner, owner, false},
		{"same_address: to the client that started it", guard.DiscloseToStarter, false, owner, owner, true},
		{"same_address: to the /64 of the IPv6 client that started it", guard.DiscloseToStarter, false,
			"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"same_address: not to another address", guard.DiscloseToStarter, false, owner, stranger, false},
		{"same_address: not to another /64", guard.DiscloseToStarter, false, "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"same_address: not to an IPv4 client when IPv6 started it", guard.DiscloseToStarter, true, "2001:db8:1:2::1", owner, false},
		{"expose: to anyone, as Vonage does", guard.DiscloseAlways, false, owner, stranger, true},
		{"expose: the sandbox too", guard.DiscloseAlways, true, owner, stranger, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{disclosure: tt.disclosure, sandbox: tt.sandbox, trustedProxies: loopbackProxy})
			started := h.postWith("/request", requestBody("14155550100"), fromClient(tt.starter))
			id := started.str("request_id")
			if started.status != http.StatusOK || id == "" {
				t.Fatalf("start: %d %s", started.status, started.raw)
			}

			const rid = "second-start"
			r := h.postWith("/request", requestBody("+1 (415) 555-0100"),
				map[string]string{"X-Forwarded-For": tt.asker, "X-Request-ID": rid})
			if r.status != http.StatusBadRequest || r.str("error") != "concurrent_verification" || r.str("status") != "10" {
				t.Fatalf("second start: %d %s, want 400 concurrent_verification with status 10", r.status, r.raw)
			}
			if tt.disclosed {
				if r.str("request_id") != id {
					t.Fatalf("request_id = %q, want the running %q", r.str("request_id"), id)
				}
				return
			}
			if strings.Contains(string(r.raw), id) {
				t.Fatalf("the body gives the running request_id away: %s", r.raw)
			}
			if _, has := r.body["request_id"]; has {
				t.Fatalf("the body has a request_id member: %s", r.raw)
			}
			for name, values := range r.header {
				if strings.Contains(strings.Join(values, " "), id) {
					t.Fatalf("header %s gives the running request_id away: %v", name, values)
				}
			}
			lines, access := linesOf(t, h.logs.String(), rid)
			if len(access) != 1 {
				t.Fatalf("want one access line for the second start, got %d", len(access))
			}
			for _, line := range lines {
				for k, v := range line {
					if s, ok := v.(string); ok && strings.Contains(s, id) {
						t.Fatalf("the log line %q gives the running request_id away in %s", line["msg"], k)
					}
				}
			}
		})
	}
}

// TestAnAppThatLostItsIDResumesWithItsIdempotencyKey: the way back to a running verification that
// the default leaves open is the one only its starter has, the Idempotency-Key of its start.
func TestAnAppThatLostItsIDResumesWithItsIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	first := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	id := first.str("request_id")
	if first.status != http.StatusOK || id == "" {
		t.Fatalf("start: %d %s", first.status, first.raw)
	}
	if r := h.postJSON("/request", requestBody("14155550100")); r.str("request_id") != "" {
		t.Fatalf("a start without the key learnt the id: %s", r.raw)
	}
	again := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	if again.status != http.StatusOK || again.str("request_id") != id {
		t.Fatalf("the app's retry after a restart: %d %s, want 200 with %s", again.status, again.raw, id)
	}
	code := h.fake.CodeFor(id)
	if r := h.postJSON("/check", checkBody(id, code)); r.status != http.StatusOK {
		t.Fatalf("the resumed verification does not verify: %d %s", r.status, r.raw)
	}
}

// TestAStrangerCannotCancelWhatItCannotName: the running verification survives a stranger's start,
// and its owner still verifies with it.
func TestAStrangerCannotCancelWhatItCannotName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{trustedProxies: loopbackProxy, disclosure: guard.DiscloseToStarter})
	id := h.postWith("/request", requestBody("14155550100"), fromClient("203.0.113.7")).str("request_id")
	stranger := h.postWith("/request", requestBody("14155550100"), fromClient("198.51.100.9"))
	if learnt := stranger.str("request_id"); learnt != "" {
		h.postWith("/cancel", cancelBody(learnt), fromClient("198.51.100.9"))
		t.Fatalf("the stranger learnt the id: %s", stranger.raw)
	}
	if n := h.upstreamCalls(v1test.PathControl); n != 0 {
		t.Fatalf("something was cancelled: %d control calls", n)
	}
	if r := h.postWith("/check", checkBody(id, h.fake.CodeFor(id)), fromClient("203.0.113.7")); r.status != http.StatusOK {
		t.Fatalf("the owner's check: %d %s", r.status, r.raw)
	}
}
