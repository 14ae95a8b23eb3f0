package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

func TestDestinations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy guard.Destinations
		number string
		refuse string // "" = must reach the Verify API; else what error_text must say
	}{
		{"a mobile number goes through by default", guard.Destinations{}, "4915112345678", ""},
		{"a fixed line goes through by default (Verify calls it)", guard.Destinations{}, "442071838750", ""},
		{"a NANP number goes through by default", guard.Destinations{}, "14155550100", ""},
		{"premium rate is refused by default", guard.Destinations{}, "449098765432", "premium rate"},
		{"toll free is refused by default", guard.Destinations{}, "18002530000", "toll free"},
		{"UAN is refused by default", guard.Destinations{}, "445512345678", "uan"},
		{"pager is refused by default", guard.Destinations{}, "447640123456", "pager"},
		{"international toll free (+800) is refused by default", guard.Destinations{}, "80012345678", "toll free"},
		{"ALLOWED_NUMBER_TYPES overrides the default", guard.Destinations{AllowedTypes: []phone.Type{phone.TypeTollFree}}, "18002530000", ""},
		{"ALLOWED_NUMBER_TYPES refuses what it does not list", guard.Destinations{AllowedTypes: []phone.Type{phone.TypeMobile}}, "442071838750", "fixed line"},
		{"a country in ALLOWED_COUNTRIES goes through", guard.Destinations{AllowedCountries: []string{"GB", "DE"}}, "4915112345678", ""},
		{"a country outside ALLOWED_COUNTRIES is refused", guard.Destinations{AllowedCountries: []string{"GB", "DE"}}, "14155550100", "numbers in US"},
		{"a non-geographic number is outside any ALLOWED_COUNTRIES", guard.Destinations{AllowedCountries: []string{"GB"}, AllowedTypes: []phone.Type{phone.TypeTollFree}}, "80012345678", "numbers in +800"},
		{"a country in BLOCKED_COUNTRIES is refused", guard.Destinations{BlockedCountries: []string{"CN"}}, "8613812345678", "numbers in CN"},
		{"a country outside BLOCKED_COUNTRIES goes through", guard.Destinations{BlockedCountries: []string{"CN"}}, "33612345678", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{destinations: tt.policy})
			r := h.postJSON("/request", requestBody(tt.number))
			reached := h.upstreamCalls(v1test.PathStart) > 0
			if tt.refuse == "" {
				if r.status != http.StatusOK || !reached {
					t.Fatalf("got %d %s (reached Verify: %v), want it sent", r.status, r.raw, reached)
				}
				return
			}
			if r.status != http.StatusForbidden || r.str("error") != "destination_not_allowed" {
				t.Fatalf("got %d %s, want 403 destination_not_allowed", r.status, r.raw)
			}
			if !strings.Contains(r.str("error_text"), tt.refuse) {
				t.Errorf("error_text %q does not say %q", r.str("error_text"), tt.refuse)
			}
			if reached {
				t.Error("a refused destination reached the Verify API")
			}
		})
	}
}

// TestRefusedDestinationsDoNotSpendTheGlobalLimit: the policy comes before the limits.
func TestRefusedDestinationsDoNotSpendTheGlobalLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{Global: limit(1, time.Hour)}, destinations: guard.Destinations{BlockedCountries: []string{"GB"}}})
	for range 3 {
		if r := h.postJSON("/request", requestBody("442071838750")); r.status != http.StatusForbidden {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	}
	if r := h.postJSON("/request", requestBody("14155550100")); r.status != http.StatusOK {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}
