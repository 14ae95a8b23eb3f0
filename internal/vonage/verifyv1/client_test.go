package verifyv1_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

func TestRightCodeCompletesTheVerificationWithPricesKeptByteForByte(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	c := newClient(t, fake.URL())
	started := mustStart(t, c)
	if len(started.RequestID) != 32 {
		t.Errorf("request_id = %q, want 32 hex characters", started.RequestID)
	}
	checked, err := c.Check(t.Context(), started.RequestID, fake.CodeFor(started.RequestID))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if checked.RequestID != started.RequestID || checked.EventID == "" {
		t.Errorf("checked = %+v, want request_id %s and an event_id", checked, started.RequestID)
	}
	if checked.Price != "0.10000000" || checked.Currency != "EUR" || checked.EstimatedPriceMessagesSent != "0.03330000" {
		t.Errorf("prices = %q %q %q, want the upstream strings unchanged", checked.Price, checked.Currency, checked.EstimatedPriceMessagesSent)
	}
	_, err = c.Check(t.Context(), started.RequestID, testCode)
	wantVerifyError(t, err, verify.KindNotFound)
}

func TestWrongCodeIsACodeMismatchTheAppMaySee(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t).URL())
	started := mustStart(t, c)
	_, err := c.Check(t.Context(), started.RequestID, "0000")
	ve := wantVerifyError(t, err, verify.KindCodeMismatch)
	if ve.Status != "16" || ve.Text != "The code provided does not match the expected value" || ve.RequestID != started.RequestID {
		t.Errorf("error = %+v, want status 16 with Vonage's text and the request_id", ve)
	}
	if _, err := c.Check(t.Context(), started.RequestID, testCode); err != nil {
		t.Errorf("right code after one wrong one: %v", err)
	}
}

func TestWrongCodeThreeTimesEndsTheVerification(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t).URL())
	started := mustStart(t, c)
	for range 2 {
		_, err := c.Check(t.Context(), started.RequestID, "0000")
		wantVerifyError(t, err, verify.KindCodeMismatch)
	}
	_, err := c.Check(t.Context(), started.RequestID, "0000")
	ve := wantVerifyError(t, err, verify.KindTooManyAttempts)
	if ve.Status != "17" || ve.Text != "The wrong code was provided too many times. Workflow terminated" {
		t.Errorf("error = %+v, want status 17 with Vonage's text", ve)
	}
	_, err = c.Check(t.Context(), started.RequestID, testCode)
	wantVerifyError(t, err, verify.KindNotFound)
	if _, err := c.Start(t.Context(), testNumber); err != nil {
		t.Errorf("a new verification to the number after the old one ended: %v", err)
	}
}

func TestSecondStartToTheSameNumberReturnsTheRequestAlreadyInFlight(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t).URL())
	first := mustStart(t, c)
	_, err := c.Start(t.Context(), testNumber)
	ve := wantVerifyError(t, err, verify.KindConcurrentVerification)
	if ve.Status != "10" || ve.RequestID != first.RequestID || ve.Text == "" {
		t.Errorf("error = %+v, want status 10 carrying request_id %s and Vonage's text", ve, first.RequestID)
	}
}

func TestCancelEndsTheVerificationSoItsCodeNoLongerChecks(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t).URL())
	started := mustStart(t, c)
	if err := c.Cancel(t.Context(), started.RequestID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	_, err := c.Check(t.Context(), started.RequestID, testCode)
	wantVerifyError(t, err, verify.KindNotFound)
	err = c.Cancel(t.Context(), started.RequestID)
	wantVerifyError(t, err, verify.KindNotFound)
}

// The fake's clock belongs to this test alone, so the test can run in parallel; within it, the steps
// keep their order.
func TestCancelWithinTheFirst30SecondsIsRefusedWhenTheFakeEnforcesIt(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	fake.EnforceCancelWindow(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	c := newClient(t, fake.URL())
	started := mustStart(t, c)
	err := c.Cancel(t.Context(), started.RequestID)
	ve := wantVerifyError(t, err, verify.KindCancelNotAllowed)
	if ve.Status != "19" || !strings.Contains(ve.Text, "first 30 seconds") {
		t.Errorf("error = %+v, want status 19 about the first 30 seconds", ve)
	}
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	if err := c.Cancel(t.Context(), started.RequestID); err != nil {
		t.Errorf("Cancel after 31s: %v", err)
	}
}

func TestWrongCredentialsAreAnAccountFaultWhoseTextStaysInTheLogDetail(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.SetCredentials(v1test.APIKey, "another-secret")
	c := newClient(t, fake.URL())
	_, err := c.Start(t.Context(), testNumber)
	ve := wantVerifyError(t, err, verify.KindUpstreamError)
	if ve.Status != "4" || ve.Text != "" || ve.Detail != "Bad Credentials" {
		t.Errorf("error = %+v, want status 4 with the text only in Detail", ve)
	}
}

func TestConcurrentStartsToDifferentNumbersEachGetTheirOwnRequest(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t).URL())
	const n = 20
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var s verify.Started
			s, errs[i] = c.Start(t.Context(), fmt.Sprintf("4477009000%02d", i))
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
}

