package state_test

import (
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

func TestParseLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    state.Limit
		written string
		bad     bool
		why     string // in the error of a bad one
	}{
		{in: "30/1m", want: state.Limit{Count: 30, Window: time.Minute}, written: "30/1m"},
		{in: "3/10m", want: state.Limit{Count: 3, Window: 10 * time.Minute}, written: "3/10m"},
		{in: "1000/24h", want: state.Limit{Count: 1000, Window: 24 * time.Hour}, written: "1000/24h"},
		{in: " 5 / 90s ", want: state.Limit{Count: 5, Window: 90 * time.Second}, written: "5/1m30s"},
		{in: "2/1h30m", want: state.Limit{Count: 2, Window: 90 * time.Minute}, written: "2/1h30m"},
		{in: "off", written: "off"},
		{in: "OFF", written: "off"},
		{in: "", bad: true},
		{in: "30", bad: true},
		{in: "0/1m", bad: true},
		{in: "-1/1m", bad: true},
		{in: "100001/1m", bad: true},
		{in: "x/1m", bad: true},
		{in: "5/minute", bad: true},
		{in: "5/500ms", bad: true, why: "at least 1s"},
		{in: "5/1d", bad: true, why: "a day is 24h"},
		{in: "5/-1m", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := state.ParseLimit(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted %q as %+v", tt.in, got)
				}
				if !strings.Contains(err.Error(), tt.why) {
					t.Errorf("error %q does not say %q", err, tt.why)
				}
				return
			}
			if err != nil || got != tt.want || got.String() != tt.written {
				t.Fatalf("got %+v (%s) %v, want %+v (%s)", got, got, err, tt.want, tt.written)
			}
		})
	}
}
