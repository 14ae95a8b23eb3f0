// Package sandbox owns an embedded, in-memory stand-in for the Vonage Verify API (v1), so a developer
// can run the server with no Vonage account and walk the whole flow. Start logs the code at INFO,
// with the request_id and a masked number, instead of sending an SMS. Check and Cancel answer as
// Verify v1 does: status 10 (with the live request_id) for a second live request to one number, 16 for
// a wrong code, 17 on the third wrong code (the request then ends), and 6 for an unknown or finished
// request.
//
// Where the sandbox differs from Vonage, on purpose:
//   - Cancel works at any time while the request is live. Vonage refuses a cancel (status 19) in the
//     first 30 s and after the second event. The sandbox skips that window so the flow is easy to walk.
//     The difference matters: an app that cancels at once works here and gets cancel_not_allowed
//     from Vonage.
//   - No SMS or call is made and no event is re-sent, so one code lives for the whole request. A
//     successful check costs "0.00000000" EUR and has no estimated_price_messages_sent.
//   - A request that expired answers kind expired (with status 6, which is what Vonage v1 sends, or
//     17 as the v2 backend maps v2's 410) for one further PinExpiry, so a slow user learns why. After
//     that it answers not found.
//   - At most 100,000 requests are kept. Beyond that Start answers throttled (status 1) until the oldest
//     request expires, so memory stays bounded whatever the callers do.
//   - Nothing is persisted: a restart forgets every request.
package sandbox

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

const (
	defaultCodeLength = 4
	minCodeLength     = 4 // the Verify API's own range (v2's code_length; v1 allows 4 or 6)
	maxCodeLength     = 10
	maxV1CodeLength   = 6 // Verify v1's check takes codes of 4 to 6 characters

	// defaultMaxRequests bounds memory: a request costs a few hundred bytes, so tens of MB at most.
	defaultMaxRequests = 100_000
)

// Options configure the sandbox. PinExpiry is required; the rest may be left zero.
type Options struct {
	CodeLength int              // digits in a code, 4-10; 0 means 4
	PinExpiry  time.Duration    // how long a code can be checked (config.Config.CodeLifetime)
	Now        func() time.Time // the clock; nil means time.Now
	Rand       io.Reader        // the source of codes and ids; nil means crypto/rand.Reader
	// V2 makes the sandbox answer as Verify v2 does rather than v1: request_ids are UUIDs, an
	// expired code is status 17 (v2's 410), and a right code answers no event_id or price. An app
	// developed against the sandbox then meets what it will meet in production.
	V2 bool
	// CheckPath, with V2, makes every start answer a check_url, CheckPath followed by the request_id,
	// as Vonage does when the workflow begins with silent authentication. The server serves it by
	// calling CompleteSilentAuth.
	CheckPath string
	// RedirectURL is where a completed check_url sends the phone (VERIFY_SILENT_AUTH_REDIRECT_URL).
	RedirectURL string
	// SilentFor, with CheckPath, is how long the check_url works before the workflow would move on
	// to its next channel (Vonage's fixed 60 s); the code still checks for the rest of PinExpiry.
	SilentFor time.Duration
}

// Validate reports the first option out of range, so that configuration can refuse it at start-up.
func (o Options) Validate() error {
	if o.CodeLength != 0 && (o.CodeLength < minCodeLength || o.CodeLength > maxCodeLength) {
		return fmt.Errorf("sandbox code length %d is outside %d-%d", o.CodeLength, minCodeLength, maxCodeLength)
	}
	if o.PinExpiry <= 0 {
		return fmt.Errorf("sandbox pin expiry %s is not positive", o.PinExpiry)
	}
	if o.CheckPath != "" && (!o.V2 || !strings.HasPrefix(o.CheckPath, "/") || o.SilentFor <= 0) {
		return fmt.Errorf("sandbox check path %q needs V2 and a positive SilentFor, and must be a path", o.CheckPath)
	}
	return nil
}

