package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// SilentAuthPath is where the sandbox serves the check_url of its silent authentication, followed by
// the request_id; with Vonage the phone opens Vonage's own check_url instead.
const SilentAuthPath = "/sandbox/silent-auth/"

// maxCheckURLLen is the contract's limit on check_url.
const maxCheckURLLen = 2048

type originKey struct{}

// withOrigin remembers the scheme and host the app called, so that a check_url on this server (the
// sandbox's) is one the app can open: it reached the server there already. The scheme is the
// connection's own; X-Forwarded-Proto is anyone's to send.
func withOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		scheme := "http"
		if req.TLS != nil {
			scheme = "https"
		}
		origin := scheme + "://" + req.Host
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), originKey{}, origin)))
		return next(c)
	}
}

// checkURL is the check_url to give the app, or nil: a path on this server becomes an absolute URL
// at the origin the app called; anything that is not an absolute http(s) URL within the contract's
// length is left out, since an app could not open it (the verification goes on by its fallback).
func (s *Server) checkURL(ctx context.Context, requestID, raw string) *string {
	if raw == "" {
		return nil
	}
	if strings.HasPrefix(raw, "/") {
		origin, _ := ctx.Value(originKey{}).(string)
		raw = origin + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > maxCheckURLLen {
		s.logger.WarnContext(ctx, "the check_url is not an http(s) URL of at most 2048 characters; it is not passed on",
			"request_id", requestID, "length", len(raw))
		return nil
	}
	return &raw
}

// silentAuth serves the sandbox's check_url as Vonage serves its own: the code to check as JSON, or
// a redirect to the operator's URL with the request_id and code in its fragment.
func (s *Server) silentAuth(c echo.Context) error {
	ctx := c.Request().Context()
	c.Response().Header().Set("Cache-Control", "no-store")
	id := c.Param("request_id")
	if !verify.ValidRequestID(id) {
		// Nothing the sandbox issued, and nothing to log: the path is anyone's to write.
		return errorFor(string(verify.KindNotFound), "").withStatus(http.StatusNotFound)
	}
	done, err := s.silent.CompleteSilentAuth(ctx, id)
	if err != nil {
		ae := s.fromError(ctx, "silent_auth", err)
		if ve, ok := verify.AsError(err); ok && ve.Kind == verify.KindNotFound {
			ae = ae.withStatus(http.StatusNotFound) // a URL that leads nowhere, as Vonage's check_url answers
		}
		return ae
	}
	if done.RedirectURL != "" {
		fragment := "request_id=" + url.QueryEscape(done.RequestID) + "&code=" + url.QueryEscape(done.Code)
		return c.Redirect(http.StatusFound, done.RedirectURL+"#"+fragment)
	}
	return c.JSON(http.StatusOK, map[string]string{"request_id": done.RequestID, "code": done.Code})
}
