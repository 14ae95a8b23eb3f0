package config_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// TestVariablesListsEverythingLoadReads: the list that the configuration reference is made from is
// exactly what Load asks the environment for, names and fallbacks alike.
func TestVariablesListsEverythingLoadReads(t *testing.T) {
	t.Parallel()
	asked := map[string]bool{}
	_, _ = config.Load(func(key string) (string, bool) {
		asked[key] = true
		return "", false
	})
	listed := map[string]bool{}
	for _, v := range config.Variables() {
		if listed[v.Name] {
			t.Errorf("%s is listed twice", v.Name)
		}
		listed[v.Name] = true
		if v.Fallback != "" {
			listed[v.Fallback] = true
		}
		if v.Section == "" {
			t.Errorf("%s has no section", v.Name)
		}
	}
	if got, want := slices.Sorted(maps.Keys(listed)), slices.Sorted(maps.Keys(asked)); !slices.Equal(got, want) {
		t.Errorf("Variables lists %v\nLoad reads     %v", got, want)
	}
	for _, old := range []string{"API_KEY", "API_SECRET"} {
		if !listed[old] {
			t.Errorf("the original proxy's %s is not listed", old)
		}
	}
}

// TestDefaultsAreListed: Variables carries each default as the tag writes it, so the reference shows
// what an unconfigured server does.
func TestDefaultsAreListed(t *testing.T) {
	t.Parallel()
	want := map[string]string{"PORT": "8080", "RATE_LIMIT_NUMBER": "3/10m", "VONAGE_BASE_URL": "https://api.nexmo.com", "LISTEN_HOST": ""}
	for _, v := range config.Variables() {
		if d, ok := want[v.Name]; ok && v.Default != d {
			t.Errorf("%s default %q, want %q", v.Name, v.Default, d)
		}
	}
}

// TestSetButEmptyOrZeroIsRefusedWhereItWouldHideAMistake: for each variable marked so, a value set
// to "" (or "0") is refused and named, rather than read as "use the default".
func TestSetButEmptyOrZeroIsRefusedWhereItWouldHideAMistake(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, value, want string }{
		{"PORT", "", "PORT is set but empty"},
		{"VERIFY_BACKEND", "", "VERIFY_BACKEND is set but empty"},
		{"VONAGE_API_KEY", "", "VONAGE_API_KEY is set but empty"},
		{"API_SECRET", "", "API_SECRET is set but empty"}, // the fallback's own name
		{"SHUTDOWN_TIMEOUT", "", "SHUTDOWN_TIMEOUT is set but empty"},
		{"VERIFY_CODE_LENGTH", "00", "VERIFY_CODE_LENGTH is 0"},
		{"VERIFY_NEXT_EVENT_WAIT", "0s", "VERIFY_NEXT_EVENT_WAIT is 0"},
	} {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(envOf(map[string]string{"VERIFY_BACKEND": "sandbox", tt.name: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	// Where empty means "none", it is accepted.
	if _, err := config.Load(envOf(map[string]string{"VERIFY_BACKEND": "sandbox", "TRUSTED_PROXIES": "", "VERIFY_LOCALE": ""})); err != nil {
		t.Errorf("an empty list or optional value was refused: %v", err)
	}
}
