package app_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/porttest"
)

// TestMetricsAreServedOnTheAdminListenerOnly: what an operator scrapes, and that the public port
// does not serve it.
func TestMetricsAreServedOnTheAdminListenerOnly(t *testing.T) {
	t.Parallel()
	admin := "127.0.0.1:" + porttest.Free(t)
	base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "ADMIN_ADDR": admin})
	res, err := http.Post(base+"/request", "application/json", strings.NewReader(`{"number":"14155550100"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	m := metricstest.Scrape(t, "http://"+admin+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"verify_proxy_verifications_total", []string{"outcome", "started"}, 1},
		{"verify_proxy_http_requests_total", []string{"route", "/request", "status", "200"}, 1},
		{"verify_proxy_build_info", []string{"version", testVersion}, 1},
	} {
		if got := m.Sum(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	public, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	public.Body.Close()
	if public.StatusCode != 404 {
		t.Errorf("the API port serves /metrics: %d", public.StatusCode)
	}
}

// TestLogFormatAndLevel: LOG_FORMAT and LOG_LEVEL shape what run writes, and every access line
// names its request id.
func TestLogFormatAndLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, level string
		wantStartLine       bool
		json                bool
	}{
		{"json at info by default", "", "", true, true},
		{"text", "text", "info", true, false},
		{"warn hides the info lines", "json", "warn", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"VERIFY_BACKEND": "sandbox"}
			if tt.format != "" {
				env["LOG_FORMAT"] = tt.format
				env["LOG_LEVEL"] = tt.level
			}
			base, stop, done, out := start(t, env)
			req, _ := http.NewRequest(http.MethodPost, base+"/request", strings.NewReader(`{"number":"14155550100"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-ID", "trace-me-1")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			logs := out.String()
			if got := strings.Contains(logs, "verify-proxy listening"); got != tt.wantStartLine {
				t.Errorf("start-up line logged: %v, want %v:\n%s", got, tt.wantStartLine, logs)
			}
			sc := bufio.NewScanner(strings.NewReader(logs))
			for sc.Scan() {
				var v map[string]any
				if isJSON := json.Unmarshal(sc.Bytes(), &v) == nil; isJSON != tt.json {
					t.Fatalf("line %q: JSON %v, want %v", sc.Text(), isJSON, tt.json)
				}
			}
			if tt.wantStartLine && !strings.Contains(logs, "trace-me-1") {
				t.Errorf("the access line does not name the request id:\n%s", logs)
			}
			if strings.Contains(logs, "14155550100") {
				t.Errorf("the full number is in the log:\n%s", logs)
			}
		})
	}
}
