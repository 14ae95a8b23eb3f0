package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

const requestID = "abcdef0123456789abcdef0123456789"

// operation is one of the three calls, with a valid body and the fake's path it reaches.
type operation struct {
	path, body, upstream string
}

var (
	opRequest = operation{"/request", `{"number":"14155550100"}`, v1test.PathStart}
	opCheck   = operation{"/check", checkBody(requestID, "1234"), v1test.PathCheck}
	opCancel  = operation{"/cancel", cancelBody(requestID), v1test.PathControl}
)

// statusCase is one Verify API reply to one operation, and what the app must get for it.
type statusCase struct {
	name       string
	op         operation
	reply      string
	wantHTTP   int
	wantError  string
	wantStatus string // "" means the field must be absent
	wantID     string
	wantText   string // "" means: the Verify API's error_text must not reach the app
}

func TestVerifyStatusMapping(t *testing.T) {
	t.Parallel()
	tests := []statusCase{
		{"invalid value is the user's to fix", opRequest, `{"status":"3","error_text":"Invalid value for param: number"}`,
			400, "invalid_parameter", "3", "", "Invalid value for param: number"},
		{"concurrent verification withholds the running request_id", opRequest,
			`{"request_id":"` + requestID + `","status":"10","error_text":"Concurrent verifications to the same number are not allowed"}`,
			400, "concurrent_verification", "10", "", "Concurrent verifications to the same number are not allowed"},
		{"unsupported network", opRequest, `{"status":"15","error_text":"The destination number is not in a supported network"}`,
			400, "unsupported_network", "15", "", "The destination number is not in a supported network"},
		{"blocked number", opRequest, `{"status":"7","error_text":"The number you are trying to verify is blacklisted for verification","network":"25503"}`,
			400, "number_blocked", "7", "", "The number you are trying to verify is blacklisted for verification"},
		{"wrong code", opCheck, `{"request_id":"` + requestID + `","status":"16","error_text":"The code provided does not match the expected value"}`,
			400, "code_mismatch", "16", requestID, "The code provided does not match the expected value"},
		{"third wrong code ends the verification", opCheck, `{"request_id":"` + requestID + `","status":"17","error_text":"The wrong code was provided too many times"}`,
			400, "too_many_attempts", "17", requestID, "The wrong code was provided too many times"},
		{"unknown request on check", opCheck, `{"request_id":"` + requestID + `","status":"6","error_text":"The Nexmo platform was unable to process this message"}`,
			400, "not_found", "6", requestID, "The Nexmo platform was unable to process this message"},
		{"cancel within 30 seconds", opCancel, `{"status":"19","error_text":"Verification request can't be cancelled within the first 30 seconds."}`,
			400, "cancel_not_allowed", "19", "", "Verification request can't be cancelled within the first 30 seconds."},
		{"search lag status", opCancel, `{"status":"101","error_text":"No response found"}`,
			400, "not_found", "101", "", "No response found"},
		{"a status Vonage adds later still reaches the app", opRequest, `{"status":"42","error_text":"Something new"}`,
			400, "verification_failed", "42", "", "Something new"},
		{"throttled is 429 with Retry-After", opRequest, `{"status":"1","error_text":"Throttled"}`,
			429, "throttled", "1", "", ""},
	}
	for _, code := range []string{"2", "4", "5", "8", "9", "20", "29"} {
		tests = append(tests, statusCase{"account fault " + code + " is a generic 502", opRequest,
			`{"status":"` + code + `","error_text":"Bad Credentials for account 1a2b3c"}`, 502, "upstream_error", "", "", ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			h.fake.Script(tt.op.upstream, http.StatusOK, tt.reply)
			r := h.postJSON(tt.op.path, tt.op.body)
			if r.status != tt.wantHTTP || r.str("error") != tt.wantError {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.str("error"), tt.wantHTTP, tt.wantError, r.raw)
			}
			if got := r.str("status"); got != tt.wantStatus {
				t.Errorf("status: got %q, want %q", got, tt.wantStatus)
			}
			if got := r.str("request_id"); got != tt.wantID {
				t.Errorf("request_id: got %q, want %q", got, tt.wantID)
			}
			if tt.wantText != "" && r.str("error_text") != tt.wantText {
				t.Errorf("error_text: got %q, want Vonage's %q", r.str("error_text"), tt.wantText)
			}
			if tt.wantText == "" && strings.Contains(string(r.raw), "1a2b3c") {
				t.Errorf("upstream detail about our account reached the app: %s", r.raw)
			}
			if tt.wantHTTP == 429 && r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
}

func TestUpstreamHTTPFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		header    map[string]string
		wantHTTP  int
		wantError string
	}{
		{"HTTP 500 is 502", 500, `{"error":"boom"}`, nil, 502, "upstream_unavailable"},
		{"HTTP 503 HTML page is 502", 503, "<html>down</html>", nil, 502, "upstream_unavailable"},
		{"HTTP 401 is a generic 502", 401, `{"type":"unauthorized"}`, nil, 502, "upstream_error"},
		{"HTTP 429 keeps Retry-After", 429, "", map[string]string{"Retry-After": "7"}, 429, "throttled"},
		{"200 with HTML is 502", 200, "<html>captive portal</html>", nil, 502, "upstream_unavailable"},
		{"200 with JSON but no status is 502", 200, `{"hello":"world"}`, nil, 502, "upstream_unavailable"},
		{"200 with truncated JSON is 502", 200, `{"status":"0","request_id":"ab`, nil, 502, "upstream_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			h.fake.Respond(opRequest.upstream, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			r := h.postJSON(opRequest.path, opRequest.body)
			if r.status != tt.wantHTTP || r.str("error") != tt.wantError {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.str("error"), tt.wantHTTP, tt.wantError, r.raw)
			}
			if tt.wantHTTP == 429 && r.header.Get("Retry-After") != "7" {
				t.Errorf("Retry-After: got %q, want the upstream's 7", r.header.Get("Retry-After"))
			}
		})
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{timeout: 100 * 1e6})
	h.fake.Hang(opCheck.upstream)
	r := h.postJSON(opCheck.path, opCheck.body)
	if r.status != http.StatusGatewayTimeout || r.str("error") != "upstream_timeout" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

