package server_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/server"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// TestAlertedSeriesShowFromTheStart: the series the alerts of deploy/prometheus/rules.yaml and the
// dashboard's funnel count on are served at 0 before their first event, under the very label
// values the guard and the server record. Prometheus's increase() does not see the first event of
// a series born at 1, so the first fraud block or Redis failure since a replica started would
// page nobody.
func TestAlertedSeriesShowFromTheStart(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(metrics.New("").Handler())
	defer srv.Close()
	f := metricstest.Scrape(t, srv.URL)
	tests := []struct {
		family string
		labels []string
	}{
		{"verify_proxy_fraud_blocks_total", []string{"scope", guard.ScopePrefix}},
		{"verify_proxy_fraud_blocks_total", []string{"scope", guard.ScopeCountry}},
		{"verify_proxy_fraud_shadow_refusals_total", []string{"rule", guard.RuleFraudPrefix}},
		{"verify_proxy_fraud_shadow_refusals_total", []string{"rule", guard.RuleFraudCountry}},
		{"verify_proxy_refusals_total", []string{"reason", string(guard.KindVerificationBlocked), "rule", guard.RuleFraudPrefix}},
		{"verify_proxy_refusals_total", []string{"reason", string(guard.KindVerificationBlocked), "rule", guard.RuleFraudCountry}},
		{"verify_proxy_store_failures_total", []string{"outcome", guard.StoreFailureRefused}},
		{"verify_proxy_store_failures_total", []string{"outcome", guard.StoreFailureMemory}},
		{"verify_proxy_store_failures_total", []string{"outcome", guard.StoreFailureLetThrough}},
		{"verify_proxy_store_failures_total", []string{"outcome", server.StoreFailureProbe}},
		{"verify_proxy_store_failures_total", []string{"outcome", guard.StoreFailureFull}},
		// The funnel's checks, and the denominator of the upstream failure ratio.
		{"verify_proxy_upstream_requests_total", []string{"endpoint", "start", "status", verify.StatusOK, "error", "none"}},
		{"verify_proxy_upstream_requests_total", []string{"endpoint", "check", "status", verify.StatusOK, "error", "none"}},
		{"verify_proxy_upstream_requests_total", []string{"endpoint", "cancel", "status", verify.StatusOK, "error", "none"}},
	}
	for _, tt := range tests {
		if !hasSeries(f, tt.family, tt.labels...) {
			t.Errorf("%s%v is not served before its first event", tt.family, tt.labels)
		}
	}
}

// hasSeries says whether family has a series with every name/value pair in labels, whatever its
// value: metricstest's Sum cannot tell a series at 0 from none.
func hasSeries(f metricstest.Families, family string, labels ...string) bool {
	fam, ok := f[family]
	if !ok {
		return false
	}
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, pair := range m.GetLabel() {
			got[pair.GetName()] = pair.GetValue()
		}
		all := true
		for i := 0; i+1 < len(labels); i += 2 {
			all = all && got[labels[i]] == labels[i+1]
		}
		if all {
			return true
		}
	}
	return false
}
