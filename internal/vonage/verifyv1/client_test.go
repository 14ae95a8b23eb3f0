package verifyv1_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/logtest"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

const (
	testNumber = "14155550100"
	testCode   = "271828" // distinctive, so a search of the logs for it means something
)

// newClient builds a Client for baseURL that logs at Debug level, and fails the test at the end if
// those logs ever held the secret, the number or the code.
func newClient(t *testing.T, baseURL string, configure ...func(*verifyv1.Options)) *verifyv1.Client {
	t.Helper()
	opts := verifyv1.Options{
		Endpoint:  transport.Endpoint{BaseURL: baseURL},
		APIKey:    v1test.APIKey,
		APISecret: v1test.APISecret,
		Brand:     "Acme",
	}
	for _, f := range configure {
		f(&opts)
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

func TestVerificationFlowsAgainstFakeVonage(t *testing.T) {
	ctx := context.Background()

	t.Run("right code completes the verification with prices kept byte for byte", func(t *testing.T) {
		fake := newFake(t)
		c := newClient(t, fake.URL())
		started, err := c.Start(ctx, testNumber)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		if len(started.RequestID) != 32 {
			t.Errorf("request_id = %q, want 32 hex characters", started.RequestID)
		}
		checked, err := c.Check(ctx, started.RequestID, fake.CodeFor(started.RequestID))
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if checked.RequestID != started.RequestID || checked.EventID == "" {
			t.Errorf("checked = %+v, want request_id %s and an event_id", checked, started.RequestID)
		}
		if checked.Price != "0.10000000" || checked.Currency != "EUR" || checked.EstimatedPriceMessagesSent != "0.03330000" {
			t.Errorf("prices = %q %q %q, want the upstream strings unchanged", checked.Price, checked.Currency, checked.EstimatedPriceMessagesSent)
		}
		_, err = c.Check(ctx, started.RequestID, testCode)
		wantVerifyError(t, err, verify.KindNotFound)
	})

	t.Run("wrong code is a code mismatch the app may see", func(t *testing.T) {
		fake := newFake(t)
		c := newClient(t, fake.URL())
		started, err := c.Start(ctx, testNumber)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		_, err = c.Check(ctx, started.RequestID, "0000")
		ve := wantVerifyError(t, err, verify.KindCodeMismatch)
		if ve.Status != "16" || ve.Text != "The code provided does not match the expected value" || ve.RequestID != started.RequestID {
			t.Errorf("error = %+v, want status 16 with Vonage's text and the request_id", ve)
		}
		if _, err := c.Check(ctx, started.RequestID, testCode); err != nil {
			t.Errorf("right code after one wrong one: %v", err)
		}
	})

	t.Run("wrong code three times ends the verification", func(t *testing.T) {
		fake := newFake(t)
		c := newClient(t, fake.URL())
		started, err := c.Start(ctx, testNumber)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		for range 2 {
			_, err = c.Check(ctx, started.RequestID, "0000")
			wantVerifyError(t, err, verify.KindCodeMismatch)
		}
		_, err = c.Check(ctx, started.RequestID, "0000")
		ve := wantVerifyError(t, err, verify.KindTooManyAttempts)
		if ve.Status != "17" || ve.Text != "The wrong code was provided too many times. Workflow terminated" {
			t.Errorf("error = %+v, want status 17 with Vonage's text", ve)
		}
		_, err = c.Check(ctx, started.RequestID, testCode)
		wantVerifyError(t, err, verify.KindNotFound)
		if _, err := c.Start(ctx, testNumber); err != nil {
			t.Errorf("a new verification to the number after the old one ended: %v", err)
		}
	})

	t.Run("second start to the same number returns the request already in flight", func(t *testing.T) {
		fake := newFake(t)
		c := newClient(t, fake.URL())
		first, err := c.Start(ctx, testNumber)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		_, err = c.Start(ctx, testNumber)
		ve := wantVerifyError(t, err, verify.KindConcurrentVerification)
		if ve.Status != "10" || ve.RequestID != first.RequestID || ve.Text == "" {
			t.Errorf("error = %+v, want status 10 carrying request_id %s and Vonage's text", ve, first.RequestID)
		}
	})

	t.Run("cancel ends the verification so its code no longer checks", func(t *testing.T) {
		fake := newFake(t)
		c := newClient(t, fake.URL())
		started, err := c.Start(ctx, testNumber)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := c.Cancel(ctx, started.RequestID); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		_, err = c.Check(ctx, started.RequestID, testCode)
		wantVerifyError(t, err, verify.KindNotFound)
		err = c.Cancel(ctx, started.RequestID)
		wantVerifyError(t, err, verify.KindNotFound)
	})

	t.Run("cancel within the first 30 seconds is refused when the fake enforces it", func(t *testing.T) {
		fake := newFake(t)
		now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		var mu sync.Mutex
		fake.EnforceCancelWindow(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		c := newClient(t, fake.URL())
		started, err := c.Start(ctx, testNumber)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		err = c.Cancel(ctx, started.RequestID)
		ve := wantVerifyError(t, err, verify.KindCancelNotAllowed)
		if ve.Status != "19" || !strings.Contains(ve.Text, "first 30 seconds") {
			t.Errorf("error = %+v, want status 19 about the first 30 seconds", ve)
		}
		mu.Lock()
		now = now.Add(31 * time.Second)
		mu.Unlock()
		if err := c.Cancel(ctx, started.RequestID); err != nil {
			t.Errorf("Cancel after 31s: %v", err)
		}
	})

	t.Run("wrong credentials are an account fault whose text stays in the log detail", func(t *testing.T) {
		fake := newFake(t)
		fake.SetCredentials(v1test.APIKey, "another-secret")
		c := newClient(t, fake.URL())
		_, err := c.Start(ctx, testNumber)
		ve := wantVerifyError(t, err, verify.KindUpstreamError)
		if ve.Status != "4" || ve.Text != "" || ve.Detail != "Bad Credentials" {
			t.Errorf("error = %+v, want status 4 with the text only in Detail", ve)
		}
	})

	t.Run("concurrent starts to different numbers each get their own request", func(t *testing.T) {
		fake := newFake(t)
		c := newClient(t, fake.URL())
		const n = 20
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var s verify.Started
				s, errs[i] = c.Start(ctx, fmt.Sprintf("4477009000%02d", i))
				ids[i] = s.RequestID
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Start %d: %v", i, err)
			}
		}
		slices.Sort(ids)
		if len(slices.Compact(ids)) != n {
			t.Errorf("request_ids are not distinct: %v", ids)
		}
	})
}

func TestWhatGoesOnTheWire(t *testing.T) {
	ctx := context.Background()
	creds := map[string][]string{"api_key": {v1test.APIKey}, "api_secret": {v1test.APISecret}}
	with := func(extra map[string][]string) map[string][]string {
		m := maps.Clone(creds)
		maps.Copy(m, extra)
		return m
	}

	tests := []struct {
		name      string
		configure func(*verifyv1.Options)
		call      func(*verifyv1.Client) error
		wantPath  string
		wantForm  map[string][]string
	}{
		{
			name:     "start sends number, brand and the credentials, and no optional parameter unless set",
			call:     func(c *verifyv1.Client) error { _, err := c.Start(ctx, testNumber); return err },
			wantPath: "/verify/json",
			wantForm: with(map[string][]string{"number": {testNumber}, "brand": {"Acme"}}),
		},
		{
			name: "start sends every optional parameter that is set",
			configure: func(o *verifyv1.Options) {
				o.CodeLength, o.Locale, o.WorkflowID = 6, "en-gb", 6
				o.PinExpiry, o.NextEventWait, o.SenderID = 600, 300, "ACME"
			},
			call:     func(c *verifyv1.Client) error { _, err := c.Start(ctx, testNumber); return err },
			wantPath: "/verify/json",
			wantForm: with(map[string][]string{
				"number": {testNumber}, "brand": {"Acme"},
				"code_length": {"6"}, "lg": {"en-gb"}, "workflow_id": {"6"},
				"pin_expiry": {"600"}, "next_event_wait": {"300"}, "sender_id": {"ACME"},
			}),
		},
		{
			name:      "a trailing slash on the base url does not double the slash",
			configure: func(o *verifyv1.Options) { o.BaseURL += "/" },
			call:      func(c *verifyv1.Client) error { _, err := c.Start(ctx, testNumber); return err },
			wantPath:  "/verify/json",
			wantForm:  with(map[string][]string{"number": {testNumber}, "brand": {"Acme"}}),
		},
		{
			name: "check sends request_id and code",
			call: func(c *verifyv1.Client) error {
				_, err := c.Check(ctx, "abcdef0123456789abcdef0123456789", testCode)
				return err
			},
			wantPath: "/verify/check/json",
			wantForm: with(map[string][]string{"request_id": {"abcdef0123456789abcdef0123456789"}, "code": {testCode}}),
		},
		{
			name:     "cancel sends request_id and cmd=cancel to control",
			call:     func(c *verifyv1.Client) error { return c.Cancel(ctx, "abcdef0123456789abcdef0123456789") },
			wantPath: "/verify/control/json",
			wantForm: with(map[string][]string{"request_id": {"abcdef0123456789abcdef0123456789"}, "cmd": {"cancel"}}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			configure := []func(*verifyv1.Options){}
			if tt.configure != nil {
				configure = append(configure, tt.configure)
			}
			c := newClient(t, fake.URL(), configure...)
			_ = tt.call(c) // the outcome does not matter here, only what was sent

			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != tt.wantPath {
				t.Errorf("request = %s %s, want POST %s", r.Method, r.Path, tt.wantPath)
			}
			if r.RawQuery != "" {
				t.Errorf("query = %q, want none: credentials belong in the body", r.RawQuery)
			}
			if r.ContentType != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q, want a form", r.ContentType)
			}
			if r.Accept != "application/json" || r.UserAgent != "verify-proxy" {
				t.Errorf("Accept = %q, User-Agent = %q", r.Accept, r.UserAgent)
			}
			if !maps.EqualFunc(map[string][]string(r.Form), tt.wantForm, slices.Equal) {
				t.Errorf("form = %v\nwant   %v", r.Form, tt.wantForm)
			}
		})
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	valid := verifyv1.Options{Endpoint: transport.Endpoint{BaseURL: "https://api.nexmo.com"}, APIKey: "key", APISecret: v1test.APISecret, Brand: "Acme"}
	tests := []struct {
		name   string
		change func(*verifyv1.Options)
	}{
		{"empty base url", func(o *verifyv1.Options) { o.BaseURL = "" }},
		{"base url without scheme", func(o *verifyv1.Options) { o.BaseURL = "api.nexmo.com" }},
		{"base url with a query", func(o *verifyv1.Options) { o.BaseURL = "https://api.nexmo.com?x=1" }},
		{"empty api key", func(o *verifyv1.Options) { o.APIKey = "" }},
		{"empty api secret", func(o *verifyv1.Options) { o.APISecret = "" }},
		{"empty brand", func(o *verifyv1.Options) { o.Brand = "" }},
		{"negative timeout", func(o *verifyv1.Options) { o.Timeout = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			opts := valid
			tt.change(&opts)
			c, err := verifyv1.New(opts, nil, nil)
			if err == nil {
				t.Fatalf("New = %v, want an error", c)
			}
			assertNoSecret(t, err)
		})
	}

	t.Run("valid options with no http client or logger make a client that hides its secret", func(t *testing.T) {
		c, err := verifyv1.New(valid, nil, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if s := fmt.Sprintf("%v %+v %s", c, c, c); strings.Contains(s, v1test.APISecret) {
			t.Errorf("formatting the client shows the secret: %s", s)
		}
	})
}
