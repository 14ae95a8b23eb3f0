package main

import (
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/phone"
)

// TestStartsGoToDistinctValidNumbers: a /request round must measure starts, not refusals of
// invalid numbers or concurrent verifications to one number.
func TestStartsGoToDistinctValidNumbers(t *testing.T) {
	t.Parallel()
	parser, err := phone.NewParser("")
	if err != nil {
		t.Fatal(err)
	}
	usNumber := usNumbers()
	seen := map[string]bool{}
	for _, n := range []uint64{0, 1, 9_999, 10_000, 1_109_999, 3_550_000, 7_999_999, 8_000_000, 123_456_789} {
		number := usNumber(n)
		if _, err := parser.Parse(number); err != nil {
			t.Errorf("usNumber(%d) = %s, which is not a valid number: %v", n, number, err)
		}
		seen[number] = true
	}
	for n := range uint64(200_000) {
		seen[usNumber(n)] = true
	}
	if len(seen) < 200_000 {
		t.Errorf("200,000 starts went to %d numbers, want as many", len(seen))
	}
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, tt.q); got != tt.want {
			t.Errorf("percentile(1..100 ms, %v) = %s, want %s", tt.q, got, tt.want)
		}
	}
	if got := percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("one sample: %s", got)
	}
}
