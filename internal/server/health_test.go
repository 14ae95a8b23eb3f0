package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/server"
)

func TestReadiness(t *testing.T) {
	t.Parallel()
	pass := server.Check{Name: "config", Run: func(context.Context) error { return nil }}
	failing := func(name string) server.Check {
		return server.Check{Name: name, Run: func(context.Context) error {
			return errors.New("dial tcp 10.1.2.3:6379: secret-host refused")
		}}
	}
	hung := server.Check{Name: "redis", Run: func(ctx context.Context) error {
		<-ctx.Done() // a dependency that never answers: the probe must still answer in time
		return ctx.Err()
	}}
	tests := []struct {
		name       string
		checks     []server.Check
		wantStatus int
		wantText   string
		wantLogged string // the check's own error, for the operator
	}{
		{"no checks: ready while serving", nil, 200, "", ""},
		{"every check passes", []server.Check{pass, pass}, 200, "", ""},
		{"a failing dependency names it", []server.Check{pass, failing("redis")}, 503, "not ready: redis", "secret-host refused"},
		{"every failing check is named", []server.Check{failing("redis"), failing("shutdown")}, 503, "not ready: redis, shutdown", "secret-host refused"},
		{"a dependency that hangs is not ready", []server.Check{hung}, 503, "not ready: redis", "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{sandbox: true, ready: tt.checks})
			r := h.send(http.MethodGet, "/readyz", "", "")
			if r.status != tt.wantStatus {
				t.Fatalf("/readyz: %d %s", r.status, r.raw)
			}
			if tt.wantStatus != 200 {
				if r.str("error") != "not_ready" || r.str("error_text") != tt.wantText {
					t.Errorf("/readyz body %s, want error not_ready and text %q", r.raw, tt.wantText)
				}
				if strings.Contains(string(r.raw), "10.1.2.3") || strings.Contains(string(r.raw), "secret-host") {
					t.Errorf("/readyz shows a check's error to the client: %s", r.raw)
				}
				if !strings.Contains(h.logs.String(), tt.wantLogged) {
					t.Errorf("the check's error %q was not logged:\n%s", tt.wantLogged, h.logs)
				}
			}
			// Liveness never depends on readiness: a failing dependency must not restart the process.
			if l := h.send(http.MethodGet, "/healthz", "", ""); l.status != 200 {
				t.Errorf("/healthz: %d %s", l.status, l.raw)
			}
		})
	}
}

// TestReadinessFollowsItsChecks: readiness is asked again on every probe, so a server that starts
// shutting down (or whose dependency returns) changes its answer at once.
func TestReadinessFollowsItsChecks(t *testing.T) {
	t.Parallel()
	var stopping atomic.Bool
	h := newHarness(t, options{sandbox: true, ready: []server.Check{{Name: "shutdown", Run: func(context.Context) error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	}}}})
	if r := h.send(http.MethodGet, "/readyz", "", ""); r.status != 200 {
		t.Fatalf("before: %d", r.status)
	}
	stopping.Store(true)
	if r := h.send(http.MethodGet, "/readyz", "", ""); r.status != 503 || r.str("error_text") != "not ready: shutdown" {
		t.Fatalf("while stopping: %d %s", r.status, r.raw)
	}
	// The API itself still answers: the server keeps serving until it stops accepting.
	if r := h.postJSON("/request", `{"number":"14155550100"}`); r.status != 200 {
		t.Fatalf("API while not ready: %d %s", r.status, r.raw)
	}
	// A probe every few seconds through an outage: one warning when it begins, one line when it ends.
	for range 3 {
		h.send(http.MethodGet, "/readyz", "", "")
	}
	stopping.Store(false)
	if r := h.send(http.MethodGet, "/readyz", "", ""); r.status != 200 {
		t.Fatalf("after: %d %s", r.status, r.raw)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, `"level":"WARN","msg":"not ready"`); n != 1 {
		t.Errorf("%d warnings for one outage, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, `"msg":"ready again"`); n != 1 {
		t.Errorf("%d lines saying it is ready again, want 1:\n%s", n, logs)
	}
}

// TestProbesSitOutsideValidation: probes carry no body and no JSON content type; they must never be
// refused the way a bad API call is.
func TestProbesSitOutsideValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	for _, path := range []string{"/healthz", "/readyz"} {
		r := h.send(http.MethodGet, path, "text/plain", "not json")
		if r.status != 200 || r.str("status") != "ok" {
			t.Errorf("%s: %d %s", path, r.status, r.raw)
		}
		if r.header.Get("X-Request-ID") == "" {
			t.Errorf("%s: no X-Request-ID", path)
		}
	}
}

