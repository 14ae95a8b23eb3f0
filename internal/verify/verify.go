// Package verify owns what a phone-number verification is: the Provider that every backend (the
// Vonage wire clients, the embedded sandbox, test numbers) implements, its three operations, the
// named Verify statuses apps read, the kinds of failure (each an error code of the API) and the
// domain errors backends return, and the rules every backend shares (the form of a request_id, three
// wrong codes). It knows nothing of HTTP status codes or of the contract's generated types.
package verify

import (
	"context"
)

// Provider starts, checks and cancels verifications. Implementations must be safe for concurrent use
// and must pass ctx on to any upstream call, so a client that hangs up cancels it.
type Provider interface {
	// Start sends a code to number, given as E.164 digits without a leading '+'.
	Start(ctx context.Context, number string) (Started, error)
	// Check compares code with the one sent for requestID.
	Check(ctx context.Context, requestID, code string) (Checked, error)
	// Cancel stops the verification requestID.
	Cancel(ctx context.Context, requestID string) error
}

// Started is a verification that began.
type Started struct {
	RequestID string
	// CheckURL is where the phone completes silent authentication over its mobile data connection,
	// when the workflow starts with it; "" otherwise. A path ("/sandbox/...") is on this server.
	CheckURL string
}

// Checked is a verification whose code was right. The price fields are kept as the raw decimal
// strings the upstream sent; empty means absent.
type Checked struct {
	RequestID                  string
	EventID                    string
	Price                      string
	Currency                   string
	EstimatedPriceMessagesSent string
}

// SilentAuthenticator completes silent authentication itself, standing in for the carrier: only the
// sandbox does; with Vonage the phone opens Vonage's own check_url.
type SilentAuthenticator interface {
	// CompleteSilentAuth is what opening the check_url of requestID yields.
	CompleteSilentAuth(ctx context.Context, requestID string) (SilentAuth, error)
}

// SilentAuth is a completed silent authentication: the code to check, and where the check_url's
// redirects end when the workflow names a place ("" for a JSON answer).
type SilentAuth struct {
	RequestID   string
	Code        string
	RedirectURL string
}

// MaxWrongCodes is Verify's limit of wrong codes per verification: the last one ends it (status 17).
const MaxWrongCodes = 3

// maxRequestIDLen is the longest request_id: v2's UUID (36); v1's are 32 hex digits.
const maxRequestIDLen = 36

// ValidRequestID reports whether id has the form the contract gives a request_id: 1 to 36 letters,
// digits and dashes. An id of any other form never goes into an upstream URL or an answer.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
