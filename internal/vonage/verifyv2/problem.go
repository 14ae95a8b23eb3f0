package verifyv2

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
)

// problem is an RFC 7807 body (application/problem+json), as Verify v2 answers every failure.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"` // Vonage's trace id: what their support asks for
	// RequestID is the verification already in flight, when a 409 to start carries it.
	RequestID         string `json:"request_id"`
	InvalidParameters []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	} `json:"invalid_parameters"`
}

// parseProblem reads body as a problem, or returns nil when it is not one (an HTML error page from a
// gateway, an empty body, JSON without title or type).
func parseProblem(body []byte) *problem {
	var p problem
	if err := json.Unmarshal(body, &p); err != nil || (p.Title == "" && p.Type == "") {
		return nil
	}
	return &p
}

// text is what the app may be shown for a user-caused failure: Vonage's own sentence.
func (p *problem) text() string {
	if p.Detail != "" {
		return p.Detail
	}
	return p.Title
}

// String describes p for the log.
func (p *problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q", p.Title)
	if p.Detail != "" {
		fmt.Fprintf(&b, ": %s", p.Detail)
	}
	for _, ip := range p.InvalidParameters {
		fmt.Fprintf(&b, "; %s: %s", ip.Name, ip.Reason)
	}
	if p.Type != "" {
		fmt.Fprintf(&b, " (type %s)", p.Type)
	}
	if p.Instance != "" {
		fmt.Fprintf(&b, " (instance %s)", p.Instance)
	}
	return b.String()
}

// errSilentUnavailable marks a start refused because silent authentication is not possible for the
// number's network (HTTP 412): nothing started.
var errSilentUnavailable = errors.New("silent authentication is not available for this number's network")

// failure maps an answer that is not a success. The statuses that carry a meaning for the app (a
// wrong code, an unknown request, ...) are mapped to the Verify v1 status the apps already know, and
// need Verify's problem body: a 404 without one is a wrong base URL or a gateway, not "no such
// verification". Everything else is mapped as on every Vonage API (429, 5xx, account refusals).
func (c *Client) failure(op verify.Op, resp *transport.Response, p *problem) *verify.Error {
	e := c.userFailure(op, resp.StatusCode, p)
	switch {
	case e != nil && p == nil:
		e = &verify.Error{Kind: verify.KindUpstreamUnavailable}
		e.Detail = fmt.Sprintf("vonage v2 %s answered HTTP %d without a problem body", op, resp.StatusCode)
		return e
	case e == nil:
		e = c.caller.StatusFailure(resp)
	}
	e.Detail = fmt.Sprintf("vonage v2 %s answered HTTP %d", op, resp.StatusCode)
	if p != nil {
		e.Detail += ": " + p.String()
	}
	return e
}

// userFailure returns the failure a status means for op, or nil when it means nothing particular
// to op. p may be nil: the caller then refuses the answer.
func (c *Client) userFailure(op verify.Op, status int, p *problem) *verify.Error {
	var text, requestID string
	if p != nil {
		text, requestID = p.text(), p.RequestID
	}
	switch {
	case op == verify.OpStart && status == http.StatusConflict:
		if !verify.ValidRequestID(requestID) {
			requestID = ""
		}
		return &verify.Error{Kind: verify.KindConcurrentVerification, Status: verify.StatusConcurrent, Text: text, RequestID: requestID}
	case op == verify.OpStart && status == http.StatusPreconditionFailed:
		// Silent authentication's precondition: the number's network cannot do it. Apps know this
		// failure as Verify v1's status 15.
		return &verify.Error{Kind: verify.KindUnsupportedNetwork, Status: verify.StatusUnsupportedNetwork, Text: text, Err: errSilentUnavailable}
	case op == verify.OpStart && status == http.StatusUnprocessableEntity:
		if p != nil && !p.blamesNumber() {
			// A refused brand, locale or sender is our configuration, not the user's to fix.
			return &verify.Error{Kind: verify.KindUpstreamError}
		}
		return &verify.Error{Kind: verify.KindInvalidParameter, Status: verify.StatusInvalidParameter, Text: text}
	case op == verify.OpCheck && status == http.StatusBadRequest:
		return &verify.Error{Kind: verify.KindCodeMismatch, Status: verify.StatusCodeMismatch, Text: text}
	case op == verify.OpCheck && status == http.StatusGone:
		return &verify.Error{Kind: goneKind(p), Status: verify.StatusTooManyAttempts, Text: text}
	case op == verify.OpCheck && status == http.StatusConflict:
		// The current step takes no code (Vonage's "no-code"); the app is told Vonage's reason.
		return &verify.Error{Kind: verify.KindRejected, Text: text}
	case (op == verify.OpCheck || op == verify.OpCancel) && status == http.StatusNotFound:
		return &verify.Error{Kind: verify.KindNotFound, Status: verify.StatusNotFound, Text: text}
	case op == verify.OpCancel && status == http.StatusConflict:
		return &verify.Error{Kind: verify.KindCancelNotAllowed, Status: verify.StatusCancelNotAllowed, Text: text}
	}
	return nil
}

// blamesNumber reports whether a 422 names the phone number (`to`, or `workflow[0].to`) among its
// invalid parameters: that one came from the user.
func (p *problem) blamesNumber() bool {
	for _, ip := range p.InvalidParameters {
		name := strings.NewReplacer("[", "/", "]", "", ".", "/").Replace(ip.Name)
		if path.Base(name) == "to" {
			return true
		}
	}
	return false
}

// goneKind tells the two reasons for 410 apart by what the problem says. Vonage documents 410 as
// "an incorrect code has been provided too many times" under the type fragment #expired, so the
// type cannot decide; the sentence can, and without a clue it is the documented meaning.
func goneKind(p *problem) verify.Kind {
	if p == nil {
		return verify.KindTooManyAttempts
	}
	said := strings.ToLower(p.Title + " " + p.Detail)
	switch {
	case strings.Contains(said, "too many"), strings.Contains(said, "incorrect code"), strings.Contains(said, "wrong code"):
		return verify.KindTooManyAttempts
	case strings.Contains(said, "expired"):
		return verify.KindExpired
	}
	return verify.KindTooManyAttempts
}
