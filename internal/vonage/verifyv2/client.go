// Package verifyv2 owns the wire client for the Vonage Verify API v2: it turns verify.Provider calls
// into JSON requests to POST /v2/verify, POST /v2/verify/{request_id} and DELETE
// /v2/verify/{request_id}, authenticated with HTTP Basic or an application JWT, and turns v2's HTTP
// statuses and problem+json bodies into the same *verify.Error kinds and v1 statuses that the Verify
// v1 client returns, so that apps see no difference. It is the only package that knows the Verify v2
// wire format.
package verifyv2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
)

// The channels this client verifies by, as Verify v2 names them (VERIFY_WORKFLOW takes these names).
// Silent authentication sends nothing: the phone opens the start's check_url over mobile data and
// its carrier confirms the number. Verify v2 also has email and rcs, which need something other than
// a phone number (an address, an RCS agent).
const (
	ChannelSilentAuth = "silent_auth"
	ChannelSMS        = "sms"
	ChannelVoice      = "voice"
	ChannelWhatsApp   = "whatsapp"
)

// Channel is one step of the workflow, tried in order.
type Channel struct {
	Name        string // ChannelSilentAuth (first only), ChannelSMS, ChannelVoice or ChannelWhatsApp
	From        string // sms: the sender ID (optional); whatsapp: the WhatsApp Business number (required)
	AppHash     string // sms only: the Android SMS Retriever hash (optional)
	RedirectURL string // silent_auth only: where check_url ends, with the request_id and code (optional)
}

// Options configure a Client. The optional fields are sent only when set, so that Vonage's own
// defaults apply otherwise.
type Options struct {
	transport.Endpoint               // the base URL (e.g. https://api.nexmo.com), the timeout per call
	Auth               Authenticator // BasicAuth or JWTAuth
	Brand              string        // the name in the message
	Workflow           []Channel     // 1 to 3 channels, tried in order

	CodeLength     int    // code_length: 4 to 10; 0 leaves it unset
	Locale         string // locale, e.g. "en-gb"; "" leaves it unset
	ChannelTimeout int    // channel_timeout in seconds, 15 to 900; 0 leaves it unset
	// NoFraudCheck sends fraud_check: false, which turns off Vonage's own fraud check for accounts
	// where Vonage made that possible; otherwise nothing is sent and the account's default holds.
	NoFraudCheck bool
}

// Client is a verify.Provider backed by the Vonage Verify API v2. It is safe for concurrent use.
type Client struct {
	caller   *transport.Caller
	auth     Authenticator
	logger   *slog.Logger
	startURL string
	start    startBody // everything but the number, fixed for the client's life
}

var _ verify.Provider = (*Client)(nil)

// startBody is the JSON of POST /v2/verify.
type startBody struct {
	Brand          string         `json:"brand"`
	Workflow       []workflowStep `json:"workflow"`
	CodeLength     int            `json:"code_length,omitempty"`
	Locale         string         `json:"locale,omitempty"`
	ChannelTimeout int            `json:"channel_timeout,omitempty"`
	FraudCheck     *bool          `json:"fraud_check,omitempty"`
}

type workflowStep struct {
	Channel     string `json:"channel"`
	To          string `json:"to"`
	From        string `json:"from,omitempty"`
	AppHash     string `json:"app_hash,omitempty"`
	RedirectURL string `json:"redirect_url,omitempty"`
}

