package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

// TestRunWiresSilentAuth starts the program as a user would with a silent workflow: against Vonage
// (the fake) the workflow, redirect URL and fraud check reach the start and check_url reaches the
// app; with the sandbox, the server serves check_url itself.
func TestRunWiresSilentAuth(t *testing.T) {
	t.Parallel()
	t.Run("vonage", func(t *testing.T) {
		t.Parallel()
		fake := v2test.NewServer(t)
		base, _, _, _ := start(t, map[string]string{
			"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme", "VONAGE_BASE_URL": fake.URL(),
			"VONAGE_API_KEY": v2test.APIKey, "VONAGE_API_SECRET": v2test.APISecret,
			"VERIFY_WORKFLOW": "silent_auth,sms", "VERIFY_SILENT_AUTH_REDIRECT_URL": "https://app.example.com/verified",
			"VERIFY_FRAUD_CHECK": "false",
		})
		status, body := postJSON(t, base, "/request", `{"number":"14155550100"}`)
		if status != http.StatusOK || !strings.Contains(body, `"check_url":"`+fake.URL()+"/v2/verify/") {
			t.Fatalf("request: %d %s, want Vonage's check_url", status, body)
		}
		reqs := fake.Requests()
		if len(reqs) != 1 {
			t.Fatalf("%d upstream requests, want 1", len(reqs))
		}
		for _, want := range []string{`"channel":"silent_auth"`, `"redirect_url":"https://app.example.com/verified"`, `"fraud_check":false`} {
			if !strings.Contains(string(reqs[0].Body), want) {
				t.Errorf("start body %s lacks %s", reqs[0].Body, want)
			}
		}
	})
	t.Run("sandbox", func(t *testing.T) {
		t.Parallel()
		base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "VONAGE_VERIFY_API": "v2", "VERIFY_WORKFLOW": "silent_auth,sms"})
		status, body := postJSON(t, base, "/request", `{"number":"14155550100"}`)
		var started struct {
			RequestID string `json:"request_id"`
			CheckURL  string `json:"check_url"`
		}
		_ = json.Unmarshal([]byte(body), &started)
		if status != http.StatusOK || started.CheckURL != base+"/sandbox/silent-auth/"+started.RequestID {
			t.Fatalf("request: %d %s, want a check_url on %s", status, body, base)
		}
		res, err := http.Get(started.CheckURL)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var silent struct{ Code string }
		if err := json.Unmarshal(raw, &silent); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("check_url: %d %s", res.StatusCode, raw)
		}
		if status, body := postJSON(t, base, "/check", checkBody(t, started.RequestID, silent.Code)); status != http.StatusOK {
			t.Fatalf("check: %d %s", status, body)
		}
	})
	t.Run("silent_auth alone warns at start-up", func(t *testing.T) {
		t.Parallel()
		_, _, _, out := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "VONAGE_VERIFY_API": "v2", "VERIFY_WORKFLOW": "silent_auth"})
		if !strings.Contains(out.String(), "VERIFY_WORKFLOW=silent_auth has no fallback") {
			t.Errorf("no warning about the missing fallback:\n%s", out)
		}
	})
}
