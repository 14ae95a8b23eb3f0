package v1test_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

func TestFakeRefusesWhatVonageWould(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		wantStatus  string
		wantText    string
	}{
		{"credentials in the query string are not read", v1test.PathStart + "?" + form("number", "14155550100", "brand", "Acme").Encode(),
			formType, "", "2", "Missing api_key"},
		{"a JSON body is not read", v1test.PathStart, "application/json",
			jsonOf(form("number", "14155550100", "brand", "Acme")), "2", "Missing api_key"},
		{"a missing secret is status 2", v1test.PathCheck, formType,
			url.Values{"api_key": {v1test.APIKey}}.Encode(), "2", "Missing api_secret"},
		{"a wrong secret is status 4", v1test.PathControl, formType,
			url.Values{"api_key": {v1test.APIKey}, "api_secret": {"nope"}, "request_id": {"x"}, "cmd": {"cancel"}}.Encode(), "4", "Bad Credentials"},
		{"a start without brand is status 2", v1test.PathStart, formType,
			form("number", "14155550100").Encode(), "2", "Missing brand"},
		{"a number with a plus is status 3", v1test.PathStart, formType,
			form("number", "+14155550100", "brand", "Acme").Encode(), "3", "Invalid value for parameter: number"},
		{"a brand over 18 characters is status 3", v1test.PathStart, formType,
			form("number", "14155550100", "brand", strings.Repeat("b", 19)).Encode(), "3", "Invalid value for parameter: brand"},
		{"code_length 5 is status 3", v1test.PathStart, formType,
			form("number", "14155550100", "brand", "Acme", "code_length", "5").Encode(), "3", "Invalid value for parameter: code_length"},
		{"workflow_id 8 is status 3", v1test.PathStart, formType,
			form("number", "14155550100", "brand", "Acme", "workflow_id", "8").Encode(), "3", "Invalid value for parameter: workflow_id"},
		{"an unknown control command is status 3", v1test.PathControl, formType,
			form("request_id", "x", "cmd", "pause").Encode(), "3", "Invalid value for parameter: cmd"},
		{"checking an unknown request is status 6", v1test.PathCheck, formType,
			form("request_id", "nope", "code", "1234").Encode(), "6", ""},
		{"cancelling an unknown request is status 6", v1test.PathControl, formType,
			form("request_id", "nope", "cmd", "cancel").Encode(), "6", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := v1test.NewServer(t)
			got := post(t, s, tt.path, tt.contentType, tt.body)
			if got["status"] != tt.wantStatus {
				t.Errorf("status = %q, want %q (%v)", got["status"], tt.wantStatus, got)
			}
			if tt.wantText != "" && got["error_text"] != tt.wantText {
				t.Errorf("error_text = %q, want %q", got["error_text"], tt.wantText)
			}
		})
	}
}

func TestCodeLength6IssuesASixDigitCodeAndA32HexRequestID(t *testing.T) {
	t.Parallel()
	s := v1test.NewServer(t)
	got := postForm(t, s, v1test.PathStart, form("number", "14155550100", "brand", "Acme", "code_length", "6"))
	id := got["request_id"]
	if got["status"] != "0" || len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("answer = %v, want status 0 and a 32-hex request_id", got)
	}
	if code := s.CodeFor(id); len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		t.Errorf("code = %q, want six digits", code)
	}
}

func TestTriggerNextEventRunsOutAfterTheWorkflowsEvents(t *testing.T) {
	t.Parallel()
	s := v1test.NewServer(t)
	id := postForm(t, s, v1test.PathStart, form("number", "14155550100", "brand", "Acme"))["request_id"]
	for range 2 {
		got := postForm(t, s, v1test.PathControl, form("request_id", id, "cmd", "trigger_next_event"))
		if got["status"] != "0" || got["command"] != "trigger_next_event" {
			t.Fatalf("answer = %v, want status 0", got)
		}
	}
	if got := postForm(t, s, v1test.PathControl, form("request_id", id, "cmd", "trigger_next_event")); got["status"] != "19" {
		t.Errorf("answer = %v, want status 19", got)
	}
}

func TestCancelAnswersStatus0WithTheCommandAndFreesTheNumber(t *testing.T) {
	t.Parallel()
	s := v1test.NewServer(t)
	id := postForm(t, s, v1test.PathStart, form("number", "14155550100", "brand", "Acme"))["request_id"]
	got := postForm(t, s, v1test.PathControl, form("request_id", id, "cmd", "cancel"))
	if len(got) != 2 || got["status"] != "0" || got["command"] != "cancel" {
		t.Errorf("answer = %v, want exactly {status 0, command cancel}", got)
	}
	if got := postForm(t, s, v1test.PathStart, form("number", "14155550100", "brand", "Acme")); got["status"] != "0" {
		t.Errorf("new start after cancel = %v, want status 0", got)
	}
}

func TestRequestsAreRecordedWithTheirFormAndQuery(t *testing.T) {
	t.Parallel()
	s := v1test.NewServer(t)
	postForm(t, s, v1test.PathCheck+"?trace=1", form("request_id", "x", "code", "1234"))
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("recorded %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != v1test.PathCheck || r.RawQuery != "trace=1" ||
		r.ContentType != formType || r.Form.Get("code") != "1234" || r.Form.Has("trace") {
		t.Errorf("recorded %+v", r)
	}
}

func TestAScriptReplacesThePathsAnswerUntilItIsRemoved(t *testing.T) {
	t.Parallel()
	s := v1test.NewServer(t)
	s.Script(v1test.PathStart, http.StatusServiceUnavailable, "<html>down</html>")
	resp, err := http.PostForm(s.URL()+v1test.PathStart, form("number", "14155550100", "brand", "Acme"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("HTTP %d, want 503", resp.StatusCode)
	}
	s.Respond(v1test.PathStart, nil)
	if got := postForm(t, s, v1test.PathStart, form("number", "14155550100", "brand", "Acme")); got["status"] != "0" {
		t.Errorf("answer after removing the script = %v, want status 0", got)
	}
}
