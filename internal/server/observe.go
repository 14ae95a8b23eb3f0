package server

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/verify-proxy/verify-proxy/internal/logging"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
	"github.com/verify-proxy/verify-proxy/internal/phone"
)

// HeaderRequestID names the request id a client (or a proxy in front) may send, and that every
// answer echoes.
const HeaderRequestID = "X-Request-ID"

// saneRequestID is what an incoming X-Request-ID must look like to be kept: short, and nothing that
// could forge a log line or smuggle markup into a log viewer.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// requestID gives every request an id, the client's when it is sane, and puts it in the request's
// context (so every log line of the request names it) and in the answer.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		id := req.Header.Get(HeaderRequestID)
		if !saneRequestID.MatchString(id) {
			id = rand.Text()
		}
		c.Response().Header().Set(HeaderRequestID, id)
		c.SetRequest(req.WithContext(logging.WithRequestID(req.Context(), id)))
		return next(c)
	}
}

// notes are what the handlers learn about a request that its access line reports: they know the
// parsed number and the Verify status, the middleware that writes the line does not.
type notes struct {
	number       string // masked
	verifyStatus string
}

type notesKey struct{}

// noteNumber records the number a request is about, masked: the log never holds a full number.
func noteNumber(ctx context.Context, number string) {
	if n, ok := ctx.Value(notesKey{}).(*notes); ok {
		n.number = phone.Mask(number)
	}
}

// noteVerifyStatus records the Verify status a request ended with.
func noteVerifyStatus(ctx context.Context, status string) {
	if n, ok := ctx.Value(notesKey{}).(*notes); ok && status != "" {
		n.verifyStatus = status
	}
}

// observe writes one access line per request and counts it in the metrics. It never logs bodies:
// they hold numbers and codes. Successful health probes are logged at debug level, so that an
// orchestrator probing every few seconds does not drown the log.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		done := s.metrics.InFlight()
		defer done()
		n := &notes{}
		req := c.Request()
		ctx := context.WithValue(req.Context(), notesKey{}, n)
		c.SetRequest(req.WithContext(ctx))

		if err := next(c); err != nil {
			c.Error(err) // render now, so the line has the status the client got
		}
		took := time.Since(start)
		route, status := c.Path(), c.Response().Status
		if route == "" {
			route = metrics.UnmatchedRoute
		}
		s.metrics.ObserveRequest(route, req.Method, status, took)

		level := slog.LevelInfo
		if (route == pathHealthz || route == pathReadyz) && status == http.StatusOK {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", req.Method), slog.String("route", route), slog.Int("status", status),
			slog.Float64("latency_ms", float64(took.Microseconds())/1000), slog.String("client_ip", c.RealIP()),
		}
		if n.number != "" {
			attrs = append(attrs, slog.String("number", n.number))
		}
		if n.verifyStatus != "" {
			attrs = append(attrs, slog.String("verify_status", n.verifyStatus))
		}
		s.logger.LogAttrs(ctx, level, "http request", attrs...)
		return nil
	}
}
