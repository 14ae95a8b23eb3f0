package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// clientIP says who the client is. Echo's default believes X-Forwarded-For from anyone, so a client
// could name any address and dodge its per-IP limit. Here the headers count only when the TCP peer
// is one of trusted; Echo's own trust of loopback, link-local and private peers is switched off,
// because on a shared network those are not proxies of ours either.
func clientIP(trusted []netip.Prefix, header string) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}))
	}
	// Only the header the proxies set: each kind of proxy passes the other header on as the client
	// wrote it. X-Real-IP holds one address; X-Forwarded-For is walked from the right, and the
	// first address a trusted proxy did not add is the client.
	if strings.EqualFold(header, echo.HeaderXRealIP) {
		fromRealIP := echo.ExtractIPFromRealIPHeader(opts...)
		return func(r *http.Request) string {
			// A proxy that adds X-Real-IP rather than replacing it puts its own after the client's;
			// Echo reads the first. The last is the one the proxy wrote.
			if vs := r.Header.Values(echo.HeaderXRealIP); len(vs) > 1 {
				last := *r
				last.Header = r.Header.Clone()
				last.Header.Set(echo.HeaderXRealIP, vs[len(vs)-1])
				r = &last
			}
			return fromRealIP(r)
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// opByRoute finds the operation of a contract route.
var opByRoute = func() map[string]verify.Op {
	m := make(map[string]verify.Op, len(verify.Ops))
	for _, op := range verify.Ops {
		m[op.Route()] = op
	}
	return m
}()

// logName is how the logs name op: after its route, as the contract does ("request", "check",
// "cancel").
func logName(op verify.Op) string { return strings.TrimPrefix(op.Route(), "/") }

// limitClients applies the per-IP limit to every call and tells the handlers who the client is.
// The limit rides in the first batch the handler sends to the store (guard.Call), so that a call
// makes one round trip before Vonage; a call refused before its handler (an invalid body) has it
// applied here afterwards, and a client over its limit is answered 429 all the same.
func (s *Server) limitClients(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		op := opByRoute[c.Path()]
		call := s.guard.Begin(op, c.RealIP())
		ctx := c.Request().Context()
		// In the request's notes, not a context of its own: that would copy the request once more.
		if n, ok := ctx.Value(notesKey{}).(*notes); ok {
			n.call = call
		}
		err := next(c)
		if refusal := call.Finish(ctx); refusal != nil {
			return s.fromError(ctx, logName(op), refusal)
		}
		return err
	}
}

// callOf is the guard's business with the request of ctx, which limitClients began; outside one
// (a handler called alone), a call of op with no client to limit.
func (s *Server) callOf(ctx context.Context, op verify.Op) *guard.Call {
	if n, ok := ctx.Value(notesKey{}).(*notes); ok && n.call != nil {
		return n.call
	}
	return s.guard.BeginLimited(op, "")
}

// clientIPOf is the client address limitClients found for the request of ctx ("" outside one).
func clientIPOf(ctx context.Context) string {
	if n, ok := ctx.Value(notesKey{}).(*notes); ok && n.call != nil {
		return n.call.IP()
	}
	return ""
}