// Provider is the sandbox verify.Provider. It is safe for concurrent use.
type Provider struct {
	codeLength  int
	pinExpiry   time.Duration
	now         func() time.Time
	rand        io.Reader // read only under mu, so a test reader need not be safe for concurrent use
	v2          bool
	checkPath   string
	redirectURL string
	silentFor   time.Duration
	logger      *slog.Logger
	maxRequests int

	mu       sync.Mutex
	byID     map[string]*request
	byNumber map[string]*request
	// byAge lists the requests oldest first. Every request lives the same pinExpiry, so this is also
	// the order in which they expire, and the sweep only ever looks at the front.
	byAge list.List
}

var _ verify.Provider = (*Provider)(nil)

// New returns an empty sandbox. It panics if opts.Validate fails: options come from configuration
// that was validated at start-up, so an invalid value here is a programming error. A nil logger
// discards the codes, which leaves the sandbox usable only by tests.
func New(opts Options, logger *slog.Logger) *Provider {
	if err := opts.Validate(); err != nil {
		panic("sandbox.New: " + err.Error())
	}
	p := &Provider{
		codeLength:  opts.CodeLength,
		pinExpiry:   opts.PinExpiry,
		now:         opts.Now,
		rand:        opts.Rand,
		v2:          opts.V2,
		checkPath:   opts.CheckPath,
		redirectURL: opts.RedirectURL,
		silentFor:   opts.SilentFor,
		logger:      logger,
		maxRequests: defaultMaxRequests,
		byID:        make(map[string]*request),
		byNumber:    make(map[string]*request),
	}
	if p.codeLength == 0 {
		p.codeLength = defaultCodeLength
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	return p
}

// Start begins a verification of number and logs its code, which is how the developer receives it.
func (p *Provider) Start(ctx context.Context, number string) (verify.Started, error) {
	if err := ctx.Err(); err != nil {
		return verify.Started{}, fmt.Errorf("sandbox start: %w", err)
	}
	if !isDigits(number) {
		// The server normalises numbers before they reach a provider, so this guards against a bug
		// there rather than a user, and keeps the full number out of the log below.
		return verify.Started{}, verify.Errorf(verify.KindInvalidParameter, verify.StatusInvalidParameter, "", "Invalid value for param: number")
	}

	now := p.now()
	p.mu.Lock()
	r, err := p.start(number, now)
	p.mu.Unlock()
	if err != nil {
		return verify.Started{}, err
	}

	p.logger.InfoContext(ctx, "sandbox verification code",
		"request_id", r.id, "number", phone.Mask(number), "code", r.code,
		"expires_at", r.created.Add(p.pinExpiry))
	started := verify.Started{RequestID: r.id}
	if p.checkPath != "" {
		started.CheckURL = p.checkPath + r.id
	}
	return started, nil
}

// CompleteSilentAuth is what opening a start's check_url yields: the sandbox stands in for the
// carrier, which always recognises the SIM. The code is the one logged at the start, which with
// Vonage the fallback channel would bring if silent authentication failed.
func (p *Provider) CompleteSilentAuth(ctx context.Context, requestID string) (verify.SilentAuth, error) {
	if err := ctx.Err(); err != nil {
		return verify.SilentAuth{}, fmt.Errorf("sandbox silent auth: %w", err)
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.lookup(requestID, now)
	switch {
	case p.checkPath == "" || r == nil:
		return verify.SilentAuth{}, notFound(requestID)
	case !p.live(r, now):
		return verify.SilentAuth{}, verify.Errorf(verify.KindExpired, verify.StatusTooManyAttempts, requestID, "The verification request has expired")
	case !now.Before(r.created.Add(p.silentFor)):
		return verify.SilentAuth{}, verify.Errorf(verify.KindRejected, "", requestID,
			"The silent authentication step is over; the code comes by the next channel")
	}
	return verify.SilentAuth{RequestID: r.id, Code: r.code, RedirectURL: p.redirectURL}, nil
}

// start does Start's work under p.mu.
func (p *Provider) start(number string, now time.Time) (*request, error) {
	p.sweep(now)
	if old := p.byNumber[number]; old != nil {
		if p.live(old, now) {
			return nil, verify.Errorf(verify.KindConcurrentVerification, verify.StatusConcurrent, old.id,
				"Concurrent verifications to the same number are not allowed")
		}
		p.remove(old) // an expired request gives way to the new one, as at Vonage
	}
	if len(p.byID) >= p.maxRequests {
		oldest := p.byAge.Front().Value.(*request)
		if p.live(oldest, now) {
			// Oldest first means every request is live; the oldest is the first to make room.
			e := verify.Errorf(verify.KindThrottled, verify.StatusThrottled, "", "Throttled: too many verifications in progress")
			e.RetryAfter = oldest.created.Add(p.pinExpiry).Sub(now)
			return nil, e
		}
		p.remove(oldest)
	}

	id, err := p.newRequestID()
	if err != nil {
		return nil, fmt.Errorf("sandbox start: draw request id: %w", err)
	}
	if p.byID[id] != nil {
		// Only a broken Rand repeats 128 random bits; refuse rather than overwrite a request.
		return nil, errors.New("sandbox start: drew a request id already in use")
	}
	code, err := randomCode(p.rand, p.codeLength)
	if err != nil {
		return nil, fmt.Errorf("sandbox start: draw code: %w", err)
	}
	r := &request{id: id, number: number, code: code, created: now}
	p.add(r)
	return r, nil
}

// Check compares code with the one logged for requestID. The right code ends the request; so does
// the third wrong one.
func (p *Provider) Check(ctx context.Context, requestID, code string) (verify.Checked, error) {
	if err := ctx.Err(); err != nil {
		return verify.Checked{}, fmt.Errorf("sandbox check: %w", err)
	}
	if n := len(code); !p.v2 && n > maxV1CodeLength {
		// As the Verify v1 client refuses it: v1 codes are 4 or 6 digits.
		return verify.Checked{}, &verify.Error{Kind: verify.KindInvalidRequest,
			Text: fmt.Sprintf("code: Verify v1 codes are 4 or 6 digits, this one has %d characters", n)}
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()

	r := p.lookup(requestID, now)
	if r == nil {
		return verify.Checked{}, notFound(requestID)
	}
	if !p.live(r, now) {
		status := verify.StatusNotFound // what v1 sends
		if p.v2 {
			status = verify.StatusTooManyAttempts // v2's 410, as the v2 backend maps it
		}
		return verify.Checked{}, verify.Errorf(verify.KindExpired, status, requestID, "The verification request has expired")
	}
	// Constant time, so response timing does not reveal how many leading digits were right.
	if subtle.ConstantTimeCompare([]byte(code), []byte(r.code)) == 1 {
		eventID, err := randomHex(p.rand, 8)
		if err != nil {
			// The request stays live, so the user can send the same code again.
			return verify.Checked{}, fmt.Errorf("sandbox check: draw event id: %w", err)
		}
		p.remove(r)
		if p.v2 {
			return verify.Checked{RequestID: requestID}, nil // v2 reports no event or price
		}
		return verify.Checked{
			RequestID: requestID,
			EventID:   strings.ToUpper(eventID), // as Verify v1 writes it: "0A00000012345678"
			Price:     "0.00000000",
			Currency:  "EUR",
		}, nil
	}
	r.wrongCodes++
	if r.wrongCodes >= verify.MaxWrongCodes {
		p.remove(r)
		return verify.Checked{}, verify.Errorf(verify.KindTooManyAttempts, verify.StatusTooManyAttempts, requestID,
			"The wrong code was provided too many times. Workflow terminated")
	}
	return verify.Checked{}, verify.Errorf(verify.KindCodeMismatch, verify.StatusCodeMismatch, requestID,
		"The code provided does not match the expected value")
}

// Cancel ends the live request requestID. Unlike Vonage it has no 30 s window; see the package comment.
func (p *Provider) Cancel(ctx context.Context, requestID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sandbox cancel: %w", err)
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()

	r := p.lookup(requestID, now)
	if r == nil || !p.live(r, now) {
		return notFound(requestID)
	}
	p.remove(r)
	return nil
}

func notFound(requestID string) *verify.Error {
	return verify.Errorf(verify.KindNotFound, verify.StatusNotFound, requestID,
		"The Verify request could not be found or is no longer active")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
