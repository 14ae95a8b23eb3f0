// Package transport owns what the Vonage wire clients (Verify v1 and v2) share about calling Vonage
// over HTTP: the one pooled http.Client, a call bounded by its own timeout and read in full within a
// size limit, telling a caller that hung up apart from a timeout and from an unreachable host, the
// HTTP statuses that mean the same on both APIs (429, 5xx, account refusals), Retry-After, the rule
// for a base URL, and the one trace line per call. It knows nothing of either API's wire format.
package transport

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

// ParseBaseURL is the rule for the base URL of a Vonage API (VONAGE_BASE_URL): an http(s) URL without
// credentials, query or fragment. It returns raw without a trailing slash, so that paths can be
// appended. Its errors read after the variable's name, and never repeat a URL that may hold a
// password or an api_secret.
func ParseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		got := fmt.Sprintf(", got %q", raw)
		if strings.ContainsAny(raw, "@?#") {
			got = "" // it may carry user:password or an api_secret
		}
		return "", fmt.Errorf("must be an http(s) URL such as https://api.nexmo.com%s", got)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", errors.New("must not carry credentials, a query or a fragment")
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// Caller makes bounded calls to one upstream API and traces each. It is safe for concurrent use.
type Caller struct {
	http    *http.Client
	name    string // prefixes every Detail and names the trace line, e.g. "vonage" or "vonage v2"
	baseURL string
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger
}

// Endpoint is where a client calls one Vonage API, and how patiently; both clients' Options embed
// it.
type Endpoint struct {
	BaseURL string        // see ParseBaseURL
	Timeout time.Duration // per call; 0 means DefaultTimeout
	// Now reads Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// NewCaller returns a Caller for the API at e, named name ("vonage" or "vonage v2") in errors and
// trace lines. It calls through httpClient (nil means NewHTTPClient(e.Timeout)) and traces each call
// at Debug level to logger (nil means no logging).
//
// It works on a shallow copy of the http.Client that never follows redirects: following a 307 or 308
// would replay the body or the Authorization, credentials included, to wherever Location points.
func NewCaller(name string, e Endpoint, httpClient *http.Client, logger *slog.Logger) (*Caller, error) {
	base, err := ParseBaseURL(e.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: base url %w", name, err)
	}
	c := &Caller{name: name, baseURL: base, timeout: e.Timeout, now: e.Now, log: logger}
	if c.timeout < 0 {
		return nil, fmt.Errorf("%s: timeout %s is negative", c.name, c.timeout)
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if httpClient == nil {
		httpClient = NewHTTPClient(c.timeout)
	}
	hc := *httpClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	return c, nil
}

// BaseURL is the API's base URL, without a trailing slash.
func (c *Caller) BaseURL() string { return c.baseURL }

// Response is an upstream answer, read in full.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// budgetKey carries the deadline that the calls made under one Budget share.
type budgetKey struct{}

// Budget returns ctx under which this Caller's calls, all together, take at most its timeout. An
// operation that may make a second call (a start that falls back to another channel) is then
// bounded as one call is, and so is everything sized to one call: a shutdown's drain, an
// idempotency lease, the server's write timeout.
func (c *Caller) Budget(ctx context.Context) context.Context {
	return context.WithValue(ctx, budgetKey{}, time.Now().Add(c.timeout))
}

// Do sends req under the caller's ctx and the Caller's own timeout (or what is left of its Budget),
// and reads the whole answer. Every failure to get one is an error: a *verify.Error (timeout,
// unreachable, oversized answer), or the caller's own context error when the caller gave up. op
// names the call in details.
func (c *Caller) Do(ctx context.Context, op verify.Op, req *http.Request) (*Response, error) {
	deadline := time.Now().Add(c.timeout)
	if budget, ok := ctx.Value(budgetKey{}).(time.Time); ok && budget.Before(deadline) {
		deadline = budget
	}
	callCtx, cancel := context.WithDeadline(ctx, deadline)
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
func (c *Caller) transportFailure(ctx, callCtx context.Context, op verify.Op, err error) error {
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

// LogExchange traces one upstream call at Debug level: which, how long, the HTTP status (0: none
// came), how it ended, and what the client adds (a Verify status, a problem's instance). Never a body
// or a header: they hold the number, the code and the credentials. Failures are not logged as such
// here: they are returned, and the server logs them once.
func (c *Caller) LogExchange(ctx context.Context, op verify.Op, began time.Time, httpStatus int, err error, extra ...slog.Attr) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("endpoint", op.String()),
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
	c.log.LogAttrs(ctx, slog.LevelDebug, c.name+" exchange", append(attrs, extra...)...)
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
