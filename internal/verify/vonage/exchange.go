package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
)

const (
	// maxResponseBytes caps what we read: a Verify answer is a few hundred bytes, and a broken or
	// hostile upstream must not make us buffer without limit.
	maxResponseBytes = 1 << 20
	// defaultRetryAfter is used for throttling when the upstream gives no usable Retry-After.
	defaultRetryAfter = time.Second
	// maxRetryAfter bounds an upstream Retry-After, so an absurd value cannot overflow a Duration.
	maxRetryAfter = time.Hour
)

// endpoint names a call for errors (op) and is where it goes (url).
type endpoint struct {
	op  string
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
}

// wireString is a JSON string, or a JSON number kept as its literal text. The spec says strings,
// but clients of this API have been bitten by numeric statuses, and a number must never go through
// float64 (a price would lose its trailing zeros).
type wireString string

func (s *wireString) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
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

// post sends form to e and returns the answer when its status is "0". Every other outcome is an
// error: a *verify.Error, or the caller's own context error when the caller gave up.
func (c *Client) post(ctx context.Context, e endpoint, form url.Values) (*wireResponse, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, e.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("vonage %s: build request: %w", e.op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	began := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		err = c.transportFailure(ctx, callCtx, e, err)
		c.logExchange(ctx, e, began, 0, nil, err)
		return nil, err
	}
	defer resp.Body.Close()

	res, err := c.readResponse(ctx, callCtx, e, resp)
	c.logExchange(ctx, e, began, resp.StatusCode, res, err)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *Client) readResponse(ctx, callCtx context.Context, e endpoint, resp *http.Response) (*wireResponse, error) {
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; the body itself is of no use to us.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, c.httpFailure(resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, c.transportFailure(ctx, callCtx, e, err)
	}
	if len(body) > maxResponseBytes {
		return nil, &verify.Error{
			Kind:   verify.KindUpstreamUnavailable,
			Detail: fmt.Sprintf("vonage %s answered with more than %d bytes", e.op, maxResponseBytes),
		}
	}
	var res wireResponse
	if err := json.Unmarshal(body, &res); err != nil {
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
	case "0":
		return &res, nil
	}
	return nil, c.statusFailure(resp, &res)
}

// statusFailure maps a non-zero Verify status. Text reaches the app only for user-caused kinds, so
// for the others (our account, throttling) the upstream text goes to Detail, which is only logged.
func (c *Client) statusFailure(resp *http.Response, res *wireResponse) *verify.Error {
	status := string(res.Status)
	e := &verify.Error{
		Kind:      verify.KindForStatus(status),
		Status:    status,
		Text:      string(res.ErrorText),
		RequestID: string(res.RequestID),
	}
	if !e.Kind.UserCaused() {
		e.Detail, e.Text = e.Text, ""
	}
	if e.Kind == verify.KindThrottled {
		e.RetryAfter = c.retryAfter(resp.Header)
	}
	return e
}

// httpFailure maps an answer other than HTTP 200, which the Verify v1 API never sends for an API
// outcome: it comes from a gateway, a rate limiter or an account-level refusal.
func (c *Client) httpFailure(resp *http.Response) *verify.Error {
	detail := fmt.Sprintf("upstream HTTP %d", resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &verify.Error{Kind: verify.KindThrottled, RetryAfter: c.retryAfter(resp.Header), Detail: detail}
	case resp.StatusCode >= 500:
		return &verify.Error{Kind: verify.KindUpstreamUnavailable, Detail: detail}
	}
	return &verify.Error{Kind: verify.KindUpstreamError, Detail: detail}
}

// transportFailure tells apart the three reasons a call can end without an answer: the caller gave
// up (its client hung up: not an upstream fault, so not a *verify.Error), our own per-call timeout
// ran out, or the upstream could not be reached.
func (c *Client) transportFailure(ctx, callCtx context.Context, e endpoint, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("vonage %s: caller gave up: %w", e.op, ctxErr)
	}
	var netErr net.Error
	if callCtx.Err() != nil || (errors.As(err, &netErr) && netErr.Timeout()) {
		if !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return &verify.Error{
			Kind:   verify.KindUpstreamTimeout,
			Detail: fmt.Sprintf("vonage %s gave no answer within %s", e.op, c.timeout),
			Err:    err,
		}
	}
	return &verify.Error{
		Kind:   verify.KindUpstreamUnavailable,
		Detail: fmt.Sprintf("vonage %s unreachable", e.op),
		Err:    err,
	}
}

// retryAfter reads Retry-After as seconds or as an HTTP date, falling back to defaultRetryAfter when
// it is missing, unreadable or already past.
func (c *Client) retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return defaultRetryAfter
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = min(at.Sub(c.now()), maxRetryAfter)
	}
	if d <= 0 {
		return defaultRetryAfter
	}
	return d
}

// logExchange traces one upstream call. It never logs the form: it holds the secret, the number and
// the code. Failures are not logged as such: they are returned, and the server logs them once.
func (c *Client) logExchange(ctx context.Context, e endpoint, began time.Time, httpStatus int, res *wireResponse, err error) {
	attrs := []slog.Attr{
		slog.String("endpoint", e.op),
		slog.Duration("elapsed", time.Since(began)),
	}
	if httpStatus != 0 {
		attrs = append(attrs, slog.Int("http_status", httpStatus))
	}
	if res != nil {
		attrs = append(attrs, slog.String("verify_status", string(res.Status)))
	}
	if ve, ok := verify.AsError(err); ok {
		attrs = append(attrs, slog.String("kind", string(ve.Kind)))
		if ve.Status != "" {
			attrs = append(attrs, slog.String("verify_status", ve.Status))
		}
	} else if err != nil {
		attrs = append(attrs, slog.String("outcome", "caller gave up"))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "vonage exchange", attrs...)
}
