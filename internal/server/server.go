// Package server maps the contract onto verify.Provider: the strict-server handlers, the one error
// mapping, request validation, the compatibility layer for the original proxy's apps, and the routes
// for docs and health. It is the only package that knows about Echo and HTTP status codes.
package server

import (
	"context"
	"log/slog"

	"github.com/verify-proxy/verify-proxy/api"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/token"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/verify/testnumbers"
)

// Server implements the contract's operations.
type Server struct {
	provider verify.Provider
	phones   *phone.Parser
	tests    testnumbers.Numbers
	guard    *guard.Guard
	tokens   *token.Issuer // nil, or one without a key: no verification_token
	keySet   api.GetJSONWebKeySet200JSONResponse
	silent   verify.SilentAuthenticator // nil, or the sandbox serving its check_url
	logger   *slog.Logger
	metrics  *metrics.Metrics
}

var _ api.StrictServerInterface = (*Server)(nil)

// RequestVerification starts a verification, once per Idempotency-Key when the app sends one.
func (s *Server) RequestVerification(ctx context.Context, req api.RequestVerificationRequestObject) (api.RequestVerificationResponseObject, error) {
	var key string
	if req.Params.IdempotencyKey != nil {
		var ok bool
		if key, ok = idempotencyKey(*req.Params.IdempotencyKey); !ok {
			// Refused before the guard: its per-IP limit first, so a client over it is told so.
			if err := s.callOf(ctx, verify.OpStart).Finish(ctx); err != nil {
				return s.fromError(ctx, logName(verify.OpStart), err), nil
			}
			return s.refuse(codeInvalidRequest, "Idempotency-Key header: the key between the quotes is empty"), nil
		}
		// An app that sends a key has said it will retry. If it hangs up, the start runs on to its
		// end (UPSTREAM_TIMEOUT still bounds it), so that the retry is given this answer:
		// cancelling would leave an SMS on its way and nothing to replay, and the retry would pay
		// for a second.
		ctx = context.WithoutCancel(ctx)
	}
	resp, outcome, again := s.startVerification(ctx, key, req.Body.Number)
	if again != nil {
		return replay(*again), nil
	}
	if key != "" {
		answer, final := record(resp)
		// Only an answer from the backend is kept for the key's lifetime. A refusal before
		// the backend (an invalid number, a refused country) is the same on every retry anyway,
		// and keeping it would let anyone with many keys fill the store at no cost.
		outcome.Response, outcome.Keep = answer, final && outcome.asked
	}
	outcome.start.Finish(ctx, outcome.StartOutcome)
	return resp, nil
}

// startOutcome is what startVerification did, for the guard to settle.
type startOutcome struct {
	guard.StartOutcome
	start *guard.Start
	asked bool // the backend was asked, whatever it answered
}

// idempotencyKey reads the Idempotency-Key header. The draft writes the key as a structured-field
// string, in quotes; many clients send it bare. One pair of surrounding quotes is dropped, nothing
// else, so "K1 and K1 stay different keys; ok is false when nothing is left between the quotes.
func idempotencyKey(header string) (key string, ok bool) {
	if len(header) >= 2 && header[0] == '"' && header[len(header)-1] == '"' {
		header = header[1 : len(header)-1]
	}
	return header, header != ""
}

// startVerification reads the number once, and starts a verification once the guard admits it,
// because every upstream call costs money. It answers the response, what the guard is to settle,
// and the answer to replay instead when the Idempotency-Key key already has one.
func (s *Server) startVerification(ctx context.Context, key, rawNumber string) (api.RequestVerificationResponseObject, startOutcome, *state.Response) {
	noteNumber(ctx, rawNumber)
	num, isTest, readErr := s.tests.Read(s.phones, rawNumber)
	start, err := s.callOf(ctx, verify.OpStart).Start(ctx, guard.StartRequest{Key: key, Request: rawNumber,
		Number: num, Read: readErr == nil, Test: isTest})
	if err == nil && start.Replay != nil {
		return nil, startOutcome{}, start.Replay
	}
	if err == nil {
		err = readErr
	}
	out := startOutcome{start: start}
	if err != nil {
		return s.fromError(ctx, logName(verify.OpStart), err), out, nil
	}
	number := num.E164
	masked := noteNumber(ctx, number)
	started, err := s.provider.Start(ctx, number)
	out.asked = true
	if err == nil && !verify.ValidRequestID(started.RequestID) {
		err = &verify.Error{Kind: verify.KindUpstreamUnavailable, Detail: "the verification service answered a request_id this API cannot pass on"}
	}
	out.Err = err
	if err != nil {
		return s.fromError(ctx, logName(verify.OpStart), s.withholdRunning(ctx, err)), out, nil
	}
	out.RequestID = started.RequestID
	noteVerifyStatus(ctx, verify.StatusOK)
	s.logger.LogAttrs(ctx, slog.LevelInfo, "verification started",
		slog.String("request_id", started.RequestID), slog.String("number", masked))
	return api.RequestVerification200JSONResponse{RequestId: started.RequestID, Status: verify.StatusOK,
		CheckUrl: s.checkURL(ctx, started.RequestID, started.CheckURL)}, out, nil
}

