package v2test_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
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
	return res.StatusCode, answer(t, res)
}

// answer reads res's JSON body and closes it; a failure must be a problem, as Vonage's are.
func answer(t *testing.T, res *http.Response) map[string]any {
	t.Helper()
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if res.StatusCode >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("failure %d answered as %q, want application/problem+json", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return out
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
		{"fraud_check true is accepted", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","fraud_check":true,"workflow":[{"channel":"sms","to":"14155550100"}]}`, true, 202, ""},
		{"fraud_check false is accepted", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","fraud_check":false,"workflow":[{"channel":"sms","to":"14155550100"}]}`, true, 202, ""},
		{"fraud_check that is not a boolean", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","fraud_check":"yes","workflow":[{"channel":"sms","to":"14155550100"}]}`, true, 422, "body"},
		{"silent_auth with every field, then sms, is accepted", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100","redirect_url":"https://app.example/done?x=1","coverage_check":true,"mode":"advanced"},{"channel":"sms","to":"14155550100"}]}`, true, 202, ""},
		{"whatsapp keeps its own modes", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"whatsapp","to":"14155550100","from":"14155550111","mode":"zero_tap"}]}`, true, 202, ""},
		{"silent_auth after sms", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"sms","to":"14155550100"},{"channel":"silent_auth","to":"14155550100"}]}`, true, 422, "workflow[1].channel"},
		{"a redirect_url on sms", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"sms","to":"14155550100","redirect_url":"https://app.example/done"}]}`, true, 422, "workflow[0].redirect_url"},
		{"a redirect_url over http", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100","redirect_url":"http://app.example/done"}]}`, true, 422, "workflow[0].redirect_url"},
		{"a relative redirect_url", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100","redirect_url":"/done"}]}`, true, 422, "workflow[0].redirect_url"},
		{"a redirect_url with a fragment of its own", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100","redirect_url":"https://app.example/done#x"}]}`, true, 422, "workflow[0].redirect_url"},
		{"coverage_check on sms", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"sms","to":"14155550100","coverage_check":false}]}`, true, 422, "workflow[0].coverage_check"},
		{"a mode on sms", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"sms","to":"14155550100","mode":"standard"}]}`, true, 422, "workflow[0].mode"},
		{"a silent_auth mode Vonage does not know", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100","mode":"fast"}]}`, true, 422, "workflow[0].mode"},
		{"a whatsapp mode that is silent_auth's", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"whatsapp","to":"14155550100","from":"14155550111","mode":"standard"}]}`, true, 422, "workflow[0].mode"},
		{"a silent_auth field that is not a boolean", "POST", "/v2/verify", "application/json",
			`{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100","coverage_check":"no"}]}`, true, 422, "body"},
		{"check_url of an unknown request, opened without credentials", "GET",
			"/v2/verify/c11236f4-00bf-4b89-84ba-88b25df97315/silent-auth/redirect", "", "", false, 404, ""},
		{"check_url posted to", "POST",
			"/v2/verify/c11236f4-00bf-4b89-84ba-88b25df97315/silent-auth/redirect", "application/json", `{}`, true, 404, ""},
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

const (
	silentNumber  = "14155550100"
	silentThenSMS = `{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100"},{"channel":"sms","to":"14155550100"}]}`
	silentAlone   = `{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100"}]}`
)

// startSilent starts body, which must be accepted with a check_url, and returns its id and check_url.
func startSilent(t *testing.T, s *v2test.Server, body string) (id, checkURL string) {
	t.Helper()
	status, out := send(t, s, "POST", "/v2/verify", "application/json", body, true)
	id, _ = out["request_id"].(string)
	checkURL, _ = out["check_url"].(string)
	if status != 202 || id == "" {
		t.Fatalf("start = %d %v, want 202 with a request_id", status, out)
	}
	if want := s.URL() + "/v2/verify/" + id + "/silent-auth/redirect"; checkURL != want {
		t.Fatalf("check_url = %q, want %q", checkURL, want)
	}
	return id, checkURL
}

// open opens check_url as the phone does, without credentials, with client's redirect policy.
func open(t *testing.T, client *http.Client, url string) (*http.Response, map[string]any) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return res, answer(t, res)
}

// otherThan returns a code of the same length that is surely not code.
func otherThan(code string) string {
	if code[0] == '1' {
		return "2" + code[1:]
	}
	return "1" + code[1:]
}

// checkCode sends code for id and returns the status and body.
func checkCode(t *testing.T, s *v2test.Server, id, code string) (int, map[string]any) {
	t.Helper()
	return send(t, s, "POST", "/v2/verify/"+id, "application/json", `{"code":"`+code+`"}`, true)
}

