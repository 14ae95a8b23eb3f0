package verifyv2_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

func TestASecondStartToTheSameNumberIsRefusedWhileTheFirstIsInFlight(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t))
	started := mustStart(t, c)
	if len(started.RequestID) != 36 {
		t.Errorf("request_id %q is not a UUID", started.RequestID)
	}
	_, err := c.Start(t.Context(), testNumber)
	ve := wantVerifyError(t, err, verify.KindConcurrentVerification)
	if ve.Status != "10" {
		t.Errorf("status = %q, want 10", ve.Status)
	}
}

func TestTwoWrongCodesThenTheRightOneVerifies(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t))
	started := mustStart(t, c)
	for range 2 {
		_, err := c.Check(t.Context(), started.RequestID, "000000")
		wantVerifyError(t, err, verify.KindCodeMismatch)
	}
	got, err := c.Check(t.Context(), started.RequestID, testCode)
	if err != nil || got.RequestID != started.RequestID {
		t.Fatalf("Check = %+v, %v", got, err)
	}
	if _, err := c.Start(t.Context(), testNumber); err != nil {
		t.Errorf("after a verified check the number must be free again: %v", err)
	}
}

func TestTheThirdWrongCodeEndsTheVerification(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t))
	started := mustStart(t, c)
	for _, want := range []verify.Kind{verify.KindCodeMismatch, verify.KindCodeMismatch, verify.KindTooManyAttempts} {
		_, err := c.Check(t.Context(), started.RequestID, "000000")
		wantVerifyError(t, err, want)
	}
	_, err := c.Check(t.Context(), started.RequestID, testCode)
	wantVerifyError(t, err, verify.KindNotFound)
}

// The fake's clock belongs to this test alone, so the test can run in parallel; within it, the steps
// keep their order.
func TestAVerificationWhoseChannelsAllTimedOutHasExpired(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	fake.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	c := newClient(t, fake, func(o *verifyv2.Options) {
		o.Workflow = []verifyv2.Channel{{Name: verifyv2.ChannelSMS}, {Name: verifyv2.ChannelVoice}}
		o.ChannelTimeout = 60
	})
	started := mustStart(t, c)
	mu.Lock()
	now = now.Add(2 * time.Minute) // two channels of 60 s each
	mu.Unlock()
	_, err := c.Check(t.Context(), started.RequestID, testCode)
	ve := wantVerifyError(t, err, verify.KindExpired)
	if ve.Status != "17" {
		t.Errorf("status = %q, want 17", ve.Status)
	}
	if _, err := c.Start(t.Context(), testNumber); err != nil {
		t.Errorf("an expired verification must free the number: %v", err)
	}
}

func TestCancelStopsAVerificationAndASecondCancelFindsNothing(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t))
	started := mustStart(t, c)
	if err := c.Cancel(t.Context(), started.RequestID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	wantVerifyError(t, c.Cancel(t.Context(), started.RequestID), verify.KindNotFound)
}

func TestCancelInTheFirst30SecondsIsNotAllowed(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.EnforceCancelWindow()
	c := newClient(t, fake)
	started := mustStart(t, c)
	ve := wantVerifyError(t, c.Cancel(t.Context(), started.RequestID), verify.KindCancelNotAllowed)
	if ve.Status != "19" {
		t.Errorf("status = %q, want 19", ve.Status)
	}
}

func TestConcurrentStartsToDifferentNumbersAllSucceedWithDistinctIDs(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake(t))
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := c.Start(t.Context(), "1415555"+string(rune('1'+i%9))+string(rune('0'+i/9))+"00")
			if err != nil {
				t.Errorf("Start %d: %v", i, err)
			}
			ids[i] = s.RequestID
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("request_id %s issued twice", id)
		}
		seen[id] = true
	}
}

func TestWhatGoesOnTheWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		configure func(*verifyv2.Options)
		call      call
		wantRoute string
		wantPath  string
		wantBody  string // JSON; "" means no body at all
	}{
		{
			name:      "start sends brand and an sms workflow to the number without +, and nothing optional unless set",
			call:      start,
			wantRoute: v2test.RouteStart, wantPath: "/v2/verify",
			wantBody: `{"brand":"Acme","workflow":[{"channel":"sms","to":"14155550100"}]}`,
		},
		{
			name: "start sends every channel in order with its from and app_hash, and every option that is set",
			configure: func(o *verifyv2.Options) {
				o.Workflow = []verifyv2.Channel{
					{Name: verifyv2.ChannelWhatsApp, From: "447700900001"},
					{Name: verifyv2.ChannelSMS, From: "ACME", AppHash: "FA+9qCX9VSu"},
					{Name: verifyv2.ChannelVoice},
				}
				o.CodeLength, o.Locale, o.ChannelTimeout = 8, "es-mx", 300
			},
			call:      start,
			wantRoute: v2test.RouteStart, wantPath: "/v2/verify",
			wantBody: `{"brand":"Acme","workflow":[
				{"channel":"whatsapp","to":"14155550100","from":"447700900001"},
				{"channel":"sms","to":"14155550100","from":"ACME","app_hash":"FA+9qCX9VSu"},
				{"channel":"voice","to":"14155550100"}],
				"code_length":8,"locale":"es-mx","channel_timeout":300}`,
		},
		{
			name:      "check posts the code to the request's path",
			call:      check,
			wantRoute: v2test.RouteCheck, wantPath: "/v2/verify/" + someID,
			wantBody: `{"code":"271828"}`,
		},
		{
			name:      "cancel deletes the request's path with no body",
			call:      cancel,
			wantRoute: v2test.RouteCancel, wantPath: "/v2/verify/" + someID,
		},
		{
			name: "a v1-style request id is passed as it is",
			call: call{v2test.RouteCancel, func(ctx context.Context, c *verifyv2.Client) error {
				return c.Cancel(ctx, "abcdef0123456789abcdef0123456789")
			}},
			wantRoute: v2test.RouteCancel, wantPath: "/v2/verify/abcdef0123456789abcdef0123456789",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			_ = tt.call.do(t.Context(), newClient(t, fake, tt.configure)) // the outcome does not matter here, only what was sent

			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Route != tt.wantRoute || r.Path != tt.wantPath || r.RawQuery != "" {
				t.Errorf("request = %s %s?%s (%s), want %s %s", r.Method, r.Path, r.RawQuery, r.Route, tt.wantRoute, tt.wantPath)
			}
			if r.Auth != "basic" || r.UserAgent != "verify-proxy" || r.Accept != "application/json, application/problem+json" {
				t.Errorf("auth %q, User-Agent %q, Accept %q", r.Auth, r.UserAgent, r.Accept)
			}
			if tt.wantBody == "" {
				if len(r.Body) != 0 || r.ContentType != "" {
					t.Errorf("body %q (%s), want none", r.Body, r.ContentType)
				}
				return
			}
			if r.ContentType != "application/json" {
				t.Errorf("Content-Type = %q", r.ContentType)
			}
			sameJSON(t, r.Body, tt.wantBody)
		})
	}
}

func TestRequestIDsOutsideTheContractNeverReachAURL(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"../../account", "a/b", "a?b=c", "a#b", "%2e%2e", "", "a b", "ü", "abcdef0123456789abcdef0123456789abcdef"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			c := newClient(t, fake)
			c.Start(t.Context(), testNumber) // so that the log check at the end has an exchange
			_, err := c.Check(t.Context(), id, testCode)
			ve := wantVerifyError(t, err, verify.KindNotFound)
			wantVerifyError(t, c.Cancel(t.Context(), id), verify.KindNotFound)
			if ve.Status != "6" {
				t.Errorf("status = %q, want 6", ve.Status)
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("upstream got %d requests, want only the start", n)
			}
		})
	}
}

func TestNoAnswerWithinOurTimeoutIsAnUpstreamTimeout(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Hang(v2test.RouteCheck)
	c := newClient(t, fake, func(o *verifyv2.Options) { o.Timeout = 50 * time.Millisecond })
	err := check.do(t.Context(), c)
	wantVerifyError(t, err, verify.KindUpstreamTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to wrap context.DeadlineExceeded", err)
	}
}

func TestACallerThatHangsUpGetsItsOwnCancellationNotAnUpstreamFailure(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	arrived := fake.Hang(v2test.RouteStart)
	c := newClient(t, fake)
	ctx, cancelCall := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancelCall()
	}()
	err := start.do(ctx, c)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want it to wrap context.Canceled", err)
	}
	if ve, ok := verify.AsError(err); ok {
		t.Errorf("error is a *verify.Error of kind %s; the caller's cancellation is not an upstream failure", ve.Kind)
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*verifyv2.Options)
	}{
		{"empty base url", func(o *verifyv2.Options) { o.BaseURL = "" }},
		{"no credentials", func(o *verifyv2.Options) { o.Auth = nil }},
		{"empty brand", func(o *verifyv2.Options) { o.Brand = "" }},
		{"no channel", func(o *verifyv2.Options) { o.Workflow = nil }},
		{"a base url with credentials", func(o *verifyv2.Options) { o.BaseURL = "https://key:secret@api.nexmo.com" }},
		{"negative timeout", func(o *verifyv2.Options) { o.Timeout = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			t.Parallel()
			opts := validOptions(t)
			tt.change(&opts)
			if c, err := verifyv2.New(opts, nil, nil); err == nil {
				t.Fatalf("New = %v, want an error", c)
			}
		})
	}
}

func TestNewAcceptsValidOptions(t *testing.T) {
	t.Parallel()
	if _, err := verifyv2.New(validOptions(t), http.DefaultClient, nil); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

// validOptions are options New accepts, for a client that is never called.
func validOptions(t *testing.T) verifyv2.Options {
	t.Helper()
	return verifyv2.Options{
		Endpoint: transport.Endpoint{BaseURL: "https://api.nexmo.com"}, Auth: basicAuth(t), Brand: "Acme",
		Workflow: []verifyv2.Channel{{Name: verifyv2.ChannelSMS}},
	}
}
