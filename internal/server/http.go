package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/verify-proxy/verify-proxy/api"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/token"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/verify/testnumbers"
)

// MaxBodyBytes is the largest request body accepted: the real bodies are under 200 bytes.
const MaxBodyBytes = 16 << 10

// Deps is everything the server is built from; New takes nothing from anywhere else.
type Deps struct {
	Logger   *slog.Logger
	Provider verify.Provider
	Phones   *phone.Parser       // reads the numbers apps send
	Tests    testnumbers.Numbers // test numbers, which Provider answers itself; nil: none
	Guard    *guard.Guard        // decides what may go ahead
	// Tokens signs the verification_token of a successful check and publishes its keys; nil: no
	// tokens, and an empty key set.
	Tokens   *token.Issuer
	SpecYAML []byte // openapi.yaml as written, served at /openapi.yaml
	// TrustedProxies are the peers whose ClientIPHeader names the client; from any other peer the
	// header is ignored and the peer is the client.
	TrustedProxies []netip.Prefix
	// ClientIPHeader is the one header the trusted proxies set: "X-Forwarded-For" (the default
	// when empty) or "X-Real-IP". The other is ignored, since the proxies pass it on unchecked.
	ClientIPHeader string
	// Metrics counts requests and refusals; nil gives the server metrics of its own that nobody
	// reads. Wrap Provider with Metrics.Instrument to measure the backend too.
	Metrics *metrics.Metrics
	// Ready are the checks /readyz runs: dependencies that must answer, and whether the server is
	// shutting down. None means ready whenever it serves.
	Ready []Check
	// SilentAuth, when set, serves the check_url that Provider's starts answer with a path under
	// SilentAuthPath (the sandbox standing in for the carrier); nil: no such route.
	SilentAuth verify.SilentAuthenticator
}

// New builds the HTTP handler: every route, every middleware, wired from explicit dependencies.
func New(d Deps) (http.Handler, error) {
	if d.Logger == nil || d.Provider == nil || d.Phones == nil || d.Guard == nil {
		return nil, errors.New("server: logger, provider, phone parser and guard are required")
	}
	logger := d.Logger
	if d.Metrics == nil {
		d.Metrics = metrics.New("")
	}
	keySet, err := newKeySet(d.Tokens)
	if err != nil {
		return nil, err
	}
	s := &Server{provider: d.Provider, phones: d.Phones, tests: d.Tests, guard: d.Guard, tokens: d.Tokens,
		keySet: keySet, silent: d.SilentAuth, logger: logger, metrics: d.Metrics}

	validator, err := newValidator(s)
	if err != nil {
		return nil, err
	}
	docs, err := newDocs(d.SpecYAML)
	if err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientIP(d.TrustedProxies, d.ClientIPHeader)

	e.Use(
		s.observe,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			DisablePrintStack: true,
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				logger.ErrorContext(c.Request().Context(), "panic in handler", "err", err, "stack", string(stack))
				return err
			},
		}),
		middleware.SecureWithConfig(middleware.SecureConfig{ContentTypeNosniff: "nosniff", XFrameOptions: "DENY"}),
		middleware.BodyLimit(fmt.Sprintf("%dB", MaxBodyBytes)),
		onlyAPI(noStore),
		onlyAPI(s.limitClients),
		onlyAPI(s.legacyBodies),
		onlyAPI(validator),
	)

	if s.silent != nil {
		// Only the sandbox's check_url is a path on this server, to be made absolute.
		e.Use(onlyAPI(withOrigin))
		getOrHead(e, SilentAuthPath+":request_id", s.silentAuth)
	}
	api.RegisterHandlers(e, api.NewStrictHandler(s, nil))
	docs.register(e)
	health{s: s, checks: d.Ready, was: &atomic.Pointer[string]{}}.register(e)
	return e, nil
}

// keySetMaxAge is how long backends may cache the key set: a rotation publishes the new key this
// long before it signs (see the README), and an unknown kid makes a backend fetch it again anyway.
const keySetMaxAge = "public, max-age=300"

// newKeySet is the answer to GET /.well-known/jwks.json, made once: the keys never change while the
// server runs.
func newKeySet(tokens *token.Issuer) (api.GetJSONWebKeySet200JSONResponse, error) {
	resp := api.GetJSONWebKeySet200JSONResponse{Body: api.JSONWebKeySet{Keys: []api.JSONWebKey{}}}
	resp.Headers.CacheControl = new(keySetMaxAge)
	if tokens == nil {
		return resp, nil
	}
	if err := json.Unmarshal(tokens.KeySet(), &resp.Body); err != nil {
		return resp, fmt.Errorf("server: the token key set: %w", err)
	}
	return resp, nil
}

// onlyAPI applies mw to the contract's operations alone. It must look at the method too: Echo runs
// middleware for a wrong-method request with the route's path set, and that belongs to the 405 path.
func onlyAPI(mw echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		wrapped := mw(next)
		return func(c echo.Context) error {
			if _, isAPI := opByRoute[c.Path()]; isAPI && c.Request().Method == http.MethodPost {
				return wrapped(c)
			}
			return next(c)
		}
	}
}

// noStore keeps verification answers (request ids, prices) out of shared caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// handleError answers every error in the contract's ErrorBody shape: never HTML, never a stack trace.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae, ok := errors.AsType[*apiError](err)
	if !ok {
		ae = s.fromHTTPError(c, err)
	}
	if c.Request().Method == http.MethodHead {
		c.Response().Header().Set("Content-Type", "application/json")
		c.Response().WriteHeader(ae.status)
		return
	}
	if werr := ae.write(c.Response()); werr != nil {
		s.logger.DebugContext(c.Request().Context(), "write error response", "err", werr)
	}
}

// fromHTTPError maps Echo's own errors (routing, body limit, panics) onto the contract.
func (s *Server) fromHTTPError(c echo.Context, err error) *apiError {
	he, ok := errors.AsType[*echo.HTTPError](err)
	if !ok {
		return s.fromError(c.Request().Context(), c.Path(), err)
	}
	switch he.Code {
	case http.StatusNotFound:
		return errorFor(codeUnknownRoute, "")
	case http.StatusMethodNotAllowed:
		allow := c.Response().Header().Get(echo.HeaderAllow)
		if allow == "" {
			allow = http.MethodPost
		}
		ae := errorFor(codeMethodNotAllowed, "method not allowed; use "+allow)
		ae.allow = allow
		return ae
	case http.StatusRequestEntityTooLarge:
		return s.refuse(codePayloadTooLarge, "")
	case http.StatusUnsupportedMediaType:
		return s.refuse(codeUnsupportedMediaType, "")
	}
	if he.Code >= 400 && he.Code < 500 {
		ae := errorFor(codeInvalidRequest, fmt.Sprint(he.Message))
		ae.status = he.Code // Echo's own 4xx: the request's fault, as Echo saw it
		return ae
	}
	s.logger.ErrorContext(c.Request().Context(), "internal error", "err", err)
	return errorFor(codeInternalError, "")
}
