package v2test_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

// send makes one raw request to the fake, with Basic credentials unless auth is false.
func send(t *testing.T, s *v2test.Server, method, path, contentType, body string, auth bool) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.SetBasicAuth(v2test.APIKey, v2test.APISecret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if res.StatusCode >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("failure %d answered as %q, want application/problem+json", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return res.StatusCode, out
}

func TestTheFakeIsAsStrictAsVerify(t *testing.T) {
	t.Parallel()
	const sms = `{"brand":"Acme","workflow":[{"channel":"sms","to":"14155550100"}]}`
	tests := []struct {
		name, method, path, contentType, body string
		auth                                  bool
		wantStatus                            int
		wantInvalid                           string // a name in invalid_parameters
	}{
		{"a valid start is accepted", "POST", "/v2/verify", "application/json", sms, true, 202, ""},
		{"no credentials", "POST", "/v2/verify", "application/json", sms, false, 401, ""},
		{"not JSON", "POST", "/v2/verify", "application/x-www-form-urlencoded", "brand=Acme", true, 415, ""},
		{"a field Verify does not know", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","number":"1","workflow":[{"channel":"sms","to":"14155550100"}]}`, true, 422, "body"},
		{"a number with +", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"sms","to":"+14155550100"}]}`, true, 422, "workflow[0].to"},
		{"a brand with a colon", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme:","workflow":[{"channel":"sms","to":"14155550100"}]}`, true, 422, "brand"},
		{"whatsapp without from", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"whatsapp","to":"14155550100"}]}`, true, 422, "workflow[0].from"},
		{"an app hash on voice", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"voice","to":"14155550100","app_hash":"FA+9qCX9VSu"}]}`, true, 422, "workflow[0].app_hash"},
		{"code length 11", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","code_length":11,"workflow":[{"channel":"sms","to":"14155550100"}]}`, true, 422, "code_length"},
		{"channel timeout 10", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","channel_timeout":10,"workflow":[{"channel":"sms","to":"14155550100"}]}`, true, 422, "channel_timeout"},
		{"no workflow", "POST", "/v2/verify", "application/json", `{"brand":"Acme","workflow":[]}`, true, 422, "workflow"},
		{"an unknown request", "POST", "/v2/verify/c11236f4-00bf-4b89-84ba-88b25df97315", "application/json", `{"code":"1234"}`, true, 404, ""},
		{"an unknown path", "GET", "/v2/other", "", "", true, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := v2test.NewServer(t)
			status, body := send(t, s, tt.method, tt.path, tt.contentType, tt.body, tt.auth)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, tt.wantStatus, body)
			}
			if status >= 400 && (body["title"] == nil || body["instance"] == nil) {
				t.Errorf("problem without title or instance: %v", body)
			}
			if tt.wantInvalid != "" && !strings.Contains(toJSON(body["invalid_parameters"]), `"name":"`+tt.wantInvalid+`"`) {
				t.Errorf("invalid_parameters %v do not name %s", body["invalid_parameters"], tt.wantInvalid)
			}
		})
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
