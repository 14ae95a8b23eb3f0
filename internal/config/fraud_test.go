package config_test

import (
	"maps"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// TestFraudWindowLeavesStartsOldEnoughToCount: an unverified start counts as a failure only once it
// is FRAUD_SETTLE_AFTER old (the code's lifetime by default), and only while it is within
// FRAUD_WINDOW. A window that does not reach well past the settle time never sees a failure, so the
// guard would never pause pumping: start-up refuses it, and the default window grows with a long
// code lifetime instead of going blind.
func TestFraudWindowLeavesStartsOldEnoughToCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		set    map[string]string
		window time.Duration // the window used, when accepted
		want   []string      // nil: accepted
	}{
		{"the defaults: an hour, codes live 5m", nil, time.Hour, nil},
		{"a v1 code that lives an hour widens the default", map[string]string{"VERIFY_PIN_EXPIRY": "3600", "VERIFY_NEXT_EVENT_WAIT": "900"}, 115 * time.Minute, nil},
		{"a long settle time widens the default", map[string]string{"FRAUD_SETTLE_AFTER": "2h"}, 175 * time.Minute, nil},
		{"a short window with a short settle time", map[string]string{"FRAUD_WINDOW": "11m", "FRAUD_SETTLE_AFTER": "1m"}, 11 * time.Minute, nil},
		{"a window just long enough", map[string]string{"FRAUD_WINDOW": "15m"}, 15 * time.Minute, nil},
		{"a window shorter than the code's lifetime", map[string]string{"FRAUD_WINDOW": "5m"}, 0,
			[]string{"FRAUD_WINDOW (5m0s) must be at least 15m0s", "the code's lifetime", "(5m0s)", "unset it for 1h0m0s"}},
		{"a window barely past the settle time", map[string]string{"FRAUD_WINDOW": "1m", "FRAUD_SETTLE_AFTER": "1s"}, 0,
			[]string{"FRAUD_WINDOW (1m0s) must be at least 10m1s", "FRAUD_SETTLE_AFTER (1s)"}},
		{"an explicit window under a v1 code's hour", map[string]string{"FRAUD_WINDOW": "1h", "VERIFY_PIN_EXPIRY": "3600", "VERIFY_NEXT_EVENT_WAIT": "900"}, 0,
			[]string{"FRAUD_WINDOW (1h0m0s) must be at least 1h10m0s", "unset it for 1h55m0s"}},
		{"the guard off learns nothing, so any window stands", map[string]string{"FRAUD_GUARD": "off", "FRAUD_WINDOW": "1m"}, time.Minute, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := vonageEnv(nil)
			maps.Copy(env, tt.set)
			if tt.want != nil {
				assertRefused(t, env, tt.want)
				return
			}
			cfg, err := config.Load(envOf(env))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got := cfg.FraudOptions(nil).Window; got != tt.window {
				t.Errorf("the guard's window = %s, want %s", got, tt.window)
			}
		})
	}
}