func TestWhatGoesOnTheWire(t *testing.T) {
	t.Parallel()
	with := func(extra url.Values) url.Values {
		form := url.Values{"api_key": {v1test.APIKey}, "api_secret": {v1test.APISecret}}
		maps.Copy(form, extra)
		return form
	}
	tests := []struct {
		name      string
		configure func(*verifyv1.Options)
		call      call
		wantPath  string
		wantForm  url.Values
	}{
		{
			name:     "start sends number, brand and the credentials, and no optional parameter unless set",
			call:     start,
			wantPath: "/verify/json",
			wantForm: with(url.Values{"number": {testNumber}, "brand": {"Acme"}}),
		},
		{
			name: "start sends every optional parameter that is set",
			configure: func(o *verifyv1.Options) {
				o.CodeLength, o.Locale, o.WorkflowID = 6, "en-gb", 6
				o.PinExpiry, o.NextEventWait, o.SenderID = 600, 300, "ACME"
			},
			call:     start,
			wantPath: "/verify/json",
			wantForm: with(url.Values{
				"number": {testNumber}, "brand": {"Acme"},
				"code_length": {"6"}, "lg": {"en-gb"}, "workflow_id": {"6"},
				"pin_expiry": {"600"}, "next_event_wait": {"300"}, "sender_id": {"ACME"},
			}),
		},
		{
			name:      "a trailing slash on the base url does not double the slash",
			configure: func(o *verifyv1.Options) { o.BaseURL += "/" },
			call:      start,
			wantPath:  "/verify/json",
			wantForm:  with(url.Values{"number": {testNumber}, "brand": {"Acme"}}),
		},
		{
			name:     "check sends request_id and code",
			call:     check,
			wantPath: "/verify/check/json",
			wantForm: with(url.Values{"request_id": {someRequestID}, "code": {testCode}}),
		},
		{
			name:     "cancel sends request_id and cmd=cancel to control",
			call:     cancel,
			wantPath: "/verify/control/json",
			wantForm: with(url.Values{"request_id": {someRequestID}, "cmd": {"cancel"}}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			c := newClient(t, fake.URL(), tt.configure)
			_ = tt.call.do(t.Context(), c) // the outcome does not matter here, only what was sent

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
			if !maps.EqualFunc(r.Form, tt.wantForm, slices.Equal) {
				t.Errorf("form = %v\nwant   %v", r.Form, tt.wantForm)
			}
		})
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	t.Parallel()
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
			t.Parallel()
			opts := validOptions()
			tt.change(&opts)
			c, err := verifyv1.New(opts, nil, nil)
			if err == nil {
				t.Fatalf("New = %v, want an error", c)
			}
			assertNoSecret(t, err)
		})
	}
}

func TestValidOptionsWithNoHTTPClientOrLoggerMakeAClientThatHidesItsSecret(t *testing.T) {
	t.Parallel()
	c, err := verifyv1.New(validOptions(), nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if s := fmt.Sprintf("%v %+v %s", c, c, c); strings.Contains(s, v1test.APISecret) {
		t.Errorf("formatting the client shows the secret: %s", s)
	}
}

// validOptions are options New accepts, for a client that is never called.
func validOptions() verifyv1.Options {
	return verifyv1.Options{Endpoint: transport.Endpoint{BaseURL: "https://api.nexmo.com"}, APIKey: "key", APISecret: v1test.APISecret, Brand: "Acme"}
}

func TestWhatVerifyV1CannotTakeIsRefusedWithoutACall(t *testing.T) {
	t.Parallel()
	uuid := "c11236f4-00bf-4b89-84ba-88b25df97315" // a v2 id: 36 characters, v1 takes 32 at most
	tests := []struct {
		name      string
		call      func(*verifyv1.Client) error
		kind      verify.Kind
		wantInErr string
	}{
		{"a code of 7 characters", func(c *verifyv1.Client) error {
			_, err := c.Check(t.Context(), strings.Repeat("a", 32), "1234567")
			return err
		}, verify.KindInvalidRequest, "4 or 6 digits, this one has 7"},
		{"a code of 10 characters", func(c *verifyv1.Client) error {
			_, err := c.Check(t.Context(), strings.Repeat("a", 32), "ABCDE12345")
			return err
		}, verify.KindInvalidRequest, "this one has 10"},
		{"a request_id longer than 32 characters, to check", func(c *verifyv1.Client) error {
			_, err := c.Check(t.Context(), uuid, "1234")
			return err
		}, verify.KindNotFound, "could have issued"},
		{"a request_id longer than 32 characters, to cancel", func(c *verifyv1.Client) error {
			return c.Cancel(t.Context(), uuid)
		}, verify.KindNotFound, "could have issued"},
		{"a request_id with a slash, to cancel", func(c *verifyv1.Client) error {
			return c.Cancel(t.Context(), "../verify/json")
		}, verify.KindNotFound, "could have issued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			c := newClient(t, fake.URL())
			ve := wantVerifyError(t, tt.call(c), tt.kind)
			if !strings.Contains(ve.Error(), tt.wantInErr) {
				t.Errorf("error = %v, want it to say %q", ve, tt.wantInErr)
			}
			if n := len(fake.Requests()); n != 0 {
				t.Errorf("Vonage was called %d times, want none", n)
			}
			mustStart(t, c) // the client still works, and its trace is checked for leaks
		})
	}
	// The limits themselves still go through: 6 characters and 32.
	fake := newFake(t)
	c := newClient(t, fake.URL())
	started := mustStart(t, c)
	_, err := c.Check(t.Context(), started.RequestID, "123456")
	wantVerifyError(t, err, verify.KindCodeMismatch)
}
