package sandbox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
)

var (
	requestIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	eventIDPattern   = regexp.MustCompile(`^[0-9A-F]{16}$`)
)

func TestFullFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, Options{})

	id := h.start(t, testNumber)
	checked, err := h.p.Check(ctx, id, h.codeFor(t, id))
	if err != nil {
		t.Fatalf("Check with the logged code: %v", err)
	}
	if checked.RequestID != id || !eventIDPattern.MatchString(checked.EventID) ||
		checked.Price != "0.00000000" || checked.Currency != "EUR" || checked.EstimatedPriceMessagesSent != "" {
		t.Fatalf("Checked = %+v", checked)
	}

	_, err = h.p.Check(ctx, id, h.codeFor(t, id))
	wantError(t, err, verify.KindNotFound, "6", id)
	wantError(t, h.p.Cancel(ctx, id), verify.KindNotFound, "6", id)
}

// TestFlowAsVerifyV2: standing in for v2, the sandbox answers what the v2 backend answers: a check
// with no event or price, and an expired code as status 17.
func TestFlowAsVerifyV2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, Options{V2: true, PinExpiry: time.Minute})

	id := h.start(t, testNumber)
	checked, err := h.p.Check(ctx, id, h.codeFor(t, id))
	if err != nil || checked != (verify.Checked{RequestID: id}) {
		t.Fatalf("Check with the logged code = %+v, %v; want the request_id alone", checked, err)
	}
	id = h.start(t, testNumber)
	h.clock.Advance(61 * time.Second)
	_, err = h.p.Check(ctx, id, h.codeFor(t, id))
	wantError(t, err, verify.KindExpired, "17", id)
}

// action is one call made on a started request in TestRequestLifecycle.
type action int

const (
	checkRight action = iota
	checkWrong
	cancel
	wait
)

type step struct {
	do     action
	wait   time.Duration // for wait
	kind   verify.Kind   // the wanted error kind; "" wants success
	status string
}

