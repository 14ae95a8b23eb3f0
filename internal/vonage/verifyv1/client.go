// Package verifyv1 owns the wire client for the Vonage Verify API v1 ("Verify Legacy"): it turns
// verify.Provider calls into form-encoded POSTs to /verify/json, /verify/check/json and
// /verify/control/json, and turns the API's string statuses and any HTTP or network failure into a
// *verify.Error. It is the only package that knows the Verify v1 wire format.
package verifyv1

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
)

// Options configure a Client. The optional Verify parameters are sent only when set, so that
// Vonage's own defaults apply otherwise.
type Options struct {
	transport.Endpoint // the base URL (e.g. https://api.nexmo.com), the timeout per call
	APIKey             string
	APISecret          string
	Brand              string // the name in the message, e.g. "Acme code: 1234"

	CodeLength    int    // code_length: 4 or 6; 0 leaves it unset
	Locale        string // lg, e.g. "en-gb"; "" leaves it unset
	WorkflowID    int    // workflow_id: 1 to 7; 0 leaves it unset
	PinExpiry     int    // pin_expiry in seconds; 0 leaves it unset
	NextEventWait int    // next_event_wait in seconds; 0 leaves it unset
	SenderID      string // sender_id; "" leaves it unset
}

// Client is a verify.Provider backed by the Vonage Verify API v1. It is safe for concurrent use.
type Client struct {
	caller *transport.Caller
	// The forms, encoded once but for what each call adds, in url.Values.Encode's order (by key):
	// credentials is api_key and api_secret, first in every form; startBefore and startAfter are
	// what comes before and after number in a start's (brand and the optional parameters, fixed for
	// the client's life). Encoding a url.Values per call sorted and escaped them every time.
	credentials, startBefore, startAfter string
	startURL                             string
	checkURL                             string
	controlURL                           string
}

var _ verify.Provider = (*Client)(nil)

// New returns a Client that calls Vonage through httpClient (nil: one of its own) and logs
// each exchange at Debug level to logger (nil means no logging). Redirects are never followed (see
// transport.NewCaller): they would replay the form body, credentials included.
func New(opts Options, httpClient *http.Client, logger *slog.Logger) (*Client, error) {
	switch {
	case opts.APIKey == "":
		return nil, errors.New("vonage: api key is empty")
	case opts.APISecret == "":
		return nil, errors.New("vonage: api secret is empty")
	case opts.Brand == "":
		return nil, errors.New("vonage: brand is empty")
	}
	caller, err := transport.NewCaller("vonage", opts.Endpoint, httpClient, logger)
	if err != nil {
		return nil, err
	}
	base := caller.BaseURL()
	credentials := url.Values{"api_key": {opts.APIKey}, "api_secret": {opts.APISecret}}.Encode()
	before, after := url.Values{}, url.Values{}
	for k, v := range startForm(opts) {
		if k < "number" {
			before[k] = v
		} else {
			after[k] = v
		}
	}
	startBefore := credentials
	if len(before) > 0 {
		startBefore += "&" + before.Encode()
	}
	startAfter := ""
	if len(after) > 0 {
		startAfter = "&" + after.Encode()
	}
	return &Client{
		caller:      caller,
		credentials: credentials,
		startBefore: startBefore,
		startAfter:  startAfter,
		startURL:    base + "/verify/json",
		checkURL:    base + "/verify/check/json",
		controlURL:  base + "/verify/control/json",
	}, nil
}

func startForm(opts Options) url.Values {
	form := url.Values{"brand": {opts.Brand}}
	setInt := func(name string, v int) {
		if v != 0 {
			form.Set(name, strconv.Itoa(v))
		}
	}
	setString := func(name, v string) {
		if v != "" {
			form.Set(name, v)
		}
	}
	setInt("code_length", opts.CodeLength)
	setString("lg", opts.Locale)
	setInt("workflow_id", opts.WorkflowID)
	setInt("pin_expiry", opts.PinExpiry)
	setInt("next_event_wait", opts.NextEventWait)
	setString("sender_id", opts.SenderID)
	return form
}

// String keeps the credentials out of any %v of a Client.
func (c *Client) String() string { return "verifyv1.Client(" + c.caller.BaseURL() + ")" }

// Start asks Vonage to send a code to number (E.164 digits without '+', passed on as given).
func (c *Client) Start(ctx context.Context, number string) (verify.Started, error) {
	form := c.startBefore + "&number=" + url.QueryEscape(number) + c.startAfter
	res, err := c.post(ctx, endpoint{verify.OpStart, c.startURL}, form)
	if err != nil {
		return verify.Started{}, err
	}
	if res.RequestID == "" {
		return verify.Started{}, &verify.Error{
			Kind:   verify.KindUpstreamUnavailable,
			Detail: "vonage start answered status 0 without a request_id",
		}
	}
	return verify.Started{RequestID: string(res.RequestID)}, nil
}

// The limits of Verify v1's check (spec 1.1.7 and 1.2.x): request_id is at most 32 characters, code
// 4 to 6. The contract takes more, for Verify v2; what v1 cannot take is refused here, without a call.
const (
	maxRequestIDLen = 32
	maxCodeLen      = 6
)

// Check asks Vonage whether code is the one sent for requestID.
func (c *Client) Check(ctx context.Context, requestID, code string) (verify.Checked, error) {
	if err := checkable(requestID, code); err != nil {
		return verify.Checked{}, err
	}
	form := c.credentials + "&code=" + url.QueryEscape(code) + "&request_id=" + url.QueryEscape(requestID)
	res, err := c.post(ctx, endpoint{verify.OpCheck, c.checkURL}, form)
	if err != nil {
		return verify.Checked{}, err
	}
	checked := verify.Checked{
		RequestID:                  string(res.RequestID),
		EventID:                    string(res.EventID),
		Price:                      string(res.Price),
		Currency:                   string(res.Currency),
		EstimatedPriceMessagesSent: string(res.EstimatedPriceMessagesSent),
	}
	if checked.RequestID == "" {
		checked.RequestID = requestID
	}
	return checked, nil
}

// checkable refuses what Verify v1 would refuse anyway, before a call: an id it cannot have issued is
// not found (status 6, as Vonage answers an unknown one); a code longer than its codes ever are is
// the user's typing, and is said so instead of turning into Vonage's status 3 and a 502.
func checkable(requestID, code string) error {
	if len(requestID) > maxRequestIDLen || !verify.ValidRequestID(requestID) {
		return notIssued()
	}
	if n := len(code); n > maxCodeLen {
		return &verify.Error{Kind: verify.KindInvalidRequest,
			Text: fmt.Sprintf("code: Verify v1 codes are 4 or 6 digits, this one has %d characters", n)}
	}
	return nil
}

func notIssued() error {
	return &verify.Error{Kind: verify.KindNotFound, Status: verify.StatusNotFound, Text: "request_id is not one Verify could have issued"}
}

// Cancel asks Vonage to stop the verification requestID.
func (c *Client) Cancel(ctx context.Context, requestID string) error {
	if len(requestID) > maxRequestIDLen || !verify.ValidRequestID(requestID) {
		return notIssued()
	}
	form := c.credentials + "&cmd=cancel&request_id=" + url.QueryEscape(requestID)
	_, err := c.post(ctx, endpoint{verify.OpCancel, c.controlURL}, form)
	return err
}