func TestSilentAuthHandsTheCodeToThePhone(t *testing.T) {
	t.Parallel()
	s := v2test.NewServer(t)
	id, checkURL := startSilent(t, s, silentThenSMS)

	res, out := open(t, http.DefaultClient, checkURL)
	if res.StatusCode != 200 || out["request_id"] != id || out["code"] != s.CodeFor(id) {
		t.Fatalf("check_url = %d %v, want 200 with request_id %s and code %s", res.StatusCode, out, id, s.CodeFor(id))
	}
	var hops []v2test.Request
	for _, r := range s.Requests() {
		if r.Route == v2test.RouteSilentAuth {
			hops = append(hops, r)
		}
	}
	if len(hops) != 2 || hops[0].RawQuery != "" || hops[1].RawQuery == "" || hops[0].Auth != "" || hops[0].RequestID != id {
		t.Errorf("check_url was opened as %+v, want two hops without credentials, the second with the fake's marker", hops)
	}
	if res, out := open(t, http.DefaultClient, checkURL); res.StatusCode != 409 {
		t.Errorf("check_url opened again = %d %v, want 409: it hands the code out once", res.StatusCode, out)
	}
	if status, out := checkCode(t, s, id, out["code"].(string)); status != 200 || out["status"] != "completed" {
		t.Errorf("check with the silent code = %d %v, want 200 completed", status, out)
	}
}

func TestSilentAuthRedirectURLCarriesTheCodeInAFragment(t *testing.T) {
	t.Parallel()
	s := v2test.NewServer(t)
	id, checkURL := startSilent(t, s,
		`{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100","redirect_url":"https://app.example/done?x=1"}]}`)
	oneHop := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, _ := open(t, oneHop, checkURL)
	next := res.Header.Get("Location")
	if res.StatusCode != 302 || !strings.HasPrefix(next, checkURL+"?") {
		t.Fatalf("first hop = %d to %q, want 302 back to check_url with a marker", res.StatusCode, next)
	}
	res, _ = open(t, oneHop, next)
	want := "https://app.example/done?x=1#request_id=" + id + "&code=" + s.CodeFor(id)
	if got := res.Header.Get("Location"); res.StatusCode != 302 || got != want {
		t.Fatalf("last hop = %d to %q, want 302 to %q", res.StatusCode, got, want)
	}
	if status, out := checkCode(t, s, id, s.CodeFor(id)); status != 200 {
		t.Errorf("check with the silent code = %d %v, want 200", status, out)
	}
}

// TestTheSilentStepGivesWay covers every way silent authentication fails: with a channel after it,
// that channel gets a new code with the usual attempts; without one, the verification is over.
func TestTheSilentStepGivesWay(t *testing.T) {
	t.Parallel()
	const failed, expired = "Silent authentication failed. Workflow terminated.", "The verification request has expired."
	tests := []struct {
		name     string
		network  func(s *v2test.Server) // set up before the start
		coverage string                 // the silent step's coverage_check, "" for none
		// fail makes the silent step fail and returns the status it saw, 0 when it made no request.
		fail            func(t *testing.T, s *v2test.Server, clock *clocktest.Clock, id, checkURL string) int
		wantStatus      int    // what fail saw with sms after silent_auth
		wantAloneStatus int    // what fail saw with silent_auth alone
		wantAloneDetail string // what a later check hears with silent_auth alone (always 410)
	}{
		{
			name:    "check_url on another phone",
			network: func(s *v2test.Server) { s.FailSilentAuth(silentNumber) },
			fail: func(t *testing.T, _ *v2test.Server, _ *clocktest.Clock, _, checkURL string) int {
				res, out := open(t, http.DefaultClient, checkURL)
				if out["detail"] != "Device MSISDN does not match." {
					t.Errorf("412 detail = %v", out["detail"])
				}
				return res.StatusCode
			},
			wantStatus: 412, wantAloneStatus: 412, wantAloneDetail: failed,
		},
		{
			name:     "check_url on a network the coverage check was told to skip",
			network:  func(s *v2test.Server) { s.UnsupportedNetwork(silentNumber) },
			coverage: `,"coverage_check":false`,
			fail: func(t *testing.T, _ *v2test.Server, _ *clocktest.Clock, _, checkURL string) int {
				res, _ := open(t, http.DefaultClient, checkURL)
				return res.StatusCode
			},
			wantStatus: 412, wantAloneStatus: 412, wantAloneDetail: failed,
		},
		{
			name: "a wrong silent code",
			fail: func(t *testing.T, s *v2test.Server, _ *clocktest.Clock, id, _ string) int {
				status, _ := checkCode(t, s, id, otherThan(s.CodeFor(id)))
				return status
			},
			wantStatus: 400, wantAloneStatus: 410, wantAloneDetail: failed,
		},
		{
			name: "60 s without check_url",
			fail: func(_ *testing.T, _ *v2test.Server, clock *clocktest.Clock, _, _ string) int {
				clock.Advance(v2test.SilentAuthTimeout)
				return 0
			},
			wantStatus: 0, wantAloneStatus: 0, wantAloneDetail: expired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+", then sms", func(t *testing.T) {
			t.Parallel()
			s, clock := newClockedServer(t, tt.network)
			id, checkURL := startSilent(t, s, `{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100"`+
				tt.coverage+`},{"channel":"sms","to":"14155550100"}]}`)
			silentCode := s.CodeFor(id)
			if got := tt.fail(t, s, clock, id, checkURL); got != tt.wantStatus {
				t.Fatalf("the failure answered %d, want %d", got, tt.wantStatus)
			}
			smsCode := s.CodeFor(id)
			if smsCode == silentCode {
				t.Fatalf("sms sent the silent code %s again, want a new one", smsCode)
			}
			if res, out := open(t, http.DefaultClient, checkURL); res.StatusCode != 409 {
				t.Errorf("check_url after the silent step = %d %v, want 409", res.StatusCode, out)
			}
			// The sms code has its own three attempts, whatever the silent step used.
			for range 2 {
				if status, out := checkCode(t, s, id, otherThan(smsCode)); status != 400 {
					t.Fatalf("a wrong sms code = %d %v, want 400", status, out)
				}
			}
			if status, out := checkCode(t, s, id, smsCode); status != 200 || out["status"] != "completed" {
				t.Errorf("check with the sms code = %d %v, want 200 completed", status, out)
			}
		})
		t.Run(tt.name+", alone", func(t *testing.T) {
			t.Parallel()
			s, clock := newClockedServer(t, tt.network)
			alone := `{"brand":"Acme","workflow":[{"channel":"silent_auth","to":"14155550100"` + tt.coverage + `}]}`
			id, checkURL := startSilent(t, s, alone)
			silentCode := s.CodeFor(id)
			if got := tt.fail(t, s, clock, id, checkURL); got != tt.wantAloneStatus {
				t.Fatalf("the failure answered %d, want %d", got, tt.wantAloneStatus)
			}
			if status, out := checkCode(t, s, id, silentCode); status != 410 || out["detail"] != tt.wantAloneDetail {
				t.Errorf("a later check = %d %v, want 410 %q", status, out, tt.wantAloneDetail)
			}
			if status, out := send(t, s, "POST", "/v2/verify", "application/json", alone, true); status != 202 {
				t.Errorf("a new start for the number = %d %v, want 202: it is free again", status, out)
			}
		})
	}
}

