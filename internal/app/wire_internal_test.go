package app

import (
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

func TestSandboxCodesLiveAsLongAsTheWorkflow(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Config
		want time.Duration
	}{
		{"v1 uses VERIFY_PIN_EXPIRY", config.Config{VerifyAPI: config.APIv1, PinExpiry: config.Seconds(10 * time.Minute)}, 10 * time.Minute},
		{"v1 without it leaves the sandbox default", config.Config{VerifyAPI: config.APIv1}, 0},
		{"v2 waits Vonage's 180 s per channel", config.Config{VerifyAPI: config.APIv2, Workflow: []string{"sms", "voice"}}, 6 * time.Minute},
		{"v2 waits the configured channel timeout per channel", config.Config{VerifyAPI: config.APIv2, Workflow: []string{"sms"},
			ChannelTimeout: config.Seconds(time.Minute)}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sandboxPinExpiry(tt.cfg); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