func TestRequestLifecycle(t *testing.T) {
	t.Parallel()
	const expiry = 5 * time.Minute
	mismatch := step{do: checkWrong, kind: verify.KindCodeMismatch, status: "16"}
	gone := step{do: checkRight, kind: verify.KindNotFound, status: "6"}

	tests := []struct {
		name  string
		steps []step
	}{
		{"right code verifies", []step{{do: checkRight}}},
		{"wrong code answers 16 and keeps the request", []step{mismatch, {do: checkRight}}},
		{"right code after two wrong codes still verifies", []step{mismatch, mismatch, {do: checkRight}}},
		{"third wrong code answers 17 and ends the verification", []step{
			mismatch, mismatch,
			{do: checkWrong, kind: verify.KindTooManyAttempts, status: "17"},
			gone,
			{do: cancel, kind: verify.KindNotFound, status: "6"},
		}},
		{"verified request cannot be checked or cancelled again", []step{
			{do: checkRight}, gone, {do: cancel, kind: verify.KindNotFound, status: "6"},
		}},
		{"cancel ends a live request at once", []step{{do: cancel}, gone}},
		{"cancelled request cannot be cancelled again", []step{
			{do: cancel}, {do: cancel, kind: verify.KindNotFound, status: "6"},
		}},
		{"right code just before expiry verifies", []step{{do: wait, wait: expiry - time.Nanosecond}, {do: checkRight}}},
		{"right code at expiry answers expired", []step{
			{do: wait, wait: expiry},
			{do: checkRight, kind: verify.KindExpired, status: "6"},
			{do: checkRight, kind: verify.KindExpired, status: "6"},
		}},
		{"expired request cannot be cancelled", []step{
			{do: wait, wait: expiry}, {do: cancel, kind: verify.KindNotFound, status: "6"},
		}},
		{"expired request is forgotten after one more pin expiry", []step{
			{do: wait, wait: 2 * expiry}, gone,
		}},
		{"wrong codes do not extend the expiry", []step{
			mismatch, {do: wait, wait: expiry}, {do: checkRight, kind: verify.KindExpired, status: "6"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarness(t, Options{PinExpiry: expiry})
			id := h.start(t, testNumber)
			code := h.codeFor(t, id)

			for i, s := range tt.steps {
				var err error
				switch s.do {
				case checkRight:
					_, err = h.p.Check(ctx, id, code)
				case checkWrong:
					_, err = h.p.Check(ctx, id, wrongCode(code))
				case cancel:
					err = h.p.Cancel(ctx, id)
				case wait:
					h.clock.Advance(s.wait)
					continue
				}
				if s.kind == "" {
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					continue
				}
				wantError(t, err, s.kind, s.status, id)
			}
		})
	}
}

func TestUnknownRequest(t *testing.T) {
	t.Parallel()
	const unknown = "0123456789abcdef0123456789abcdef"
	ctx := context.Background()
	h := newHarness(t, Options{})
	h.start(t, testNumber)

	t.Run("check of an unknown request answers not found", func(t *testing.T) {
		t.Parallel()
		_, err := h.p.Check(ctx, unknown, "1234")
		wantError(t, err, verify.KindNotFound, "6", unknown)
	})
	t.Run("cancel of an unknown request answers not found", func(t *testing.T) {
		t.Parallel()
		wantError(t, h.p.Cancel(ctx, unknown), verify.KindNotFound, "6", unknown)
	})
}

func TestStartAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name       string
		before     func(t *testing.T, h *harness, id string)
		number     string
		concurrent bool // whether the second Start must answer 10
	}{
		{"live request refuses a second one with 10 and its request_id", func(*testing.T, *harness, string) {}, testNumber, true},
		{"wrong code keeps the number busy", func(t *testing.T, h *harness, id string) {
			_, _ = h.p.Check(ctx, id, wrongCode(h.codeFor(t, id)))
		}, testNumber, true},
		{"live request does not block another number", func(*testing.T, *harness, string) {}, "447700900000", false},
		{"verified request allows a new one", func(t *testing.T, h *harness, id string) {
			if _, err := h.p.Check(ctx, id, h.codeFor(t, id)); err != nil {
				t.Fatal(err)
			}
		}, testNumber, false},
		{"cancelled request allows a new one", func(t *testing.T, h *harness, id string) {
			if err := h.p.Cancel(ctx, id); err != nil {
				t.Fatal(err)
			}
		}, testNumber, false},
		{"expired request allows a new one", func(_ *testing.T, h *harness, _ string) {
			h.clock.Advance(5 * time.Minute)
		}, testNumber, false},
		{"failed request allows a new one", func(t *testing.T, h *harness, id string) {
			for range verify.MaxWrongCodes {
				_, _ = h.p.Check(ctx, id, wrongCode(h.codeFor(t, id)))
			}
		}, testNumber, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			first := h.start(t, testNumber)
			tt.before(t, h, first)

			second, err := h.p.Start(ctx, tt.number)
			if tt.concurrent {
				wantError(t, err, verify.KindConcurrentVerification, "10", first)
				return
			}
			if err != nil {
				t.Fatalf("second Start: %v", err)
			}
			if second.RequestID == first {
				t.Fatalf("second Start reused request_id %s", first)
			}
		})
	}
}

func TestNewRequestReplacesExpiredOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, Options{})
	first := h.start(t, testNumber)
	h.clock.Advance(5 * time.Minute)
	second := h.start(t, testNumber)

	_, err := h.p.Check(ctx, first, h.codeFor(t, first))
	wantError(t, err, verify.KindNotFound, "6", first)
	if _, err := h.p.Check(ctx, second, h.codeFor(t, second)); err != nil {
		t.Fatalf("Check of the new request: %v", err)
	}
}

func TestConcurrentStartsForOneNumber(t *testing.T) {
	t.Parallel()
	const callers = 50
	h := newHarness(t, Options{})

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		errs    []error
	)
	for range callers {
		wg.Go(func() {
			started, err := h.p.Start(context.Background(), testNumber)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			winners = append(winners, started.RequestID)
		})
	}
	wg.Wait()

	if len(winners) != 1 {
		t.Fatalf("%d Starts succeeded, want exactly 1", len(winners))
	}
	for _, err := range errs {
		wantError(t, err, verify.KindConcurrentVerification, "10", winners[0])
	}
}

