package verify

// Status is a Verify API status as apps read it in an answer's `status`: Verify v1's numbers, as
// strings, which the v2 client maps v2's answers onto. The wire tables that produce them live with
// each client (internal/vonage/verifyv1/status.go, internal/vonage/verifyv2/problem.go).
const (
	StatusOK                 = "0"
	StatusThrottled          = "1"
	StatusMissingParameter   = "2"
	StatusInvalidParameter   = "3"
	StatusInvalidCredentials = "4"
	StatusInternalError      = "5"
	StatusNotFound           = "6" // "could not be routed": for check and cancel, no such live request
	StatusNumberBlocked      = "7"
	StatusAccountBarred      = "8"
	StatusQuotaExceeded      = "9"
	StatusConcurrent         = "10" // a verification to this number is running; its request_id comes along
	StatusUnsupportedNetwork = "15"
	StatusCodeMismatch       = "16"
	StatusTooManyAttempts    = "17" // the third wrong code ended the verification
	StatusCancelNotAllowed   = "19"
	StatusPinCodeUnsupported = "20"
	StatusNotPermitted       = "29" // the account may not send to this destination (demo mode)
	StatusNoResponse         = "101"
)

// Kind classifies a failure so that the server can map it to one HTTP status and one stable
// error code (internal/server/codes.go). The string value is the code apps see in the ErrorBody's
// `error` field.
type Kind string

// Failures caused by the user or the input: the app can tell the user what to do.
const (
	KindInvalidParameter       Kind = "invalid_parameter"       // StatusInvalidParameter
	KindNotFound               Kind = "not_found"               // StatusNotFound, StatusNoResponse
	KindNumberBlocked          Kind = "number_blocked"          // StatusNumberBlocked
	KindConcurrentVerification Kind = "concurrent_verification" // StatusConcurrent
	KindUnsupportedNetwork     Kind = "unsupported_network"     // StatusUnsupportedNetwork
	KindCodeMismatch           Kind = "code_mismatch"           // StatusCodeMismatch
	KindTooManyAttempts        Kind = "too_many_attempts"       // StatusTooManyAttempts
	KindExpired                Kind = "expired"                 // the request expired before the right code came
	KindCancelNotAllowed       Kind = "cancel_not_allowed"      // StatusCancelNotAllowed
	KindRejected               Kind = "verification_failed"     // any other refusal by the Verify API
	// KindInvalidRequest is input the contract allows but this backend's API cannot take (a Verify
	// v1 code longer than 6 characters): refused before the call, as the server refuses bad input.
	KindInvalidRequest Kind = "invalid_request"
)

// Failures on our side or of the upstream: the app can only retry later.
const (
	KindThrottled           Kind = "throttled"            // StatusThrottled, HTTP 429
	KindUpstreamError       Kind = "upstream_error"       // account faults (2, 4, 5, 8, 9, 20, 29), HTTP 4xx
	KindUpstreamUnavailable Kind = "upstream_unavailable" // connection failure, HTTP 5xx, unparsable body
	KindUpstreamTimeout     Kind = "upstream_timeout"     // no answer within the upstream timeout
)

// UserCaused reports whether the failure was caused by the user or the input (and so its upstream
// text may be shown), rather than by our account or the upstream service.
func (k Kind) UserCaused() bool {
	switch k {
	case KindThrottled, KindUpstreamError, KindUpstreamUnavailable, KindUpstreamTimeout:
		return false
	}
	return true
}
