package config_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/logging"
	"github.com/verify-proxy/verify-proxy/internal/phone"
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

// TestEveryVariableSaysWhatItMeans: the configuration reference and .env.example are made from the
// tags, so a variable without its one-line meaning or its allowed values would be a hole in both,
// and a secret with a default would be one every installation shares.
func TestEveryVariableSaysWhatItMeans(t *testing.T) {
	t.Parallel()
	for _, s := range config.Sections() {
		if s.Doc == "" {
			t.Errorf("section %s has no doc tag on Config's field: say what it is for", s.Name)
		}
		if len(s.Variables) == 0 {
			t.Errorf("section %s has no variables", s.Name)
		}
		for _, v := range s.Variables {
			if strings.TrimSpace(v.Doc) == "" {
				t.Errorf("%s has no doc tag: give it a one-line meaning", v.Name)
			}
			if strings.TrimSpace(v.Values) == "" {
				t.Errorf("%s has no values tag: say what it may be set to", v.Name)
			}
			if strings.ContainsAny(v.Doc+v.Values, "\n|`") {
				t.Errorf("%s: doc and values are one line of plain text (no newline, | or backquote)", v.Name)
			}
			if !strings.HasSuffix(v.Doc, ".") {
				t.Errorf("%s: doc %q is a sentence; end it with a full stop", v.Name, v.Doc)
			}
			if v.Secret && v.Default != "" {
				t.Errorf("%s is secret and has a default", v.Name)
			}
		}
	}
	secret := map[string]bool{}
	for _, v := range config.Variables() {
		secret[v.Name] = v.Secret
	}
	for _, name := range []string{"VONAGE_API_SECRET", "VONAGE_PRIVATE_KEY", "VERIFICATION_TOKEN_KEY", "REDIS_URL"} {
		if !secret[name] {
			t.Errorf("%s holds a secret (a key or a password) but is not marked secret", name)
		}
	}
}

// TestListedValuesAreTheOnesAccepted: where the allowed values are a list the code also keeps, the
// reference lists exactly the code's, in its order (the default first).
func TestListedValuesAreTheOnesAccepted(t *testing.T) {
	t.Parallel()
	strs := func(list ...[]string) string {
		var out []string
		for _, l := range list {
			out = append(out, l...)
		}
		return strings.Join(out, ", ")
	}
	want := map[string]string{
		"VERIFY_BACKEND":        strs([]string{config.BackendVonage, config.BackendSandbox}),
		"VONAGE_VERIFY_API":     strs([]string{config.APIv1, config.APIv2}),
		"CLIENT_IP_HEADER":      strs([]string{config.HeaderXForwardedFor, config.HeaderXRealIP}),
		"REDIS_MODE":            strs(names(config.RedisModes)),
		"FRAUD_GUARD":           strs(names(guard.FraudModes)),
		"CONCURRENT_REQUEST_ID": strs(names(guard.Disclosures)),
		"LOG_FORMAT":            strs([]string{logging.FormatJSON, logging.FormatText}),
	}
	for _, v := range config.Variables() {
		if w, ok := want[v.Name]; ok && v.Values != w {
			t.Errorf("%s values %q, but the code accepts %q", v.Name, v.Values, w)
		}
		if d := v.Default; d != "" && want[v.Name] != "" && !strings.HasPrefix(want[v.Name], d) {
			t.Errorf("%s: default %q is not listed first", v.Name, d)
		}
	}
	// Every kind of line the reference names is one the phone package knows, and the default ones
	// are those the guard takes when the variable is unset.
	for _, v := range config.Variables() {
		if v.Name != "ALLOWED_NUMBER_TYPES" {
			continue
		}
		_, list, _ := strings.Cut(v.Values, "from ")
		for _, name := range strings.Split(list, ", ") {
			if _, err := phone.ParseType(name); err != nil {
				t.Errorf("ALLOWED_NUMBER_TYPES lists %q: %v", name, err)
			}
		}
		if d := strs(names(guard.DefaultAllowedTypes)); !strings.Contains(strings.ReplaceAll(v.Doc, " and ", ", "), d) {
			t.Errorf("ALLOWED_NUMBER_TYPES doc %q does not name the default types %s", v.Doc, d)
		}
	}
}

func names[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}