func TestConcurrentUseAcrossNumbers(t *testing.T) {
	t.Parallel()
	// Run with -race: every operation at once, on numbers of their own.
	h := newHarness(t, Options{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ctx := context.Background()
			number := fmt.Sprintf("44770090%04d", i)
			started, err := h.p.Start(ctx, number)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = h.p.Check(ctx, started.RequestID, "not the code")
			_ = h.p.Cancel(ctx, started.RequestID)
		})
	}
	wg.Wait()
	if n := h.size(); n != 0 {
		t.Fatalf("%d requests left after all were cancelled", n)
	}
}

func TestDoneContext(t *testing.T) {
	t.Parallel()
	ctx, cancelCtx := context.WithCancel(context.Background())
	cancelCtx()
	h := newHarness(t, Options{})
	id := h.start(t, testNumber)
	code := h.codeFor(t, id)

	tests := []struct {
		name string
		call func() error
	}{
		{"start", func() error { _, err := h.p.Start(ctx, "447700900000"); return err }},
		{"check", func() error { _, err := h.p.Check(ctx, id, wrongCode(code)); return err }},
		{"cancel", func() error { return h.p.Cancel(ctx, id) }},
	}
	for _, tt := range tests { // in turn, not in parallel: the checks below count on their having run
		t.Run(tt.name+" with a done context returns its error and changes nothing", func(t *testing.T) {
			for range verify.MaxWrongCodes { // more than enough wrong codes to end the request, were they counted
				if err := tt.call(); !errors.Is(err, context.Canceled) {
					t.Fatalf("error = %v, want context.Canceled", err)
				}
			}
		})
	}
	if n := h.size(); n != 1 {
		t.Fatalf("%d requests, want only the one started before", n)
	}
	if _, err := h.p.Check(context.Background(), id, code); err != nil {
		t.Fatalf("Check after the refused calls: %v", err)
	}
}

func TestInvalidNumber(t *testing.T) {
	t.Parallel()
	for _, number := range []string{"", "+14155550100", "1 415 555 0100"} {
		t.Run("start refuses "+strconv.Quote(number), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			_, err := h.p.Start(context.Background(), number)
			wantError(t, err, verify.KindInvalidParameter, "3", "")
			if h.log.Len() != 0 || h.size() != 0 {
				t.Fatalf("a refused Start logged %q or kept a request", h.log.String())
			}
		})
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"a pin expiry alone is enough", Options{PinExpiry: time.Minute}, false},
		{"no pin expiry is refused", Options{}, true},
		{"code length 4 is allowed", Options{CodeLength: 4, PinExpiry: time.Minute}, false},
		{"code length 10 is allowed", Options{CodeLength: 10, PinExpiry: time.Minute}, false},
		{"code length 3 is refused", Options{CodeLength: 3, PinExpiry: time.Minute}, true},
		{"code length 11 is refused", Options{CodeLength: 11, PinExpiry: time.Minute}, true},
		{"negative code length is refused", Options{CodeLength: -4, PinExpiry: time.Minute}, true},
		{"negative pin expiry is refused", Options{PinExpiry: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.opts.Validate(); (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error: %t", err, tt.wantErr)
			}
		})
	}

	t.Run("new panics on invalid options", func(t *testing.T) {
		t.Parallel()
		defer func() {
			if recover() == nil {
				t.Fatal("New did not panic")
			}
		}()
		New(Options{CodeLength: 3, PinExpiry: time.Minute}, nil)
	})
	t.Run("new without a logger still works", func(t *testing.T) {
		t.Parallel()
		if _, err := New(Options{PinExpiry: time.Minute}, nil).Start(context.Background(), testNumber); err != nil {
			t.Fatal(err)
		}
	})
}
