package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/verify-proxy/verify-proxy/api"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// apiError is every failure the server answers with: one type that is an error (so middleware can
// return it) and a response object of every strict operation (so handlers can return it), rendered in
// one place in the contract's ErrorBody shape.
type apiError struct {
	status     int
	body       api.ErrorBody
	retryAfter time.Duration // sets Retry-After when > 0
	allow      string        // sets Allow on 405
}

// Compile-time proof that one error type answers every operation.
var (
	_ api.RequestVerificationResponseObject = (*apiError)(nil)
	_ api.CheckVerificationResponseObject   = (*apiError)(nil)
	_ api.CancelVerificationResponseObject  = (*apiError)(nil)
)

// refuse answers a request refused before the verification backend is called, and counts it.
func (s *Server) refuse(code, text string) *apiError {
	return s.refuseBy(code, "", text)
}

// refuseBy is refuse for a refusal that names the limit or rule behind it.
func (s *Server) refuseBy(code, rule, text string) *apiError {
	s.metrics.Refused(code, rule)
	return errorFor(code, text)
}

func (e *apiError) Error() string { return e.body.Error + ": " + e.body.ErrorText }

// withStatus is e answered with another HTTP status, for a route outside the contract whose
// convention differs (a URL that leads nowhere is a 404).
func (e *apiError) withStatus(status int) *apiError {
	e.status = status
	return e
}

func (e *apiError) write(w http.ResponseWriter) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.retryAfter)))
	}
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	w.WriteHeader(e.status)
	return json.NewEncoder(w).Encode(e.body)
}

func (e *apiError) VisitRequestVerificationResponse(w http.ResponseWriter) error { return e.write(w) }
func (e *apiError) VisitCheckVerificationResponse(w http.ResponseWriter) error   { return e.write(w) }
func (e *apiError) VisitCancelVerificationResponse(w http.ResponseWriter) error  { return e.write(w) }

// retryAfterSeconds rounds up, so a client never retries before the limit has passed.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// fromError maps any error a handler meets to the response, and logs it: this is the one place an
// error is both decided on and logged (log or return, never both).
func (s *Server) fromError(ctx context.Context, op string, err error) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	if ge, ok := guard.AsError(err); ok {
		return s.fromGuardError(ctx, op, ge)
	}
	if errors.Is(err, phone.ErrInvalid) {
		s.logger.InfoContext(ctx, "invalid phone number refused", "op", op, "reason", err.Error())
		return s.refuse(codeInvalidNumber, "")
	}
	ve, ok := verify.AsError(err)
	if !ok {
		if errors.Is(err, context.Canceled) {
			// The app hung up, so nobody reads this answer. Its status is for the access log and the
			// metrics: nginx's 499, not a 5xx that would page an operator for phones out of coverage.
			s.logger.InfoContext(ctx, "client went away before the verification service answered", "op", op)
			return errorFor(codeClientClosedRequest, "")
		}
		s.logger.ErrorContext(ctx, "unexpected failure", "op", op, "err", err)
		return errorFor(codeInternalError, "")
	}
	if _, known := answers[string(ve.Kind)]; !known {
		s.logger.ErrorContext(ctx, "unmapped verification failure", "op", op, "err", ve)
		return errorFor(codeInternalError, "")
	}

	noteVerifyStatus(ctx, ve.Status)
	code := string(ve.Kind)
	switch ve.Kind {
	case verify.KindThrottled:
		s.logger.WarnContext(ctx, "verification service throttled us", "op", op, "status", ve.Status, "detail", ve.Detail)
		ae := errorFor(code, "")
		ae.retryAfter = max(ve.RetryAfter, time.Second)
		if validStatus(ve.Status) {
			ae.body.Status = &ve.Status
		}
		return ae
	case verify.KindUpstreamError:
		s.logger.ErrorContext(ctx, "verification service refused our account or failed",
			"op", op, "status", ve.Status, "detail", ve.Detail, "err", ve.Err)
		return errorFor(code, "")
	case verify.KindUpstreamUnavailable:
		s.logger.ErrorContext(ctx, "verification service unavailable", "op", op, "detail", ve.Detail, "err", ve.Err)
		return errorFor(code, "")
	case verify.KindUpstreamTimeout:
		s.logger.ErrorContext(ctx, "verification service timed out", "op", op, "err", ve.Err)
		return errorFor(code, "")
	}

	// Detail is upstream context for support (Verify v2's problem instance, for one); never for the app.
	// Attrs, not key-value pairs: each pair's value would be boxed in an interface (a wrong code
	// logs this line on every call).
	attrs := []slog.Attr{slog.String("op", op), slog.String("error", code), slog.String("status", ve.Status),
		slog.String("request_id", ve.RequestID), slog.String("detail", ve.Detail)}
	if ve.Network != "" {
		attrs = append(attrs, slog.String("network", ve.Network)) // what the operator asks Vonage to unblock
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "verification refused", attrs...)
	ae := errorFor(code, ve.Text)
	if validStatus(ve.Status) {
		ae.body.Status = &ve.Status
	}
	if verify.ValidRequestID(ve.RequestID) {
		ae.body.RequestId = &ve.RequestID
	}
	if ve.Kind == verify.KindNumberBlocked && networkPattern.MatchString(ve.Network) {
		ae.body.Network = &ve.Network
	}
	return ae
}

// The contract's patterns for values that come from upstream. An upstream that sends something else
// must not make this server break its own contract: such a value is left out of an error (the Kind
// still says what happened) and makes a success a 502.
var (
	statusPattern  = regexp.MustCompile(`^[0-9]{1,4}$`)
	networkPattern = regexp.MustCompile(`^[0-9]{5,6}$`)
)

func validStatus(s string) bool { return statusPattern.MatchString(s) }

// fromGuardError maps a refusal by the guard. An unreachable store is not logged here: the guard
// logs it once per outage, not once per request.
func (s *Server) fromGuardError(ctx context.Context, op string, ge *guard.Error) *apiError {
	if _, known := answers[string(ge.Kind)]; !known {
		s.logger.ErrorContext(ctx, "unmapped guard refusal", "op", op, "err", ge)
		return errorFor(codeInternalError, "")
	}
	if ge.Kind != guard.KindUnavailable {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "refused by the guard",
			slog.String("op", op), slog.String("error", string(ge.Kind)), slog.String("reason", ge.Text))
	}
	ae := s.refuseBy(string(ge.Kind), ge.Rule, ge.Text)
	ae.retryAfter = ge.RetryAfter
	return ae
}
