package sandbox

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
)

func TestMemoryIsReclaimed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		end  func(t *testing.T, h *harness, id string)
	}{
		{"verified request is removed at once", func(t *testing.T, h *harness, id string) {
			if _, err := h.p.Check(ctx, id, h.codeFor(t, id)); err != nil {
				t.Fatal(err)
			}
		}},
		{"cancelled request is removed at once", func(t *testing.T, h *harness, id string) {
			if err := h.p.Cancel(ctx, id); err != nil {
				t.Fatal(err)
			}
		}},
		{"failed request is removed at once", func(t *testing.T, h *harness, id string) {
			for range verify.MaxWrongCodes {
				_, _ = h.p.Check(ctx, id, wrongCode(h.codeFor(t, id)))
			}
		}},
		{"forgotten request is removed when looked up", func(t *testing.T, h *harness, id string) {
			h.clock.Advance(2 * testPinExpiry)
			_, _ = h.p.Check(ctx, id, "0000")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			tt.end(t, h, h.start(t, testNumber))
			if n := h.size(); n != 0 {
				t.Fatalf("%d requests kept, want 0", n)
			}
		})
	}

	t.Run("start sweeps forgotten requests", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{})
		for i := range 100 {
			h.start(t, fmt.Sprintf("4477009%05d", i))
		}
		h.clock.Advance(2 * testPinExpiry)
		h.start(t, testNumber)
		if n := h.size(); n != 1 {
			t.Fatalf("%d requests kept, want only the new one", n)
		}
	})
	t.Run("start keeps expired requests until they are forgotten", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{})
		h.start(t, "447700900000")
		h.clock.Advance(testPinExpiry)
		h.start(t, testNumber)
		if n := h.size(); n != 2 {
			t.Fatalf("%d requests kept, want the expired one and the new one", n)
		}
	})
}

func TestRequestLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, Options{})
	h.p.maxRequests = 2

	oldest := h.start(t, "447700900001")
	h.clock.Advance(time.Minute)
	h.start(t, "447700900002")

	_, err := h.p.Start(ctx, testNumber)
	e := wantError(t, err, verify.KindThrottled, "1", "")
	if e.RetryAfter != 4*time.Minute {
		t.Fatalf("RetryAfter = %s, want the 4m until the oldest request expires", e.RetryAfter)
	}

	h.clock.Advance(4 * time.Minute)
	h.start(t, testNumber) // the oldest has expired and makes room
	if n := h.size(); n != 2 {
		t.Fatalf("%d requests kept, want 2", n)
	}
	_, err = h.p.Check(ctx, oldest, h.codeFor(t, oldest))
	wantError(t, err, verify.KindNotFound, "6", oldest)
}