// TestReadinessOfASharedDependency: a check marked advisory (Redis, unless READY_REQUIRES_REDIS)
// shows in the body, the log and the metrics, but leaves the server ready, so that an outage of the
// Redis every replica shares does not take them all out of rotation at once. Marked required, it
// fails readiness as before, the body staying in the ErrorBody shape.
func TestReadinessOfASharedDependency(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	redis := func(advisory bool) server.Check {
		return server.Check{Name: "redis", Advisory: advisory, Store: true, Run: func(context.Context) error {
			if down.Load() {
				return errors.New("dial tcp 10.1.2.3:6379: secret-host refused")
			}
			return nil
		}}
	}
	stopping := false
	shutdown := server.Check{Name: "shutdown", Run: func(context.Context) error {
		if stopping {
			return errors.New("shutting down")
		}
		return nil
	}}

	t.Run("advisory", func(t *testing.T) {
		down.Store(false)
		h := newHarness(t, options{sandbox: true, ready: []server.Check{shutdown, redis(true)}})
		r := h.send(http.MethodGet, "/readyz", "", "")
		if r.status != 200 || r.str("status") != "ok" || checksOf(r)["redis"] != "ok" || checksOf(r)["shutdown"] != "ok" {
			t.Fatalf("with Redis up: %d %s", r.status, r.raw)
		}
		down.Store(true)
		for range 3 {
			r = h.send(http.MethodGet, "/readyz", "", "")
			if r.status != 200 || r.str("status") != "ok" || checksOf(r)["redis"] != "failing" {
				t.Fatalf("with Redis down: %d %s, want 200 naming redis failing", r.status, r.raw)
			}
		}
		if strings.Contains(string(r.raw), "secret-host") {
			t.Errorf("/readyz shows the check's error to the client: %s", r.raw)
		}
		if got := metricstest.Scrape(t, h.metrics+"/metrics").Sum("verify_proxy_store_failures_total", "outcome", "probe"); got != 3 {
			t.Errorf("store failures counted by the probes: %v, want 3", got)
		}
		down.Store(false)
		if r := h.send(http.MethodGet, "/readyz", "", ""); r.status != 200 || checksOf(r)["redis"] != "ok" {
			t.Fatalf("with Redis back: %d %s", r.status, r.raw)
		}
		logs := h.logs.String()
		if n := strings.Count(logs, `"level":"WARN","msg":"ready, but a shared dependency is failing"`); n != 1 || !strings.Contains(logs, "secret-host refused") {
			t.Errorf("%d warnings for one outage, want 1 with the error:\n%s", n, logs)
		}
		if n := strings.Count(logs, `"msg":"every readiness check passes again"`); n != 1 {
			t.Errorf("%d lines saying the checks pass again, want 1:\n%s", n, logs)
		}
		if strings.Contains(logs, `"msg":"not ready"`) {
			t.Errorf("an advisory failure was logged as not ready:\n%s", logs)
		}
	})
	t.Run("required", func(t *testing.T) {
		down.Store(true)
		h := newHarness(t, options{sandbox: true, ready: []server.Check{shutdown, redis(false)}})
		r := h.send(http.MethodGet, "/readyz", "", "")
		if r.status != 503 || r.str("error") != "not_ready" || r.str("error_text") != "not ready: redis" {
			t.Fatalf("a required Redis down: %d %s", r.status, r.raw)
		}
		if got := metricstest.Scrape(t, h.metrics+"/metrics").Sum("verify_proxy_store_failures_total", "outcome", "probe"); got != 1 {
			t.Errorf("store failures counted by the probe: %v, want 1", got)
		}
	})
	t.Run("advisory while shutting down", func(t *testing.T) {
		down.Store(true)
		stopping = true
		h := newHarness(t, options{sandbox: true, ready: []server.Check{shutdown, redis(true)}})
		r := h.send(http.MethodGet, "/readyz", "", "")
		if r.status != 503 || r.str("error_text") != "not ready: shutdown (also failing, not required: redis)" {
			t.Fatalf("shutting down with Redis down: %d %s", r.status, r.raw)
		}
	})
}

// checksOf reads the checks of a 200 /readyz body.
func checksOf(r *response) map[string]string {
	out := map[string]string{}
	m, _ := r.body["checks"].(map[string]any)
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out
}
