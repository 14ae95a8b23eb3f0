package verify

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a failure so that the server can map it to one HTTP status and one stable
// error code. The string value is the code apps see in the Error body's `error` field.
type Kind string

// Failures caused by the user or the input: the app can tell the user what to do.
const (
	KindInvalidParameter       Kind = "invalid_parameter"       // Verify status 3
	KindNotFound               Kind = "not_found"               // status 6, 101
	KindNumberBlocked          Kind = "number_blocked"          // status 7
	KindConcurrentVerification Kind = "concurrent_verification" // status 10
	KindUnsupportedNetwork     Kind = "unsupported_network"     // status 15
	KindCodeMismatch           Kind = "code_mismatch"           // status 16
	KindTooManyAttempts        Kind = "too_many_attempts"       // status 17
	KindExpired                Kind = "expired"                 // the request expired before the right code came
	KindCancelNotAllowed       Kind = "cancel_not_allowed"      // status 19
	KindRejected               Kind = "verification_failed"     // any other refusal by the Verify API
)

// Failures on our side or of the upstream: the app can only retry later.
const (
	KindThrottled           Kind = "throttled"            // status 1, HTTP 429
	KindUpstreamError       Kind = "upstream_error"       // account faults (2, 4, 5, 8, 9, 20, 29), HTTP 4xx
	KindUpstreamUnavailable Kind = "upstream_unavailable" // connection failure, HTTP 5xx, unparsable body
	KindUpstreamTimeout     Kind = "upstream_timeout"     // no answer within the upstream timeout
)

// Error is a failure of a verification call. Status, Text and RequestID are what the Verify API sent
// and may be shown to the app for user-caused kinds; Detail is for the log only (it can describe our
// account) and is never sent to an app.
type Error struct {
	Kind       Kind
	Status     string        // the Verify status code, "" when the failure did not come from Verify
	Text       string        // the Verify API's error_text, safe to show for user-caused kinds
	RequestID  string        // the request_id the Verify API gave with the failure, if any
	RetryAfter time.Duration // for KindThrottled: how long to wait, 0 when unknown
	Detail     string        // for the log: upstream detail that must not reach the app
	Err        error         // the underlying cause, if any
}

func (e *Error) Error() string {
	msg := string(e.Kind)
	if e.Status != "" {
		msg += " (status " + e.Status + ")"
	}
	if e.Text != "" {
		msg += ": " + e.Text
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// UserCaused reports whether the failure was caused by the user or the input (and so its upstream
// text may be shown), rather than by our account or the upstream service.
func (k Kind) UserCaused() bool {
	switch k {
	case KindThrottled, KindUpstreamError, KindUpstreamUnavailable, KindUpstreamTimeout:
		return false
	}
	return true
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Errorf builds an Error of kind with a formatted text, for backends that are their own authority
// (the sandbox) rather than a relay of the Verify API.
func Errorf(kind Kind, status, requestID, format string, args ...any) *Error {
	return &Error{Kind: kind, Status: status, RequestID: requestID, Text: fmt.Sprintf(format, args...)}
}