func TestUnreachableUpstreamIs502(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{provider: unreachableVonage})
	r := h.postJSON(opCancel.path, opCancel.body)
	if r.status != http.StatusBadGateway || r.str("error") != "upstream_unavailable" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

func TestSuccessPassesVonageFieldsThroughUnchanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.fake.Script(v1test.PathCheck, http.StatusOK,
		`{"request_id":"`+requestID+`","event_id":"0A00000012345678","status":"0","price":"0.10000000","currency":"EUR","estimated_price_messages_sent":"0.03330000"}`)
	r := h.postJSON(opCheck.path, opCheck.body)
	want := `{"request_id":"` + requestID + `","event_id":"0A00000012345678","status":"0","price":"0.10000000","currency":"EUR","estimated_price_messages_sent":"0.03330000"}`
	if r.status != 200 || !jsonEqual(t, r.raw, want) {
		t.Fatalf("got %d %s, want %s", r.status, r.raw, want)
	}
	if !strings.Contains(string(r.raw), `"price":"0.10000000"`) {
		t.Errorf("price must stay the raw decimal string: %s", r.raw)
	}

	h.fake.Script(v1test.PathCheck, http.StatusOK, `{"request_id":"`+requestID+`","event_id":"E1","status":"0","price":"0.05000000","currency":"USD"}`)
	r = h.postJSON(opCheck.path, opCheck.body)
	if _, has := r.body["estimated_price_messages_sent"]; has || r.str("price") != "0.05000000" {
		t.Errorf("an absent estimated price must stay absent: %s", r.raw)
	}

	h.fake.Script(v1test.PathControl, http.StatusOK, `{"status":"0","command":"cancel"}`)
	r = h.postJSON(opCancel.path, opCancel.body)
	if r.status != 200 || !jsonEqual(t, r.raw, `{"status":"0","command":"cancel"}`) {
		t.Errorf("cancel: got %d %s", r.status, r.raw)
	}
}

// TestUpstreamValuesOutsideTheContractNeverReachTheApp: whatever the upstream sends, the answer
// stays within openapi.yaml (the harness checks every response against it).
func TestUpstreamValuesOutsideTheContractNeverReachTheApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, upstream, reply string
		wantHTTP                    int
		wantError                   string
	}{
		{"a word status on a refusal is left out", opCheck.path, v1test.PathCheck,
			`{"status":"IN PROGRESS","error_text":"still going","request_id":"` + requestID + `"}`, 400, "verification_failed"},
		{"an overlong status is left out", opCancel.path, v1test.PathControl,
			`{"status":"1234567","error_text":"odd"}`, 400, "verification_failed"},
		{"an overlong request_id on a refusal is left out", opRequest.path, v1test.PathStart,
			`{"status":"10","error_text":"Concurrent","request_id":"` + strings.Repeat("a", 64) + `"}`, 400, "concurrent_verification"},
		{"a request_id with symbols on success is a 502", opRequest.path, v1test.PathStart,
			`{"status":"0","request_id":"<script>alert(1)</script>"}`, 502, "upstream_unavailable"},
		{"a check that echoes another request_id answers with the app's", opCheck.path, v1test.PathCheck,
			`{"status":"0","request_id":"` + strings.Repeat("b", 80) + `","event_id":"E1"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			h.fake.Script(tt.upstream, http.StatusOK, tt.reply)
			body := map[string]string{opRequest.path: opRequest.body, opCheck.path: opCheck.body, opCancel.path: opCancel.body}[tt.path]
			r := h.postJSON(tt.path, body)
			if r.status != tt.wantHTTP || r.str("error") != tt.wantError {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if tt.wantHTTP == 200 && r.str("request_id") != requestID {
				t.Errorf("request_id: got %q, want the app's %q", r.str("request_id"), requestID)
			}
		})
	}
}
