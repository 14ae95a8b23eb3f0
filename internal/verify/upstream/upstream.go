// Package upstream owns what the Vonage wire clients (Verify v1 and v2) share about calling Vonage
// over HTTP: the one pooled http.Client, a call bounded by its own timeout and read in full within a
// size limit, telling a caller that hung up apart from a timeout and from an unreachable host, the
// HTTP statuses that mean the same on both APIs (429, 5xx, account refusals), and Retry-After. It
// knows nothing of either API's wire format.
package upstream

import (
	"context"
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
	// DefaultTimeout bounds one upstream call when no timeout is configured.
	DefaultTimeout = 10 * time.Second
	// MaxResponseBytes caps what is read: a Verify answer is a few hundred bytes, and a broken or
	// hostile upstream must not make us buffer without limit.
	MaxResponseBytes = 1 << 20
	// UserAgent names us to Vonage, so that their support can tell our traffic apart.
	UserAgent = "verify-proxy"

	// defaultRetryAfter is used for throttling when the upstream gives no usable Retry-After.
	defaultRetryAfter = time.Second
	// maxRetryAfter bounds an upstream Retry-After, so an absurd value cannot overflow a Duration.
	maxRetryAfter = time.Hour
)

// ParseBaseURL checks that raw is an http(s) URL without query or fragment, and returns it without a
// trailing slash so that paths can be appended. name prefixes the error ("vonage").
func ParseBaseURL(name, raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("%s: base url is empty", name)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s: base url: %w", name, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s: base url %q is not an http(s) url without query", name, u.Redacted())
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// Caller makes bounded calls to one upstream API. It is safe for concurrent use.
type Caller struct {
	http    *http.Client
	name    string // prefixes every Detail, e.g. "vonage" or "vonage v2"
	timeout time.Duration
	now     func() time.Time
}

// NewCaller returns a Caller that calls through httpClient (nil means NewHTTPClient(timeout)), gives
// each call timeout (0 means DefaultTimeout), and reads Retry-After dates with now (nil: time.Now).
//
// It works on a shallow copy of httpClient that never follows redirects: following a 307 or 308
// would replay the body or the Authorization, credentials included, to wherever Location points.
func NewCaller(name string, httpClient *http.Client, timeout time.Duration, now func() time.Time) (*Caller, error) {
	if timeout < 0 {
		return nil, fmt.Errorf("%s: timeout %s is negative", name, timeout)
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if now == nil {
		now = time.Now
	}
	if httpClient == nil {
		httpClient = NewHTTPClient(timeout)
	}
	hc := *httpClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Caller{http: &hc, name: name, timeout: timeout, now: now}, nil
}

// Response is an upstream answer, read in full.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do sends req under the caller's ctx and the Caller's own timeout, and reads the whole answer.
// Every failure to get one is an error: a *verify.Error (timeout, unreachable, oversized answer), or
// the caller's own context error when the caller gave up. op names the call in details ("start").
func (c *Caller) Do(ctx context.Context, op string, req *http.Request) (*Response, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	resp, err := c.http.Do(req.WithContext(callCtx))
	if err != nil {
		return nil, c.transportFailure(ctx, callCtx, op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, c.transportFailure(ctx, callCtx, op, err)
	}
	if len(body) > MaxResponseBytes {
		return nil, &verify.Error{
			Kind:   verify.KindUpstreamUnavailable,
			Detail: fmt.Sprintf("%s %s answered with more than %d bytes", c.name, op, MaxResponseBytes),
		}
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// StatusFailure maps an HTTP status that means the same on every Vonage API: 429 is throttling, a
// 5xx is the upstream failing, and anything else unexpected (401, 402, 403, a redirect, a 404 from a
// wrong base URL) is a refusal of our account or setup. Detail is for the log only.
func (c *Caller) StatusFailure(r *Response) *verify.Error {
	detail := fmt.Sprintf("upstream HTTP %d", r.StatusCode)
	switch {
	case r.StatusCode == http.StatusTooManyRequests:
		return &verify.Error{Kind: verify.KindThrottled, RetryAfter: c.RetryAfter(r.Header), Detail: detail}
	case r.StatusCode >= 500:
		return &verify.Error{Kind: verify.KindUpstreamUnavailable, Detail: detail}
	}
	return &verify.Error{Kind: verify.KindUpstreamError, Detail: detail}
}

// transportFailure tells apart the three reasons a call can end without an answer: the caller gave
// up (its client hung up: not an upstream fault, so not a *verify.Error), our own per-call timeout
// ran out, or the upstream could not be reached.
func (c *Caller) transportFailure(ctx, callCtx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: caller gave up: %w", c.name, op, ctxErr)
	}
	var netErr net.Error
	if callCtx.Err() != nil || (errors.As(err, &netErr) && netErr.Timeout()) {
		if !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return &verify.Error{
			Kind:   verify.KindUpstreamTimeout,
			Detail: fmt.Sprintf("%s %s gave no answer within %s", c.name, op, c.timeout),
			Err:    err,
		}
	}
	return &verify.Error{
		Kind:   verify.KindUpstreamUnavailable,
		Detail: fmt.Sprintf("%s %s unreachable", c.name, op),
		Err:    err,
	}
}

// ExchangeAttrs are the log attributes every client writes about one upstream call: which, how long,
// the HTTP status (0: none came) and how it ended. Never a body or a header: they hold the number,
// the code and the credentials.
func ExchangeAttrs(op string, began time.Time, httpStatus int, err error) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("endpoint", op),
		// In milliseconds, like the access line's latency_ms: slog's JSON would write a Duration as
		// integer nanoseconds, and the text format as "1.2ms"; one unit reads the same in both.
		slog.Float64("latency_ms", float64(time.Since(began).Microseconds())/1000),
	}
	if httpStatus != 0 {
		attrs = append(attrs, slog.Int("http_status", httpStatus))
	}
	if ve, ok := verify.AsError(err); ok {
		attrs = append(attrs, slog.String("kind", string(ve.Kind)))
	} else if err != nil {
		attrs = append(attrs, slog.String("outcome", "caller gave up"))
	}
	return attrs
}

// RetryAfter reads Retry-After as seconds or as an HTTP date, falling back to one second when it is
// missing, unreadable or already past, and capping it at an hour.
func (c *Caller) RetryAfter(h http.Header) time.Duration {
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
