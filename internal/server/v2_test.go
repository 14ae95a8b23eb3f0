package server_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

const v2RequestID = "c11236f4-00bf-4b89-84ba-88b25df97315"

// The three calls with a valid body; upstream is the fake Verify v2 route each reaches.
var (
	v2Request = operation{"/request", `{"number":"14155550100"}`, v2test.RouteStart}
	v2Check   = operation{"/check", checkBody(v2RequestID, "1234"), v2test.RouteCheck}
	v2Cancel  = operation{"/cancel", cancelBody(v2RequestID), v2test.RouteCancel}
)

// newV2Harness is the real server in front of the fake Verify v2 API, with HTTP Basic credentials
// unless configure changes them.
func newV2Harness(t *testing.T, configure ...func(*verifyv2.Options)) (*harness, *v2test.Server) {
	t.Helper()
	fake := v2test.NewServer(t)
	h := newHarness(t, options{provider: func(logger *slog.Logger) verify.Provider {
		auth, err := verifyv2.NewBasicAuth(v2test.APIKey, v2test.APISecret)
		if err != nil {
			t.Fatal(err)
		}
		opts := verifyv2.Options{
			Endpoint: transport.Endpoint{BaseURL: fake.URL(), Timeout: 5 * time.Second}, Auth: auth, Brand: "Acme",
			Workflow: []verifyv2.Channel{{Name: verifyv2.ChannelSMS}},
		}
		for _, f := range configure {
			f(&opts)
		}
		client, err := verifyv2.New(opts, transport.NewHTTPClient(0), logger)
		if err != nil {
			t.Fatal(err)
		}
		return client
	}})
	return h, fake
}