// New returns a Client that calls Vonage through httpClient (nil means transport.NewHTTPClient) and
// logs each exchange at Debug level to logger (nil means no logging). Redirects are never followed:
// they would replay the Authorization header to wherever Location points.
func New(opts Options, httpClient *http.Client, logger *slog.Logger) (*Client, error) {
	// The workflow's channels and senders were checked when the configuration was read (config);
	// here only what would make a request Vonage cannot even read.
	switch {
	case opts.Auth == nil:
		return nil, errors.New("vonagev2: no credentials")
	case opts.Brand == "":
		return nil, errors.New("vonagev2: brand is empty")
	case len(opts.Workflow) == 0:
		return nil, errors.New("vonagev2: the workflow has no channel")
	}
	steps := make([]workflowStep, len(opts.Workflow))
	for i, ch := range opts.Workflow {
		steps[i] = workflowStep{Channel: ch.Name, From: ch.From, AppHash: ch.AppHash, RedirectURL: ch.RedirectURL}
	}
	var fraudCheck *bool
	if opts.NoFraudCheck {
		fraudCheck = new(false)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	caller, err := transport.NewCaller("vonage v2", opts.Endpoint, httpClient, logger)
	if err != nil {
		return nil, err
	}
	return &Client{
		caller:   caller,
		auth:     opts.Auth,
		logger:   logger,
		startURL: caller.BaseURL() + "/v2/verify",
		start: startBody{
			Brand:          opts.Brand,
			Workflow:       steps,
			CodeLength:     opts.CodeLength,
			Locale:         opts.Locale,
			ChannelTimeout: opts.ChannelTimeout,
			FraudCheck:     fraudCheck,
		},
	}, nil
}

// String keeps the credentials out of any %v of a Client.
func (c *Client) String() string { return "verifyv2.Client(" + c.caller.BaseURL() + ")" }

// Start asks Vonage to verify number (E.164 digits without '+') by each channel in turn. When the
// workflow begins with silent authentication and Vonage answers that the number's network cannot do
// it (412), nothing has started and nothing was paid for, so the start is made again without that
// step: the user gets the fallback's code instead of no verification at all. Both calls share one
// UPSTREAM_TIMEOUT, so that a start is bounded as any other call is.
func (c *Client) Start(ctx context.Context, number string) (verify.Started, error) {
	ctx = c.caller.Budget(ctx)
	started, err := c.startWith(ctx, number, c.start.Workflow)
	if silentUnavailable(err) && len(c.start.Workflow) > 1 && c.start.Workflow[0].Channel == ChannelSilentAuth {
		ve, _ := verify.AsError(err)
		c.logger.InfoContext(ctx, "silent authentication is not possible for this number's network; starting with the next channel",
			"number", phone.Mask(number), "channel", c.start.Workflow[1].Channel, "detail", ve.Detail)
		return c.startWith(ctx, number, c.start.Workflow[1:])
	}
	return started, err
}

// startWith starts a verification of number with workflow.
func (c *Client) startWith(ctx context.Context, number string, workflow []workflowStep) (verify.Started, error) {
	body := c.start
	body.Workflow = slices.Clone(workflow)
	for i := range body.Workflow {
		body.Workflow[i].To = number
	}
	resp, err := c.call(ctx, verify.OpStart, http.MethodPost, c.startURL, body)
	if err != nil {
		if ve, ok := verify.AsError(err); ok && number != "" {
			// A problem's detail may quote the number, and Detail is logged: numbers are masked there.
			ve.Detail = strings.ReplaceAll(ve.Detail, number, phone.Mask(number))
		}
		return verify.Started{}, err
	}
	var started struct {
		RequestID string          `json:"request_id"`
		CheckURL  json.RawMessage `json:"check_url"` // read apart: a bad one must not lose the request_id
	}
	if err := json.Unmarshal(resp.Body, &started); err != nil || !verify.ValidRequestID(started.RequestID) {
		return verify.Started{}, &verify.Error{
			Kind:   verify.KindUpstreamUnavailable,
			Detail: fmt.Sprintf("vonage v2 start answered HTTP %d without a usable request_id", resp.StatusCode),
			Err:    err,
		}
	}
	var checkURL string
	if len(started.CheckURL) > 0 && string(started.CheckURL) != "null" {
		if err := json.Unmarshal(started.CheckURL, &checkURL); err != nil || !webURL(checkURL) {
			// The verification runs, and the fallback channel will reach the user; only the silent
			// step is lost, and an app must never be handed a URL it cannot open.
			c.logger.WarnContext(ctx, "vonage v2 start answered a check_url that is not an http(s) URL; it is not passed on",
				"request_id", started.RequestID)
			checkURL = ""
		}
	}
	return verify.Started{RequestID: started.RequestID, CheckURL: checkURL}, nil
}

// silentUnavailable reports whether a start failed on silent authentication's precondition (HTTP
// 412): the number's network does not support it.
func silentUnavailable(err error) bool { return errors.Is(err, errSilentUnavailable) }

// webURL reports whether s is an absolute http or https URL with a host.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// Check asks Vonage whether code is the one sent for requestID.
func (c *Client) Check(ctx context.Context, requestID, code string) (verify.Checked, error) {
	u, err := c.requestURL(requestID)
	if err != nil {
		return verify.Checked{}, err
	}
	resp, err := c.call(ctx, verify.OpCheck, http.MethodPost, u, struct {
		Code string `json:"code"`
	}{code})
	if err != nil {
		if ve, ok := verify.AsError(err); ok && ve.Kind.UserCaused() && ve.RequestID == "" {
			ve.RequestID = requestID // as Verify v1 does, so the app's error body names the request
		}
		return verify.Checked{}, err
	}
	// The answer is {"request_id", "status": "completed"}; older v2 specifications define no body at
	// all, so an empty one is a success too. A status other than completed is not: no number is
	// called verified on an answer that says otherwise.
	if len(bytes.TrimSpace(resp.Body)) == 0 {
		return verify.Checked{RequestID: requestID}, nil
	}
	var answer struct {
		Status *string `json:"status"`
	}
	if err := json.Unmarshal(resp.Body, &answer); err != nil {
		return verify.Checked{}, &verify.Error{
			Kind:   verify.KindUpstreamUnavailable,
			Detail: fmt.Sprintf("vonage v2 check answered HTTP %d with a body that is not JSON", resp.StatusCode),
			Err:    err,
		}
	}
	if answer.Status != nil && *answer.Status != "completed" {
		return verify.Checked{}, &verify.Error{
			Kind:   verify.KindUpstreamUnavailable,
			Detail: fmt.Sprintf("vonage v2 check answered HTTP %d with status %q, not completed", resp.StatusCode, *answer.Status),
		}
	}
	// v2 has no event id or prices in this answer; the contract marks them optional.
	return verify.Checked{RequestID: requestID}, nil
}

// Cancel asks Vonage to stop the verification requestID.
func (c *Client) Cancel(ctx context.Context, requestID string) error {
	u, err := c.requestURL(requestID)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, verify.OpCancel, http.MethodDelete, u, nil)
	return err
}

