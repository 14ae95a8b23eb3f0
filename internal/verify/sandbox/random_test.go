package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"testing"
)

func TestCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		codeLength int
		want       int
	}{
		{"default code has 4 digits", 0, 4},
		{"code length 4 gives 4 digits", 4, 4},
		{"code length 6 gives 6 digits", 6, 6},
		{"code length 10 gives 10 digits", 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{CodeLength: tt.codeLength})
			seen := map[string]bool{}
			for i := range 50 {
				code := h.codeFor(t, h.start(t, fmt.Sprintf("4477009%05d", i)))
				if len(code) != tt.want || !isDigits(code) {
					t.Fatalf("code %q, want %d digits", code, tt.want)
				}
				seen[code] = true
			}
			if len(seen) < 2 { // 50 equal random codes would be a broken draw, not chance
				t.Fatalf("50 codes were all %v", seen)
			}
		})
	}
}

func TestCodeDraws(t *testing.T) {
	t.Parallel()
	id := make([]byte, 16) // Start draws the request_id first, then the code
	tests := []struct {
		name       string
		codeLength int
		rand       io.Reader
		want       string
	}{
		{"zero draw keeps its leading zeros", 4, zeroReader{}, "0000"},
		{"zero draw keeps all ten digits", 10, zeroReader{}, "0000000000"},
		{
			// 0x3fff = 16383 is beyond 9999; folding it with a modulo would give 6383 and favour low codes.
			"draw beyond the range is drawn again, not folded", 4,
			io.MultiReader(bytes.NewReader(id), bytes.NewReader([]byte{0x3f, 0xff, 0x00, 0x07})), "0007",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{CodeLength: tt.codeLength, Rand: tt.rand})
			if code := h.codeFor(t, h.start(t, testNumber)); code != tt.want {
				t.Fatalf("code %q, want %q", code, tt.want)
			}
		})
	}
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want *regexp.Regexp
	}{
		{"v1's 32 lowercase hex digits by default", Options{}, requestIDPattern},
		{"v2's UUIDs when asked", Options{V2: true}, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.opts)
			seen := map[string]bool{}
			for i := range 1000 {
				id := h.start(t, fmt.Sprintf("4477009%05d", i))
				if !tt.want.MatchString(id) {
					t.Fatalf("request_id %q does not match %s", id, tt.want)
				}
				if seen[id] {
					t.Fatalf("request_id %s drawn twice", id)
				}
				seen[id] = true
			}
			// The id checks and cancels as it was given.
			id := h.start(t, "447700912345")
			if err := h.p.Cancel(context.Background(), id); err != nil {
				t.Fatalf("cancel %s: %v", id, err)
			}
		})
	}
}

func TestRandFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("broken rand fails the start and keeps nothing", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{Rand: brokenReader{}})
		if _, err := h.p.Start(ctx, testNumber); !errors.Is(err, errBrokenRand) {
			t.Fatalf("error = %v, want the rand's error", err)
		}
		if h.size() != 0 || h.log.Len() != 0 {
			t.Fatal("a failed Start kept a request or logged a code")
		}
	})
	t.Run("repeated request_id is refused rather than overwriting a request", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{Rand: zeroReader{}})
		first := h.start(t, testNumber)
		if _, err := h.p.Start(ctx, "447700900000"); err == nil {
			t.Fatal("second Start with the same request_id succeeded")
		}
		if _, err := h.p.Check(ctx, first, h.codeFor(t, first)); err != nil {
			t.Fatalf("first request was damaged: %v", err)
		}
	})
	t.Run("failed event id draw keeps the request live", func(t *testing.T) {
		t.Parallel()
		// Enough zeros for one Start (16-byte id, 2-byte code), then nothing.
		h := newHarness(t, Options{Rand: io.MultiReader(bytes.NewReader(make([]byte, 18)), brokenReader{})})
		id := h.start(t, testNumber)
		if _, err := h.p.Check(ctx, id, "0000"); !errors.Is(err, errBrokenRand) {
			t.Fatalf("error = %v, want the rand's error", err)
		}
		if err := h.p.Cancel(ctx, id); err != nil {
			t.Fatalf("request did not stay live: %v", err)
		}
	})
}
