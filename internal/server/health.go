package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

const (
	pathHealthz = "/healthz"
	pathReadyz  = "/readyz"
	// readyTimeout bounds all checks of one /readyz together, below an orchestrator's usual probe
	// timeout, so that a hung dependency reads as "not ready" rather than as a probe that never answers.
	readyTimeout = 900 * time.Millisecond
)

// Check is one condition of readiness: a dependency that answers, or the server not shutting down.
// Run returns nil when the condition holds; its error is logged, never shown to the client.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
	// Advisory checks are shown in the body and logged, but leave the server ready when they fail:
	// for a dependency every replica shares, failing readiness would take every replica out of
	// rotation at once, although much of the API works without it.
	Advisory bool
	// Store marks the check of the shared state: each probe it fails counts in
	// verify_proxy_store_failures_total with the outcome "probe", so that an outage shows in the
	// metrics even while no request needs the store.
	Store bool
}

// StoreFailureProbe is the outcome a failed readiness check of the shared state is counted under.
const StoreFailureProbe = "probe"

// health answers the orchestrator's probes. Both routes sit outside request validation, and outside
// everything else that applies only to the API's operations.
type health struct {
	s      *Server
	checks []Check
	// was is what the last probe found failing, "failing|advisory" by name: a probe every few
	// seconds during an outage logs when readiness changes, not every time it is asked.
	was *atomic.Pointer[string]
}

func (h health) register(e *echo.Echo) {
	// Liveness: the process serves. Nothing else belongs here: a failing dependency must not get a
	// healthy process restarted.
	getOrHead(e, pathHealthz, func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	getOrHead(e, pathReadyz, h.ready)
}

// getOrHead routes GET and HEAD to h: load balancers and uptime checkers probe with either, and
// `curl -I` sends HEAD. net/http drops the body of an answer to HEAD.
func getOrHead(e *echo.Echo, path string, h echo.HandlerFunc) {
	e.Match([]string{http.MethodGet, http.MethodHead}, path, h)
}

// ready answers 200 when every check that is not advisory passes, and 503 in the ErrorBody shape naming
// those that did not. The 200 body says how each check went ({"status":"ok","checks":{"redis":
// "failing"}}), so that an advisory failure shows too; the 503 body stays in the ErrorBody shape, its
// text naming the failing checks, advisory ones apart. The configuration has been loaded by the
// time the server exists, so it needs no check of its own.
func (h health) ready(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	var failing, advisory []string
	var errs []any
	checks := make(map[string]string, len(h.checks))
	for _, check := range h.checks {
		checks[check.Name] = "ok"
		err := check.Run(ctx)
		if err == nil {
			continue
		}
		checks[check.Name] = "failing"
		errs = append(errs, slog.String(check.Name, err.Error()))
		if check.Store {
			h.s.metrics.StoreFailed(StoreFailureProbe)
		}
		if check.Advisory {
			advisory = append(advisory, check.Name)
		} else {
			failing = append(failing, check.Name)
		}
	}
	h.logChange(ctx, strings.Join(failing, ", "), strings.Join(advisory, ", "), errs)
	if len(failing) > 0 {
		text := "not ready: " + strings.Join(failing, ", ")
		if len(advisory) > 0 {
			text += " (also failing, not required: " + strings.Join(advisory, ", ") + ")"
		}
		return errorFor(codeNotReady, text)
	}
	body := map[string]any{"status": "ok"}
	if len(checks) > 0 {
		body["checks"] = checks
	}
	return c.JSON(http.StatusOK, body)
}

// logChange logs what the probes find when it changes: one line when checks begin to fail, one
// when they pass again, and nothing on the probes between.
func (h health) logChange(ctx context.Context, failing, advisory string, errs []any) {
	now := failing + "|" + advisory
	wasState := h.was.Swap(&now)
	was := ""
	if wasState != nil {
		was = *wasState
	}
	wasFailing, wasAdvisory, _ := strings.Cut(was, "|")
	switch {
	case now == was && now != "|":
		h.s.logger.DebugContext(ctx, "readiness checks still failing", "checks", failing, "advisory", advisory)
	case failing != "":
		h.s.logger.WarnContext(ctx, "not ready", "checks", failing, slog.Group("err", errs...))
	case advisory != "":
		h.s.logger.WarnContext(ctx, "ready, but a shared dependency is failing", "checks", advisory,
			slog.Group("err", errs...))
	case wasFailing != "":
		h.s.logger.InfoContext(ctx, "ready again", "was_failing", wasFailing)
	case wasAdvisory != "":
		h.s.logger.InfoContext(ctx, "every readiness check passes again", "was_failing", wasAdvisory)
	}
}