// requestURL puts requestID into the path. Only what the contract allows is accepted, and it is
// escaped all the same, so no id can ever reach another path ("../", "?", "#").
func (c *Client) requestURL(requestID string) (string, error) {
	if !verify.ValidRequestID(requestID) {
		return "", &verify.Error{Kind: verify.KindNotFound, Status: verify.StatusNotFound, Text: "request_id is not one Verify could have issued"}
	}
	return c.startURL + "/" + url.PathEscape(requestID), nil
}

// call sends one request with body as JSON (none when nil) and returns the answer when it is a
// success for op; every other outcome is an error (see failure).
func (c *Client) call(ctx context.Context, op verify.Op, method, u string, body any) (*transport.Response, error) {
	var payload io.Reader // stays a nil interface without a body
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("vonage v2 %s: encode request: %w", op, err)
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, payload)
	if err != nil {
		return nil, fmt.Errorf("vonage v2 %s: build request: %w", op, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", transport.UserAgent)
	if err := c.auth.Authorize(req); err != nil {
		return nil, err
	}

	began := time.Now()
	resp, err := c.caller.Do(ctx, op, req)
	if err != nil {
		c.caller.LogExchange(ctx, op, began, 0, err)
		return nil, err
	}
	var p *problem
	if resp.StatusCode/100 != 2 { // 202 to start, 200 to check, 204 to cancel
		p = parseProblem(resp.Body)
		err = c.failure(op, resp, p)
	}
	c.caller.LogExchange(ctx, op, began, resp.StatusCode, err, p.instance()...)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// instance names the problem for Vonage support in the call's trace line.
func (p *problem) instance() []slog.Attr {
	if p == nil || p.Instance == "" {
		return nil
	}
	return []slog.Attr{slog.String("instance", p.Instance)}
}
