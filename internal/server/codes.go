package server

import (
	"fmt"
	"net/http"

	"github.com/verify-proxy/verify-proxy/api"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// The codes of the failures the server answers itself, outside the verification backend (whose codes
// are verify.Kind) and the guard (guard.Kind).
const (
	codeInvalidRequest       = string(verify.KindInvalidRequest) // also a backend's refusal of input it cannot take
	codeInvalidNumber        = "invalid_number"
	codeUnsupportedMediaType = "unsupported_media_type"
	codePayloadTooLarge      = "payload_too_large"
	codeUnknownRoute         = "unknown_route"
	codeMethodNotAllowed     = "method_not_allowed"
	codeInternalError        = "internal_error"
	codeNotReady             = "not_ready"             // only from GET /readyz
	codeClientClosedRequest  = "client_closed_request" // only in the log and metrics: nobody reads it
)

// statusClientClosedRequest is nginx's status for a request whose client hung up before the answer.
const statusClientClosedRequest = 499

// answer is how the API answers one error code.
type answer struct {
	status int    // the HTTP status
	text   string // error_text when the failure brings none, or must not show its own
}

// answers is every error code the API can answer, each once, with its HTTP status. openapi.yaml's
// ErrorBody schema lists the same codes, and every verify.Kind and guard.Kind is here
// (TestEveryErrorCodeIsAnsweredAndDocumented).
var answers = map[string]answer{
	// The Verify API refused, for a reason of the user or the input: its own text is shown when it
	// sent one.
	string(verify.KindInvalidParameter):       {http.StatusBadRequest, "a value was refused by the verification service"},
	string(verify.KindNotFound):               {http.StatusBadRequest, "the verification was not found or is no longer active"},
	string(verify.KindNumberBlocked):          {http.StatusBadRequest, "this number cannot be verified"},
	string(verify.KindConcurrentVerification): {http.StatusBadRequest, "a verification to this number is already in progress"},
	string(verify.KindUnsupportedNetwork):     {http.StatusBadRequest, "this number's network is not supported"},
	string(verify.KindCodeMismatch):           {http.StatusBadRequest, "the code does not match"},
	string(verify.KindTooManyAttempts):        {http.StatusBadRequest, "the wrong code was given too many times; start a new verification"},
	string(verify.KindExpired):                {http.StatusBadRequest, "the verification has expired; start a new verification"},
	string(verify.KindCancelNotAllowed):       {http.StatusBadRequest, "the verification cannot be cancelled now"},
	string(verify.KindRejected):               {http.StatusBadRequest, "the verification service refused this request"},

	// Our account or the Verify API failed: what it said describes our account, and stays in the log.
	string(verify.KindThrottled):           {http.StatusTooManyRequests, "the verification service is busy; try again later"},
	string(verify.KindUpstreamError):       {http.StatusBadGateway, "the verification service refused this request; try again later"},
	string(verify.KindUpstreamUnavailable): {http.StatusBadGateway, "the verification service is unavailable; try again later"},
	string(verify.KindUpstreamTimeout):     {http.StatusGatewayTimeout, "the verification service did not answer in time; try again later"},

	// The guard refused before the backend was called; its text says which rule.
	string(guard.KindRateLimited):           {http.StatusTooManyRequests, ""},
	string(guard.KindDestinationNotAllowed): {http.StatusForbidden, ""},
	string(guard.KindRequestInProgress):     {http.StatusConflict, ""},
	string(guard.KindIdempotencyKeyReused):  {http.StatusUnprocessableEntity, ""},
	string(guard.KindUnavailable):           {http.StatusServiceUnavailable, ""},
	string(guard.KindVerificationBlocked):   {http.StatusForbidden, ""},

	// The HTTP request itself, and the server.
	codeInvalidRequest:       {http.StatusBadRequest, ""},
	codeInvalidNumber:        {http.StatusBadRequest, "number is not a valid phone number; send it in international format, e.g. 14155550100"},
	codeUnsupportedMediaType: {http.StatusUnsupportedMediaType, "request body must be application/json"},
	codePayloadTooLarge:      {http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)},
	codeUnknownRoute:         {http.StatusNotFound, "no such route; the API has POST /request, POST /check and POST /cancel"},
	codeMethodNotAllowed:     {http.StatusMethodNotAllowed, ""},
	codeInternalError:        {http.StatusInternalServerError, "internal server error"},
	codeNotReady:             {http.StatusServiceUnavailable, ""},
	codeClientClosedRequest:  {statusClientClosedRequest, "the client closed the request"},
}

// errorFor is the answer to code, with text as its error_text, or the code's own text when text is
// empty. A code missing from answers is a fault of this server, and answers as one.
func errorFor(code, text string) *apiError {
	a, ok := answers[code]
	if !ok {
		code, a = codeInternalError, answers[codeInternalError]
		text = ""
	}
	if text == "" {
		text = a.text
	}
	return &apiError{status: a.status, body: api.ErrorBody{Error: code, ErrorText: text}}
}
