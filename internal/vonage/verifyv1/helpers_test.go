package verifyv1_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

const (
	testNumber    = "14155550100"
	testCode      = "271828" // distinctive, so a search of the logs for it means something
	someRequestID = "abcdef0123456789abcdef0123456789"
)

// newClient builds a Client for baseURL that logs at Debug level, and fails the test at the end if
// those logs ever held the secret, the number or the code. A nil configure is skipped, so that a
// table can leave its field unset.
func newClient(t *testing.T, baseURL string, configure ...func(*verifyv1.Options)) *verifyv1.Client {
	t.Helper()
	opts := verifyv1.Options{
		Endpoint:  transport.Endpoint{BaseURL: baseURL},
		APIKey:    v1test.APIKey,
		APISecret: v1test.APISecret,
		Brand:     "Acme",
	}
	for _, f := range configure {
		if f != nil {
			f(&opts)
		}
	}
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := verifyv1.New(opts, transport.NewHTTPClient(0), logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	logtest.CheckAtEnd(t, logs, v1test.APISecret, testNumber, testCode)
	return c
}

func newFake(t *testing.T) *v1test.Server {
	t.Helper()
	fake := v1test.NewServer(t)
	fake.SetCode(testCode)
	return fake
}

// mustStart starts a verification to testNumber and fails the test if it does not start.
func mustStart(t *testing.T, c *verifyv1.Client) verify.Started {
	t.Helper()
	started, err := c.Start(t.Context(), testNumber)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return started
}

// assertNoSecret fails if err's text carries the api_secret anywhere.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), v1test.APISecret) {
		t.Errorf("error text holds the api secret: %v", err)
	}
}

func wantVerifyError(t *testing.T, err error, kind verify.Kind) *verify.Error {
	t.Helper()
	assertNoSecret(t, err)
	ve, ok := verify.AsError(err)
	if !ok {
		t.Fatalf("error = %v (%T), want a *verify.Error of kind %s", err, err, kind)
	}
	if ve.Kind != kind {
		t.Fatalf("kind = %s, want %s (error: %v)", ve.Kind, kind, err)
	}
	return ve
}

// call is one Provider method, so one table can drive any of them.
type call struct {
	path string
	do   func(context.Context, *verifyv1.Client) error
}

var (
	start = call{v1test.PathStart, func(ctx context.Context, c *verifyv1.Client) error {
		_, err := c.Start(ctx, testNumber)
		return err
	}}
	check = call{v1test.PathCheck, func(ctx context.Context, c *verifyv1.Client) error {
		_, err := c.Check(ctx, someRequestID, testCode)
		return err
	}}
	cancel = call{v1test.PathControl, func(ctx context.Context, c *verifyv1.Client) error {
		return c.Cancel(ctx, someRequestID)
	}}
)

// answer is a Verify v1 JSON answer for a script, every value a string as Vonage sends them. An
// answer whose point is another type (a numeric status, a price as a number) stays a literal.
type answer map[string]string

// json is the answer as a body.
func (a answer) json() string {
	b, err := json.Marshal(a)
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return string(b)
}
