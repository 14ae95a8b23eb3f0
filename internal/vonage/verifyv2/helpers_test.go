package verifyv2_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
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
// code. A nil configure is skipped, so that a table can leave its field unset.
func newClient(t *testing.T, fake *v2test.Server, configure ...func(*verifyv2.Options)) *verifyv2.Client {
	t.Helper()
	opts := verifyv2.Options{
		Endpoint: transport.Endpoint{BaseURL: fake.URL()},
		Auth:     basicAuth(t),
		Brand:    "Acme",
		Workflow: []verifyv2.Channel{{Name: verifyv2.ChannelSMS}},
	}
	for _, f := range configure {
		if f != nil {
			f(&opts)
		}
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

// mustStart starts a verification to testNumber and fails the test if it does not start.
func mustStart(t *testing.T, c *verifyv2.Client) verify.Started {
	t.Helper()
	started, err := c.Start(t.Context(), testNumber)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return started
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

// call is one Provider method, so one table can drive any of them.
type call struct {
	route string
	do    func(context.Context, *verifyv2.Client) error
}

var (
	start = call{v2test.RouteStart, func(ctx context.Context, c *verifyv2.Client) error {
		_, err := c.Start(ctx, testNumber)
		return err
	}}
	check = call{v2test.RouteCheck, func(ctx context.Context, c *verifyv2.Client) error {
		_, err := c.Check(ctx, someID, testCode)
		return err
	}}
	cancel = call{v2test.RouteCancel, func(ctx context.Context, c *verifyv2.Client) error {
		return c.Cancel(ctx, someID)
	}}
)

// traceInstance is the instance of every problem the tests script, so that a test can find it in
// the log detail that Vonage support would ask for.
const traceInstance = "trace-7c8e4d92"

// problem is a Verify v2 problem body (RFC 7807, with Vonage's extensions) for a script. Fields left
// empty are left out of the body.
type problem struct {
	Type              string         `json:"type,omitempty"`
	Title             string         `json:"title,omitempty"`
	Detail            string         `json:"detail,omitempty"`
	Instance          string         `json:"instance,omitempty"`
	RequestID         string         `json:"request_id,omitempty"`
	InvalidParameters []invalidParam `json:"invalid_parameters,omitempty"`
}

type invalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// documented is a problem as Vonage's error reference documents it, fragment naming the entry
// (e.g. "#concurrent"), with traceInstance.
func documented(title, detail, fragment string) problem {
	return problem{
		Type:     "https://developer.vonage.com/en/api-errors/verify-v2" + fragment,
		Title:    title,
		Detail:   detail,
		Instance: traceInstance,
	}
}

// invalidParams is the 422 problem Verify v2 sends for a start it cannot take, naming params, with
// traceInstance and without a type.
func invalidParams(params ...invalidParam) problem {
	return problem{
		Title:             "Invalid params",
		Detail:            "The value of one or more parameters is invalid.",
		Instance:          traceInstance,
		InvalidParameters: params,
	}
}

// json is the problem as a body.
func (p problem) json() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	return string(b)
}

// sameJSON fails unless got and want are the same JSON value, whatever the order of their fields.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("the wanted body is not JSON: %s", want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
}