// TestV2FullFlow walks what an app does, against Verify v2: the app sees the shapes it knows from v1.
func TestV2FullFlow(t *testing.T) {
	t.Parallel()
	h, fake := newV2Harness(t)

	r := h.postJSON("/request", `{"number":"+1 415 555 0100"}`)
	if r.status != 200 || r.str("status") != "0" || len(r.str("request_id")) != 36 {
		t.Fatalf("request: %d %s", r.status, r.raw)
	}
	id := r.str("request_id")
	if again := h.postJSON("/request", `{"number":"14155550100"}`); again.status != 400 ||
		again.str("error") != "concurrent_verification" || again.str("status") != "10" {
		t.Fatalf("second request to the same number: %d %s", again.status, again.raw)
	}
	for i, want := range []struct{ error, status string }{{"code_mismatch", "16"}, {"code_mismatch", "16"}, {"too_many_attempts", "17"}} {
		w := h.postJSON("/check", checkBody(id, "0000"))
		if w.status != 400 || w.str("error") != want.error || w.str("status") != want.status || w.str("request_id") != id {
			t.Fatalf("wrong code %d: %d %s, want %s/%s", i+1, w.status, w.raw, want.error, want.status)
		}
	}
	if r := h.postJSON("/check", checkBody(id, fake.CodeFor(id))); r.status != 400 || r.str("error") != "not_found" || r.str("status") != "6" {
		t.Fatalf("after three wrong codes the verification must be over: %d %s", r.status, r.raw)
	}

	id = h.postJSON("/request", `{"number":"14155550100"}`).str("request_id")
	ok := h.postJSON("/check", checkBody(id, fake.CodeFor(id)))
	if ok.status != 200 || !jsonEqual(t, ok.raw, `{"request_id":"`+id+`","status":"0"}`) {
		t.Fatalf("right code: %d %s", ok.status, ok.raw)
	}

	id = h.postJSON("/request", `{"number":"14155550100"}`).str("request_id")
	if c := h.postJSON("/cancel", cancelBody(id)); c.status != 200 || !jsonEqual(t, c.raw, `{"status":"0","command":"cancel"}`) {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	if c := h.postJSON("/cancel", cancelBody(id)); c.status != 400 || c.str("error") != "not_found" || c.str("status") != "6" {
		t.Fatalf("second cancel: %d %s", c.status, c.raw)
	}
}

// TestV2MappingThroughHTTP runs every row of issue 4's mapping through the real HTTP stack, so each
// answer is also checked against openapi.yaml.
func TestV2MappingThroughHTTP(t *testing.T) {
	t.Parallel()
	problem := func(title, detail string) string {
		return `{"type":"https://developer.vonage.com/en/api-errors/verify-v2","title":"` + title + `","detail":"` + detail + `","instance":"trace-5d1e"}`
	}
	tests := []struct {
		name        string
		op          operation
		status      int
		contentType string
		header      map[string]string
		body        string
		wantHTTP    int
		wantError   string
		wantStatus  string // "" means absent
		wantID      string // "" means absent
		wantText    string // "" means: the upstream text must not reach the app
	}{
		{"202 is a started verification", v2Request, 202, "application/json", nil, `{"request_id":"` + v2RequestID + `"}`,
			200, "", "0", v2RequestID, ""},
		{"409 to request is a concurrent verification", v2Request, 409, "application/problem+json", nil,
			problem("Conflict", "Concurrent verifications to the same number are not allowed."),
			400, "concurrent_verification", "10", "", "Concurrent verifications to the same number are not allowed."},
		{"409 to request with the running request_id withholds it by default", v2Request, 409, "application/problem+json", nil,
			`{"title":"Conflict","detail":"Concurrent verifications to the same number are not allowed.","instance":"trace-5d1e","request_id":"` + v2RequestID + `"}`,
			400, "concurrent_verification", "10", "", "Concurrent verifications to the same number are not allowed."},
		{"400 to check is a wrong code", v2Check, 400, "application/problem+json", nil,
			problem("Invalid Code", "The code you provided does not match the expected value."),
			400, "code_mismatch", "16", v2RequestID, "The code you provided does not match the expected value."},
		{"410 after too many codes", v2Check, 410, "application/problem+json", nil,
			problem("Invalid Code", "An incorrect code has been provided too many times. Workflow terminated."),
			400, "too_many_attempts", "17", v2RequestID, "An incorrect code has been provided too many times. Workflow terminated."},
		{"410 for an expired verification", v2Check, 410, "application/problem+json", nil,
			problem("Gone", "The verification request has expired."),
			400, "expired", "17", v2RequestID, "The verification request has expired."},
		{"404 to check is not found", v2Check, 404, "application/problem+json", nil,
			problem("Not Found", "Request was not found."), 400, "not_found", "6", v2RequestID, "Request was not found."},
		{"409 to check gives the problem's detail", v2Check, 409, "application/problem+json", nil,
			problem("Conflict", "The current Verify workflow step does not support a code."),
			400, "verification_failed", "", v2RequestID, "The current Verify workflow step does not support a code."},
		{"204 to cancel is a cancelled verification", v2Cancel, 204, "", nil, "", 200, "", "0", "", ""},
		{"404 to cancel is not found", v2Cancel, 404, "application/problem+json", nil,
			problem("Not Found", "Request was not found."), 400, "not_found", "6", "", "Request was not found."},
		{"409 to cancel is not allowed now", v2Cancel, 409, "application/problem+json", nil,
			problem("Conflict", "Verification request can't be cancelled within the first 30 seconds."),
			400, "cancel_not_allowed", "19", "", "Verification request can't be cancelled within the first 30 seconds."},
		{"429 keeps Retry-After", v2Request, 429, "application/problem+json", map[string]string{"Retry-After": "7"},
			problem("Rate Limit Hit", "Please wait, then retry your request"), 429, "throttled", "", "", ""},
		{"401 is a generic 502", v2Check, 401, "application/problem+json", nil,
			problem("Unauthorized", "You did not provide correct credentials for account 1a2b3c."), 502, "upstream_error", "", "", ""},
		{"402 is a generic 502", v2Request, 402, "application/problem+json", nil,
			problem("Low balance", "Account 1a2b3c has a low balance."), 502, "upstream_error", "", "", ""},
		{"403 is a generic 502", v2Cancel, 403, "application/problem+json", nil,
			problem("Forbidden", "Not enabled for account 1a2b3c."), 502, "upstream_error", "", "", ""},
		{"500 is upstream unavailable", v2Request, 500, "application/problem+json", nil,
			problem("Internal error", "There was an error processing your request in the Platform 1a2b3c."), 502, "upstream_unavailable", "", "", ""},
		{"a body that is not Verify's is upstream unavailable", v2Check, 404, "text/html", nil,
			"<html>1a2b3c</html>", 502, "upstream_unavailable", "", "", ""},
		{"202 without a request_id is upstream unavailable", v2Request, 202, "application/json", nil,
			`{"oops":"1a2b3c"}`, 502, "upstream_unavailable", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, fake := newV2Harness(t)
			fake.Respond(tt.op.upstream, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
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
			if strings.Contains(string(r.raw), "1a2b3c") || strings.Contains(string(r.raw), "trace-5d1e") {
				t.Errorf("upstream detail reached the app: %s", r.raw)
			}
			if tt.wantHTTP == 429 && r.header.Get("Retry-After") != "7" {
				t.Errorf("Retry-After: got %q, want the upstream's 7", r.header.Get("Retry-After"))
			}
			if tt.wantHTTP >= 400 && tt.body != "" && strings.Contains(tt.body, "trace-5d1e") && !strings.Contains(h.logs.String(), "trace-5d1e") {
				t.Errorf("the problem's instance is not in the log, where Vonage support needs it:\n%s", h.logs)
			}
		})
	}
}

func TestV2UpstreamTimeoutIs504(t *testing.T) {
	t.Parallel()
	h, fake := newV2Harness(t, func(o *verifyv2.Options) { o.Timeout = 100 * time.Millisecond })
	fake.Hang(v2test.RouteCheck)
	r := h.postJSON(v2Check.path, v2Check.body)
	if r.status != http.StatusGatewayTimeout || r.str("error") != "upstream_timeout" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

// TestV2WithAnApplicationJWT: the whole flow authenticates with a signed JWT, and neither the key
// nor the number nor the code reaches the log.
func TestV2WithAnApplicationJWT(t *testing.T) {
	t.Parallel()
	app := v2test.NewApplication(t)
	h, fake := newV2Harness(t, func(o *verifyv2.Options) {
		auth, err := verifyv2.NewJWTAuth(app.ID, app.PrivateKeyPEM, nil)
		if err != nil {
			t.Fatal(err)
		}
		o.Auth = auth
	})
	fake.AcceptApplication(app)
	fake.SetCode("918273")

	id := h.postJSON("/request", `{"number":"+44 20 7183 8750"}`).str("request_id")
	if r := h.postJSON("/check", checkBody(id, "918273")); r.status != 200 {
		t.Fatalf("check: %d %s", r.status, r.raw)
	}
	for _, req := range fake.Requests() {
		if req.Auth != "bearer" || req.Claims == nil {
			t.Errorf("%s was not authenticated with a verified JWT", req.Route)
		}
	}
	keyLine := strings.Split(string(app.PrivateKeyPEM), "\n")[1]
	logs := h.logs.String()
	for _, private := range []string{keyLine, "Bearer", "442071838750", "918273"} {
		if h.logs.Holds(private) {
			t.Errorf("log contains %q:\n%s", private, logs)
		}
	}
}
