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
}

// health answers the orchestrator's probes. Both routes sit outside request validation, and outside
// everything else that applies only to the API's operations.
type health struct {
	s      *Server
	checks []Check
	// was is what the last probe found failing, "" when ready: a probe every few seconds during an
	// outage logs when readiness changes, not every time it is asked.
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

// ready answers 200 when every check passes, and 503 in the Error shape naming those that did not.
// The configuration has been loaded by the time the server exists, so it needs no check of its own.
func (h health) ready(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	var failing []string
	var errs []any
	for _, check := range h.checks {
		if err := check.Run(ctx); err != nil {
			failing = append(failing, check.Name)
			errs = append(errs, slog.String(check.Name, err.Error()))
		}
	}
	now := strings.Join(failing, ", ")
	was := h.was.Swap(&now)
	switch {
	case was != nil && *was == now && now != "":
		h.s.logger.DebugContext(ctx, "still not ready", "checks", now)
	case now != "":
		h.s.logger.WarnContext(ctx, "not ready", "checks", now, slog.Group("err", errs...))
	case was != nil && *was != "":
		h.s.logger.InfoContext(ctx, "ready again", "was_failing", *was)
	}
	if now != "" {
		return errorFor(codeNotReady, "not ready: "+now)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
