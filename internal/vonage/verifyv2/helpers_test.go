package verifyv2_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

const (
	testNumber = "14155550100"
	testCode   = "271828" // distinctive, so a search of the logs for it means something
	someID     = "c11236f4-00bf-4b89-84ba-88b25df97315"
)

// basicAuth returns the fake's HTTP Basic credentials.
func basicAuth(t *testing.T) verifyv2.Authenticator {
	t.Helper()
	a, err := verifyv2.NewBasicAuth(v2test.APIKey, v2test.APISecret)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newClient builds a Client for the fake with Basic credentials and an SMS workflow, logging at
// Debug level, and fails the test at the end if those logs ever held a secret, the number or the
// code.
func newClient(t *testing.T, fake *v2test.Server, configure ...func(*verifyv2.Options)) *verifyv2.Client {
	t.Helper()
	opts := verifyv2.Options{
		Endpoint: transport.Endpoint{BaseURL: fake.URL()},
		Auth:     basicAuth(t),
		Brand:    "Acme",
		Workflow: []verifyv2.Channel{{Name: verifyv2.ChannelSMS}},
	}
	for _, f := range configure {
		f(&opts)
	}
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := verifyv2.New(opts, nil, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	logtest.CheckAtEnd(t, logs, v2test.APISecret, testNumber, testCode, "PRIVATE KEY")
	return c
}

func newFake(t *testing.T) *v2test.Server {
	t.Helper()
	fake := v2test.NewServer(t)
	fake.SetCode(testCode)
	return fake
}

// wantVerifyError fails unless err is a *verify.Error of kind whose text holds no secret.
func wantVerifyError(t *testing.T, err error, kind verify.Kind) *verify.Error {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), v2test.APISecret) {
		t.Errorf("error text holds the api secret: %v", err)
	}
	ve, ok := verify.AsError(err)
	if !ok {
		t.Fatalf("error = %v (%T), want a *verify.Error of kind %s", err, err, kind)
	}
	if ve.Kind != kind {
		t.Fatalf("kind = %s, want %s (%v)", ve.Kind, kind, err)
	}
	return ve
}
