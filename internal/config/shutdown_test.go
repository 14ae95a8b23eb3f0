package config_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// TestShutdownMustOutlastACallToVonage: with the Vonage backend, a drain no longer than one call to
// Vonage could cut a start off after the SMS went out, and the app's retry would pay for another;
// start-up refuses it and says which values, and why. The sandbox calls nobody, so there it stands.
func TestShutdownMustOutlastACallToVonage(t *testing.T) {
	t.Parallel()
	sandbox := map[string]string{"VERIFY_BACKEND": "sandbox"}
	v2 := vonageEnv(map[string]string{"VONAGE_VERIFY_API": "v2"})
	tests := []struct {
		name string
		base map[string]string
		set  map[string]string
		want []string // nil: accepted
	}{
		{"the defaults (15s after 10s)", vonageEnv(nil), nil, nil},
		{"a drain one step longer than the call", vonageEnv(nil), map[string]string{"SHUTDOWN_TIMEOUT": "10001ms"}, nil},
		{"a drain as long as the call", vonageEnv(nil), map[string]string{"SHUTDOWN_TIMEOUT": "10s"},
			[]string{"SHUTDOWN_TIMEOUT (10s) must be longer than UPSTREAM_TIMEOUT (10s)", "SMS", "retry"}},
		{"a drain shorter than the default call", vonageEnv(nil), map[string]string{"SHUTDOWN_TIMEOUT": "5s"},
			[]string{"SHUTDOWN_TIMEOUT (5s)", "UPSTREAM_TIMEOUT (10s)"}},
		{"a longer call than the default drain", vonageEnv(nil), map[string]string{"UPSTREAM_TIMEOUT": "20s"},
			[]string{"SHUTDOWN_TIMEOUT (15s)", "UPSTREAM_TIMEOUT (20s)"}},
		{"a longer call with a drain to match", vonageEnv(nil), map[string]string{"UPSTREAM_TIMEOUT": "1m", "SHUTDOWN_TIMEOUT": "90s"}, nil},
		{"the same rule on Verify v2", v2, map[string]string{"UPSTREAM_TIMEOUT": "30s"},
			[]string{"SHUTDOWN_TIMEOUT (15s)", "UPSTREAM_TIMEOUT (30s)"}},
		{"v2 with a silent_auth fallback, at the defaults", v2, map[string]string{"VERIFY_WORKFLOW": "silent_auth,sms"}, nil},
		{"the sandbox calls nobody", sandbox, map[string]string{"SHUTDOWN_TIMEOUT": "50ms"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := maps.Clone(tt.base)
			maps.Copy(env, tt.set)
			if tt.want == nil {
				if _, err := config.Load(envOf(env)); err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			assertRefused(t, env, tt.want)
		})
	}

	// A drain out of its own bounds is refused for those alone, not twice.
	_, err := config.Load(envOf(vonageEnv(map[string]string{"SHUTDOWN_TIMEOUT": "0s"})))
	if err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT must be more than 0") || strings.Contains(err.Error(), "UPSTREAM_TIMEOUT") {
		t.Errorf("SHUTDOWN_TIMEOUT=0s: %v, want only its own bounds", err)
	}
}
