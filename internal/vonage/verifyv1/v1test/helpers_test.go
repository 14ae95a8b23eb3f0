package v1test_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

const formType = "application/x-www-form-urlencoded"

// form is the fake's credentials and the name-value pairs in extra.
func form(extra ...string) url.Values {
	v := url.Values{"api_key": {v1test.APIKey}, "api_secret": {v1test.APISecret}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// jsonOf is f as a JSON object of strings: the same parameters in the body Verify v1 does not read.
func jsonOf(f url.Values) string {
	m := make(map[string]string, len(f))
	for k := range f {
		m[k] = f.Get(k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return string(b)
}

// post sends body to path and decodes the Verify JSON answer, which must come with HTTP 200.
func post(t *testing.T, s *v1test.Server, path, contentType, body string) map[string]string {
	t.Helper()
	resp, err := http.Post(s.URL()+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d %s", path, resp.StatusCode, raw)
	}
	var out map[string]string // every value a string, as Vonage sends them
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: body %s is not a Verify answer: %v", path, raw, err)
	}
	return out
}

func postForm(t *testing.T, s *v1test.Server, path string, f url.Values) map[string]string {
	t.Helper()
	return post(t, s, path, formType, f.Encode())
}