// withholdRunning takes the running verification's request_id out of a concurrent_verification
// answer, unless the guard lets this client learn it: with it, a stranger who knows only the number
// could cancel that verification or spend its wrong codes. It is taken out before anything logs it.
func (s *Server) withholdRunning(ctx context.Context, err error) error {
	ve, ok := verify.AsError(err)
	if !ok || ve.Kind != verify.KindConcurrentVerification || ve.RequestID == "" {
		return err
	}
	if s.guard.Disclose(ctx, ve.RequestID, clientIPOf(ctx)) {
		return err
	}
	withheld := *ve
	withheld.RequestID = ""
	return &withheld
}

// CheckVerification checks the code the user typed. The number it proves is the one this server
// stored when the verification started, never one the client names now.
func (s *Server) CheckVerification(ctx context.Context, req api.CheckVerificationRequestObject) (api.CheckVerificationResponseObject, error) {
	// The id the app sent is the one it knows; an upstream that echoes another adds nothing.
	requestID := req.Body.RequestId
	check, err := s.callOf(ctx, verify.OpCheck).BeginCheck(ctx, requestID)
	if err != nil {
		return s.fromError(ctx, logName(verify.OpCheck), err), nil
	}
	if check.Known {
		noteNumber(ctx, check.Verification.Number)
	}
	checked, err := s.provider.Check(ctx, requestID, req.Body.Code)
	check.End(ctx, err)
	if err != nil {
		return s.fromError(ctx, logName(verify.OpCheck), err), nil
	}
	noteVerifyStatus(ctx, verify.StatusOK)
	s.logger.InfoContext(ctx, "verification succeeded", "request_id", requestID)
	return api.CheckVerification200JSONResponse{
		RequestId:                  requestID,
		Status:                     verify.StatusOK,
		EventId:                    optional(checked.EventID),
		Price:                      optional(checked.Price),
		Currency:                   optional(checked.Currency),
		EstimatedPriceMessagesSent: optional(checked.EstimatedPriceMessagesSent),
		VerificationToken:          optional(s.proof(ctx, requestID, check.Verification, check.Known)),
	}, nil
}

// proof signs the verification_token of a verified number, or says in the log why there is none.
// The check has succeeded either way: a missing token must not turn it into a failure.
func (s *Server) proof(ctx context.Context, requestID string, started state.Verification, known bool) string {
	if !s.tokens.Signs() {
		return ""
	}
	if !known {
		s.logger.WarnContext(ctx, "no verification_token: this server does not know which number the verification was for "+
			"(started before an upgrade, by another deployment, or its record was lost)", "request_id", requestID)
		return ""
	}
	tok, err := s.tokens.Issue(token.Subject{Number: started.Number, RequestID: requestID, Test: started.Test})
	if err != nil {
		s.logger.ErrorContext(ctx, "no verification_token: signing failed", "request_id", requestID, "err", err)
		return ""
	}
	return tok
}

// GetJSONWebKeySet serves the public keys that verify tokens. Backends fetch it rarely and cache it.
func (s *Server) GetJSONWebKeySet(context.Context, api.GetJSONWebKeySetRequestObject) (api.GetJSONWebKeySetResponseObject, error) {
	return s.keySet, nil
}

// CancelVerification stops a verification.
func (s *Server) CancelVerification(ctx context.Context, req api.CancelVerificationRequestObject) (api.CancelVerificationResponseObject, error) {
	cancel, err := s.callOf(ctx, verify.OpCancel).BeginCancel(ctx, req.Body.RequestId)
	if err != nil {
		return s.fromError(ctx, logName(verify.OpCancel), err), nil
	}
	err = s.provider.Cancel(ctx, req.Body.RequestId)
	cancel.End(ctx, err)
	if err != nil {
		return s.fromError(ctx, logName(verify.OpCancel), err), nil
	}
	noteVerifyStatus(ctx, verify.StatusOK)
	s.logger.InfoContext(ctx, "verification cancelled", "request_id", req.Body.RequestId)
	return api.CancelVerification200JSONResponse{Status: verify.StatusOK, Command: api.Cancel}, nil
}

// optional turns the upstream's "absent" (empty) into an omitted field.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
