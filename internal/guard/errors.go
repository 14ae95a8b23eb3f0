package guard

import (
	"errors"
	"time"
)

// Kind classifies a refusal by the guard. The string value is the code apps see in the ErrorBody's
// `error` field; the server maps each kind to one HTTP status.
type Kind string

// The guard's refusals.
const (
	KindRateLimited           Kind = "rate_limited"            // a limit is reached; RetryAfter says when it has room
	KindDestinationNotAllowed Kind = "destination_not_allowed" // the number's country or type is refused
	KindRequestInProgress     Kind = "request_in_progress"     // the same idempotency key is in flight
	KindIdempotencyKeyReused  Kind = "idempotency_key_reused"  // the idempotency key came with another body
	KindUnavailable           Kind = "unavailable"             // the shared state cannot be reached (fail closed)
	KindVerificationBlocked   Kind = "verification_blocked"    // the fraud guard paused this destination
)

// Error is a refusal by the guard. Text is safe to show to the app; Err (the cause) is for the log.
type Error struct {
	Kind       Kind
	Rule       string // which limit or rule refused, for metrics: "ip", ..., "country", "number_type"
	Text       string
	RetryAfter time.Duration // for KindRateLimited
	Err        error
}

func (e *Error) Error() string {
	msg := string(e.Kind) + ": " + e.Text
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	return errors.AsType[*Error](err)
}
