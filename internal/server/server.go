// Package server maps the contract onto verify.Provider: the strict-server handlers, the one error
// mapping, request validation, the compatibility layer for the original proxy's apps, and the routes
// for docs and health. It is the only package that knows about Echo and HTTP status codes.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/verify-proxy/verify-proxy/api"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// statusOK is the Verify API's success status, a string as the apps expect.
const statusOK = "0"

// Server implements the contract's operations.
type Server struct {
	provider verify.Provider
	phones   *phone.Parser
	logger   *slog.Logger
}

var _ api.StrictServerInterface = (*Server)(nil)

// RequestVerification starts a verification after the number is known to be valid, because every
// upstream call costs money.
func (s *Server) RequestVerification(ctx context.Context, req api.RequestVerificationRequestObject) (api.RequestVerificationResponseObject, error) {
	num, err := s.phones.Parse(req.Body.Number)
	if err != nil {
		if !errors.Is(err, phone.ErrInvalid) {
			return s.fromError(ctx, "request", err), nil
		}
		s.logger.InfoContext(ctx, "invalid phone number refused", "number", phone.Mask(req.Body.Number))
		return newAPIError(http.StatusBadRequest, "invalid_number",
			"number is not a valid phone number; send it in international format, e.g. 14155550100"), nil
	}
	started, err := s.provider.Start(ctx, num.E164)
	if err != nil {
		return s.fromError(ctx, "request", err), nil
	}
	s.logger.InfoContext(ctx, "verification started", "request_id", started.RequestID, "number", phone.Mask(num.E164))
	return api.RequestVerification200JSONResponse{RequestId: started.RequestID, Status: statusOK}, nil
}

// CheckVerification checks the code the user typed.
func (s *Server) CheckVerification(ctx context.Context, req api.CheckVerificationRequestObject) (api.CheckVerificationResponseObject, error) {
	checked, err := s.provider.Check(ctx, req.Body.RequestId, req.Body.Code)
	if err != nil {
		return s.fromError(ctx, "check", err), nil
	}
	s.logger.InfoContext(ctx, "verification succeeded", "request_id", req.Body.RequestId)
	requestID := checked.RequestID
	if requestID == "" {
		requestID = req.Body.RequestId
	}
	return api.CheckVerification200JSONResponse{
		RequestId:                  requestID,
		Status:                     statusOK,
		EventId:                    optional(checked.EventID),
		Price:                      optional(checked.Price),
		Currency:                   optional(checked.Currency),
		EstimatedPriceMessagesSent: optional(checked.EstimatedPriceMessagesSent),
	}, nil
}

// CancelVerification stops a verification.
func (s *Server) CancelVerification(ctx context.Context, req api.CancelVerificationRequestObject) (api.CancelVerificationResponseObject, error) {
	if err := s.provider.Cancel(ctx, req.Body.RequestId); err != nil {
		return s.fromError(ctx, "cancel", err), nil
	}
	s.logger.InfoContext(ctx, "verification cancelled", "request_id", req.Body.RequestId)
	return api.CancelVerification200JSONResponse{Status: statusOK, Command: api.Cancel}, nil
}

// optional turns the upstream's "absent" (empty) into an omitted field.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