func newClockedServer(t *testing.T, network func(*v2test.Server)) (*v2test.Server, *clocktest.Clock) {
	t.Helper()
	s := v2test.NewServer(t)
	clock := clocktest.New()
	s.SetClock(clock.Now)
	if network != nil {
		network(s)
	}
	return s, clock
}

func TestAWrongSilentCodeAloneEndsTheWorkflow(t *testing.T) {
	t.Parallel()
	s := v2test.NewServer(t)
	id, _ := startSilent(t, s, silentAlone)
	status, out := checkCode(t, s, id, otherThan(s.CodeFor(id)))
	if status != 410 || out["detail"] != "Silent authentication failed. Workflow terminated." {
		t.Errorf("a wrong silent code = %d %v, want 410 saying the workflow is over", status, out)
	}
}

func TestUnsupportedNetworkRefusesTheStart(t *testing.T) {
	t.Parallel()
	s := v2test.NewServer(t)
	s.UnsupportedNetwork(silentNumber)
	status, out := send(t, s, "POST", "/v2/verify", "application/json", silentThenSMS, true)
	if status != 412 || out["title"] != "Network not supported" ||
		out["type"] != "https://developer.vonage.com/en/api-errors/verify-v2#precondition-failed" {
		t.Fatalf("start = %d %v, want 412 Network not supported", status, out)
	}
	// Nothing started: the number is free, and a workflow without silent_auth never asks its network.
	if status, out := send(t, s, "POST", "/v2/verify", "application/json",
		`{"brand":"Acme","workflow":[{"channel":"sms","to":"14155550100"}]}`, true); status != 202 {
		t.Errorf("an sms start = %d %v, want 202", status, out)
	}
}

func TestSilentAuthCanBeScriptedAndCancelled(t *testing.T) {
	t.Parallel()
	s := v2test.NewServer(t)
	id, checkURL := startSilent(t, s, silentThenSMS)
	s.Script(v2test.RouteSilentAuth, 503, "application/problem+json", `{"title":"Service Unavailable"}`)
	if res, _ := open(t, http.DefaultClient, checkURL); res.StatusCode != 503 {
		t.Errorf("scripted check_url = %d, want 503", res.StatusCode)
	}
	s.Respond(v2test.RouteSilentAuth, nil)
	if status, out := send(t, s, "DELETE", "/v2/verify/"+id, "", "", true); status != 204 {
		t.Fatalf("cancel = %d %v, want 204", status, out)
	}
	if res, out := open(t, http.DefaultClient, checkURL); res.StatusCode != 409 {
		t.Errorf("check_url after cancel = %d %v, want 409", res.StatusCode, out)
	}
}
