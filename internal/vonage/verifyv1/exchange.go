package verifyv1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
)

// endpoint names a call for errors (op) and is where it goes (url).
type endpoint struct {
	op  verify.Op
	url string
}

// wireResponse is a Verify v1 answer. Every field the API sends is a string; each is kept exactly as
// sent, because prices such as "0.10000000" must reach the app byte for byte.
type wireResponse struct {
	Status                     wireString `json:"status"`
	ErrorText                  wireString `json:"error_text"`
	RequestID                  wireString `json:"request_id"`
	EventID                    wireString `json:"event_id"`
	Price                      wireString `json:"price"`
	Currency                   wireString `json:"currency"`
	EstimatedPriceMessagesSent wireString `json:"estimated_price_messages_sent"`
	Network                    wireString `json:"network"` // status 7 (spec 1.2.1 on): the blocking network
}

// wireString is a JSON string, or a JSON number kept as its literal text. The spec says strings,
// but clients of this API have been bitten by numeric statuses, and a number must never go through
// float64 (a price would lose its trailing zeros).
type wireString string

func (s *wireString) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 1 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b):
		// Nothing to unescape or replace: what the decoder would answer, without a decoder.
		*s = wireString(b[1 : len(b)-1])
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = wireString(v)
		return nil
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		// The decoder has already checked that this is a valid number literal; its text is kept.
		*s = wireString(json.Number(b))
		return nil
	}
	return errors.New("not a string or number")
}

// post sends form (encoded, credentials first: a body is the one place they stay out of URLs and
// therefore out of access logs) to e and returns the answer when its status is "0". Every other
// outcome is an error: a *verify.Error, or the caller's own context error when the caller gave up.
func (c *Client) post(ctx context.Context, e endpoint, form string) (*wireResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(form))
	if err != nil {
		return nil, fmt.Errorf("vonage %s: build request: %w", e.op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", transport.UserAgent)

	began := time.Now()
	resp, err := c.caller.Do(ctx, e.op, req)
	if err != nil {
		c.caller.LogExchange(ctx, e.op, began, 0, err)
		return nil, err
	}
	res, err := c.readResponse(e, resp)
	c.caller.LogExchange(ctx, e.op, began, resp.StatusCode, err, verifyStatus(res, err)...)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *Client) readResponse(e endpoint, resp *transport.Response) (*wireResponse, error) {
	if resp.StatusCode != http.StatusOK {
		// The Verify v1 API never sends another status for an API outcome: it comes from a gateway,
		// a rate limiter or an account-level refusal.
		return nil, c.caller.StatusFailure(resp)
	}
	var res wireResponse
	if err := json.Unmarshal(resp.Body, &res); err != nil {
		return nil, &verify.Error{
			Kind:   verify.KindUpstreamUnavailable,
			Detail: fmt.Sprintf("vonage %s answered HTTP 200 with a body that is not a verify response", e.op),
			Err:    err,
		}
	}
	switch res.Status {
	case "":
		return nil, &verify.Error{
			Kind:   verify.KindUpstreamUnavailable,
			Detail: fmt.Sprintf("vonage %s answered HTTP 200 without a status", e.op),
		}
	case verify.StatusOK:
		return &res, nil
	}
	return nil, c.statusFailure(resp, &res)
}

// statusFailure maps a non-zero Verify status. Text reaches the app only for user-caused kinds, so
// for the others (our account, throttling) the upstream text goes to Detail, which is only logged.
func (c *Client) statusFailure(resp *transport.Response, res *wireResponse) *verify.Error {
	status := string(res.Status)
	e := &verify.Error{
		Kind:      kindOf(status),
		Status:    status,
		Text:      string(res.ErrorText),
		RequestID: string(res.RequestID),
	}
	if e.Kind == verify.KindNumberBlocked {
		e.Network = networkCode(string(res.Network))
	}
	if !e.Kind.UserCaused() {
		e.Detail, e.Text = e.Text, ""
	}
	if e.Kind == verify.KindThrottled {
		e.RetryAfter = c.caller.RetryAfter(resp.Header)
	}
	return e
}

// networkCode passes on a network that reads as one: a mobile network code (MCC and MNC, 5 or 6
// digits, as in "25503"). Anything else is not something an operator can take to Vonage.
func networkCode(s string) string {
	if len(s) < 5 || len(s) > 6 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	return s
}

// verifyStatus is the Verify status a call ended with, for its trace line.
func verifyStatus(res *wireResponse, err error) []slog.Attr {
	if res != nil {
		return []slog.Attr{slog.String("verify_status", string(res.Status))}
	}
	if ve, ok := verify.AsError(err); ok && ve.Status != "" {
		return []slog.Attr{slog.String("verify_status", ve.Status)}
	}
	return nil
}
