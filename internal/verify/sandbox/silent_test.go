package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
)

func TestSilentAuthAsVerifyV2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const redirect = "https://app.example.com/verified"
	h := newHarness(t, Options{V2: true, PinExpiry: 2 * time.Minute, CheckPath: "/sandbox/silent-auth/", RedirectURL: redirect, SilentFor: time.Minute})

	started, err := h.p.Start(ctx, testNumber)
	if err != nil || started.CheckURL != "/sandbox/silent-auth/"+started.RequestID {
		t.Fatalf("Start = %+v, %v; want a check_url for its request", started, err)
	}
	done, err := h.p.CompleteSilentAuth(ctx, started.RequestID)
	want := verify.SilentAuth{RequestID: started.RequestID, Code: h.codeFor(t, started.RequestID), RedirectURL: redirect}
	if err != nil || done != want {
		t.Fatalf("CompleteSilentAuth = %+v, %v; want %+v", done, err, want)
	}
	if _, err := h.p.Check(ctx, started.RequestID, done.Code); err != nil {
		t.Fatalf("Check with the silent code: %v", err)
	}
	_, err = h.p.CompleteSilentAuth(ctx, started.RequestID)
	wantError(t, err, verify.KindNotFound, verify.StatusNotFound, started.RequestID)

	// After the silent step (Vonage's 60 s) the check_url no longer works, but the code does.
	moved := h.start(t, testNumber)
	h.clock.Advance(61 * time.Second)
	_, err = h.p.CompleteSilentAuth(ctx, moved)
	wantError(t, err, verify.KindRejected, "", moved)
	if _, err := h.p.Check(ctx, moved, h.codeFor(t, moved)); err != nil {
		t.Fatalf("the code after the silent step: %v", err)
	}
	expiring := h.start(t, testNumber)
	h.clock.Advance(121 * time.Second)
	_, err = h.p.CompleteSilentAuth(ctx, expiring)
	wantError(t, err, verify.KindExpired, verify.StatusTooManyAttempts, expiring)
}

func TestNoSilentAuthWithoutACheckPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{V2: true})
	started, err := h.p.Start(context.Background(), testNumber)
	if err != nil || started.CheckURL != "" {
		t.Fatalf("Start = %+v, %v; want no check_url", started, err)
	}
	_, err = h.p.CompleteSilentAuth(context.Background(), started.RequestID)
	wantError(t, err, verify.KindNotFound, verify.StatusNotFound, started.RequestID)

	for _, opts := range []Options{
		{CheckPath: "/x/", PinExpiry: time.Minute, SilentFor: time.Minute},
		{V2: true, CheckPath: "x/", PinExpiry: time.Minute, SilentFor: time.Minute},
		{V2: true, CheckPath: "/x/", PinExpiry: time.Minute},
	} {
		if opts.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want a check path only with V2 and SilentFor, and only a path", opts)
		}
	}
}

func TestV1CodesLongerThanSixAreInvalidInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.start(t, testNumber)
	_, err := h.p.Check(context.Background(), id, "1234567")
	wantError(t, err, verify.KindInvalidRequest, "", "")
	if _, err := h.p.Check(context.Background(), id, h.codeFor(t, id)); err != nil {
		t.Fatalf("the verification must be untouched: %v", err)
	}
	v2 := newHarness(t, Options{V2: true, CodeLength: 10})
	id = v2.start(t, testNumber)
	if _, err := v2.p.Check(context.Background(), id, v2.codeFor(t, id)); err != nil {
		t.Fatalf("v2 takes codes of 10: %v", err)
	}
}
