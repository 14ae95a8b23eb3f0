// Package testnumbers owns fixed test numbers (for App Store review and CI): a verify.Provider that
// answers for the configured numbers itself, with their fixed codes, sending nothing, and hands
// every other call to the real provider. Wrong codes behave as at Vonage (status 16, and 17 on the
// third). A test request_id has its own form ("test" and 32 hex digits) that no Vonage id has, so a
// test id never reaches Vonage and a Vonage id never reaches the sessions; the sessions live in the
// shared state, so they work across replicas. Read recognises a test number however it is typed.
package testnumbers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

const (
	idPrefix = "test"
	idLength = len(idPrefix) + 32
)

// Numbers maps each test number (E.164 digits, no '+') to its code.
type Numbers map[string]string

// Has reports whether number (E.164 digits) is a test number.
func (n Numbers) Has(number string) bool {
	_, ok := n[number]
	return ok
}

// Read reads the number an app sent as phones does, and says whether it is a test number. Test
// numbers are usually fictional, which phones refuses: they are matched however they are typed
// (national format, "+44 (0)..."), valid or not, and then only Number.E164 is set. A valid reading
// is that number and no other, so that a real number typed nationally whose digits happen to equal a
// test number's reaches Vonage, not the reviewer's fixed code.
func (n Numbers) Read(phones *phone.Parser, raw string) (num phone.Number, test bool, err error) {
	num, err = phones.Parse(raw)
	if err != nil {
		// Only after Parse refuses, so that a valid number costs one parse.
		for _, reading := range phones.Readings(raw) {
			if n.Has(reading) {
				return phone.Number{E164: reading}, true, nil
			}
		}
		return phone.Number{}, false, err
	}
	return num, n.Has(num.E164), nil
}

// Provider answers test numbers itself and passes everything else to the real provider.
type Provider struct {
	next     verify.Provider
	codes    Numbers
	sessions state.Sessions
	ttl      time.Duration
	logger   *slog.Logger
}

var _ verify.Provider = (*Provider)(nil)

// New wraps next. sessions keep the test verifications; ttl is how long one lives, as long as a real
// code (config.Config.CodeLifetime).
func New(next verify.Provider, codes Numbers, sessions state.Sessions, ttl time.Duration, logger *slog.Logger) *Provider {
	return &Provider{next: next, codes: codes, sessions: sessions, ttl: ttl, logger: logger}
}

// testID returns the test request_id that requestID names, in the lower case this package draws it
// in, and whether it names one: an id in other letter cases is the same id, and must never reach
// Vonage either.
func testID(requestID string) (string, bool) {
	id := strings.ToLower(requestID)
	return id, len(id) == idLength && strings.HasPrefix(id, idPrefix)
}

// Start starts a test verification for a test number, or passes number on.
func (p *Provider) Start(ctx context.Context, number string) (verify.Started, error) {
	code, ok := p.codes[number]
	if !ok {
		return p.next.Start(ctx, number)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return verify.Started{}, fmt.Errorf("test number start: draw request id: %w", err)
	}
	id := idPrefix + hex.EncodeToString(b)
	if err := p.sessions.StartSession(ctx, id, code, p.ttl); err != nil {
		return verify.Started{}, err
	}
	p.logger.InfoContext(ctx, "test number verification started; nothing sent", "request_id", id, "number", phone.Mask(number))
	return verify.Started{RequestID: id}, nil
}

// Check checks a test verification's code, or passes the call on.
func (p *Provider) Check(ctx context.Context, requestID, code string) (verify.Checked, error) {
	id, isTest := testID(requestID)
	if !isTest {
		return p.next.Check(ctx, requestID, code)
	}
	requestID = id
	res, err := p.sessions.CheckSession(ctx, requestID, code, verify.MaxWrongCodes)
	if err != nil {
		return verify.Checked{}, err
	}
	switch res {
	case state.CodeRight:
		// No event and no price: nothing was sent or charged, and v2 (whose ids and shapes the app
		// may meet in production) never reports them either. The contract has them optional.
		return verify.Checked{RequestID: requestID}, nil
	case state.CodeWrong:
		return verify.Checked{}, verify.Errorf(verify.KindCodeMismatch, verify.StatusCodeMismatch, requestID,
			"The code provided does not match the expected value")
	case state.CodeExhausted:
		return verify.Checked{}, verify.Errorf(verify.KindTooManyAttempts, verify.StatusTooManyAttempts, requestID,
			"The wrong code was provided too many times. Workflow terminated")
	}
	return verify.Checked{}, notFound(requestID)
}

// Cancel ends a test verification, or passes the call on.
func (p *Provider) Cancel(ctx context.Context, requestID string) error {
	id, isTest := testID(requestID)
	if !isTest {
		return p.next.Cancel(ctx, requestID)
	}
	requestID = id
	ended, err := p.sessions.EndSession(ctx, requestID)
	if err != nil {
		return err
	}
	if !ended {
		return notFound(requestID)
	}
	return nil
}

func notFound(requestID string) *verify.Error {
	return verify.Errorf(verify.KindNotFound, verify.StatusNotFound, requestID,
		"The Verify request could not be found or is no longer active")
}
