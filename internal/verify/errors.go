package verify

import (
	"errors"
	"fmt"
	"time"
)

// Error is a failure of a verification call. Status, Text and RequestID are what the Verify API sent
// and may be shown to the app for user-caused kinds; Detail is for the log only (it can describe our
// account) and is never sent to an app.
type Error struct {
	Kind       Kind
	Status     string        // the Verify status code, "" when the failure did not come from Verify
	Text       string        // the Verify API's error_text, safe to show for user-caused kinds
	RequestID  string        // the request_id the Verify API gave with the failure, if any
	Network    string        // for KindNumberBlocked: the mobile network (MCC+MNC) that blocked it, if sent
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
