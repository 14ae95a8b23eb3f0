package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/server"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

// openCheckURL does what the phone does with a check_url: a GET, redirects not followed, so that a
// test sees each answer.
func openCheckURL(t *testing.T, checkURL string) (status int, location string, body map[string]string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(checkURL)
	if err != nil {
		t.Fatalf("GET check_url: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("check_url answered 200 as %q, want JSON", ct)
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("check_url answered %q: %v", raw, err)
		}
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("check_url Cache-Control = %q, want no-store: it carries a code", cc)
	}
	return res.StatusCode, res.Header.Get("Location"), body
}

func TestSandboxSilentAuthFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true, silent: true})

	r := h.postJSON("/request", `{"number":"+1 415 555 0100"}`)
	id, checkURL := r.str("request_id"), r.str("check_url")
	if r.status != http.StatusOK || checkURL != h.url+server.SilentAuthPath+id {
		t.Fatalf("request: %d %s, want a check_url on this server for %s", r.status, r.raw, id)
	}
	status, _, body := openCheckURL(t, checkURL)
	if status != http.StatusOK || body["request_id"] != id || len(body["code"]) != 4 {
		t.Fatalf("check_url: %d %v, want the request_id and its code", status, body)
	}
	if code, _ := h.logs.Find(map[string]string{"msg": "sandbox verification code", "request_id": id}, "code"); code != body["code"] {
		t.Error("the sandbox must also log the code, as the fallback channel would bring it")
	}
	if ok := h.postJSON("/check", checkBody(id, body["code"])); ok.status != http.StatusOK || ok.str("status") != "0" {
		t.Fatalf("check with the code from check_url: %d %s", ok.status, ok.raw)
	}
	// Verified, the verification is over, and so is its check_url.
	if status, _, _ := openCheckURL(t, checkURL); status != http.StatusNotFound {
		t.Errorf("check_url after the check: %d, want 404", status)
	}
}

func TestSandboxSilentAuthRedirectsWithTheCodeInTheFragment(t *testing.T) {
	t.Parallel()
	const redirect = "https://app.example.com/verified?from=sa"
	h := newHarness(t, options{sandbox: true, silent: true, silentRedirect: redirect})
	r := h.postJSON("/request", `{"number":"14155550100"}`)
	status, location, _ := openCheckURL(t, r.str("check_url"))
	if status != http.StatusFound || !strings.HasPrefix(location, redirect+"#") {
		t.Fatalf("check_url: %d to %q, want a redirect to %s with a fragment", status, location, redirect)
	}
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	fragment, err := url.ParseQuery(u.Fragment)
	if err != nil || fragment.Get("request_id") != r.str("request_id") || len(fragment.Get("code")) != 4 {
		t.Fatalf("fragment %q (%v), want the request_id and code", u.Fragment, err)
	}
	if u.Query().Get("from") != "sa" {
		t.Errorf("the redirect URL's own query was lost: %q", location)
	}
	if ok := h.postJSON("/check", checkBody(fragment.Get("request_id"), fragment.Get("code"))); ok.status != http.StatusOK {
		t.Fatalf("check with the code from the fragment: %d %s", ok.status, ok.raw)
	}
}

func TestCheckURLIsAtTheAddressTheAppCalled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true, silent: true})
	req, err := http.NewRequest(http.MethodPost, h.url+"/request", strings.NewReader(`{"number":"14155550100"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Proto", "https") // anyone's to send: the connection is plain http
	req.Host = "verify.example.test:8443"
	r := h.do(req)
	if want := "http://verify.example.test:8443" + server.SilentAuthPath + r.str("request_id"); r.str("check_url") != want {
		t.Errorf("check_url = %q, want %q", r.str("check_url"), want)
	}
}

func TestSandboxCheckURLForWhatIsNotALiveVerification(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true, silent: true})
	for _, id := range []string{
		"c11236f4-00bf-4b89-84ba-88b25df97315", // well-formed, never issued
		"%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		strings.Repeat("a", 500),
	} {
		r := h.send(http.MethodGet, server.SilentAuthPath+id, "", "")
		if r.status != http.StatusNotFound || r.str("error") != "not_found" {
			t.Errorf("%.40s: %d %s, want 404 not_found", id, r.status, r.raw)
		}
		if strings.Contains(string(r.raw), "script") {
			t.Errorf("%.40s: the answer repeats what was sent: %s", id, r.raw)
		}
	}
	if h.logs.Holds("script") || h.logs.Holds(strings.Repeat("a", 500)) {
		t.Error("an id that is not a request_id reached the log")
	}
}

func TestNoCheckURLWithoutSilentAuth(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]options{"v1": {}, "the sandbox without silent auth": {sandbox: true}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, opts)
			r := h.postJSON("/request", `{"number":"14155550100"}`)
			if _, has := r.body["check_url"]; r.status != http.StatusOK || has {
				t.Errorf("request: %d %s, want no check_url", r.status, r.raw)
			}
			if g := h.send(http.MethodGet, server.SilentAuthPath+r.str("request_id"), "", ""); g.status != http.StatusNotFound || g.str("error") != "unknown_route" {
				t.Errorf("the sandbox's check_url route without silent auth: %d %s, want unknown_route", g.status, g.raw)
			}
		})
	}
}

func TestAReplayedStartKeepsItsCheckURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true, silent: true})
	first := h.postWith("/request", `{"number":"14155550100"}`, withKey("silent-1"))
	again := h.postWith("/request", `{"number":"14155550100"}`, withKey("silent-1"))
	if first.status != http.StatusOK || first.str("check_url") == "" || string(again.raw) != string(first.raw) {
		t.Fatalf("first %d %s\nretry %d %s\nwant the same answer, check_url included", first.status, first.raw, again.status, again.raw)
	}
}

func TestNumberBlockedNamesTheNetworkThatBlocksIt(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, upstream, want string }{
		{"spec 1.2.x sends the network", `{"status":"7","network":"25503","error_text":"The number you are trying to verify is blacklisted for verification."}`, "25503"},
		{"spec 1.1.x sends none", `{"status":"7","error_text":"The number you are trying to verify is blacklisted for verification."}`, ""},
		{"a network that is not a network code is left out", `{"status":"7","network":"25503; DROP TABLE","error_text":"blocked"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			h.fake.Script(v1test.PathStart, http.StatusOK, tt.upstream)
			r := h.postJSON("/request", `{"number":"14155550100"}`)
			network, has := r.body["network"]
			if r.status != http.StatusBadRequest || r.str("error") != "number_blocked" || r.str("status") != "7" {
				t.Fatalf("%d %s, want 400 number_blocked", r.status, r.raw)
			}
			if (tt.want == "") == has || (has && network != tt.want) {
				t.Errorf("network = %v (present %v), want %q", network, has, tt.want)
			}
			if logged, _ := h.logs.Find(map[string]string{"msg": "verification refused"}, "network"); logged != tt.want {
				t.Error("the log must name the network too, for the operator who asks Vonage to unblock it")
			}
		})
	}
}

func TestV1CodesLongerThanSixAreRefusedWithoutVonage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	id := h.postJSON("/request", `{"number":"14155550100"}`).str("request_id")
	for _, code := range []string{"1234567", "ABCDEFGHIJ"} {
		r := h.postJSON("/check", checkBody(id, code))
		if r.status != http.StatusBadRequest || r.str("error") != "invalid_request" || !strings.Contains(r.str("error_text"), "4 or 6 digits") {
			t.Errorf("code %q: %d %s, want 400 invalid_request", code, r.status, r.raw)
		}
	}
	if n := h.upstreamCalls(v1test.PathCheck); n != 0 {
		t.Errorf("Vonage received %d checks, want none", n)
	}
	// The verification is untouched: its right code still works.
	if ok := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); ok.status != http.StatusOK {
		t.Errorf("right code afterwards: %d %s", ok.status, ok.raw)
	}

	// Refused before Vonage, they cost no attempt: the per-request_id limit is still whole.
	limited := newHarness(t, options{limits: guard.Limits{Check: state.Limit{Count: 2, Window: time.Minute}}})
	id = limited.postJSON("/request", `{"number":"14155550100"}`).str("request_id")
	for range 5 {
		if r := limited.postJSON("/check", checkBody(id, "1234567")); r.status != http.StatusBadRequest {
			t.Fatalf("a long code under the per-request_id limit: %d %s, want 400 every time", r.status, r.raw)
		}
	}
	if ok := limited.postJSON("/check", checkBody(id, limited.fake.CodeFor(id))); ok.status != http.StatusOK {
		t.Fatalf("the right code after five refused ones: %d %s", ok.status, ok.raw)
	}
}

func TestVonageCheckURLReachesTheAppAndItsCodeVerifies(t *testing.T) {
	t.Parallel()
	h, fake := newV2Harness(t, func(o *verifyv2.Options) {
		o.Workflow = []verifyv2.Channel{{Name: verifyv2.ChannelSilentAuth}, {Name: verifyv2.ChannelSMS}}
	})
	r := h.postJSON("/request", `{"number":"+1 415 555 0100"}`)
	id := r.str("request_id")
	if want := fake.URL() + "/v2/verify/" + id + "/silent-auth/redirect"; r.status != http.StatusOK || r.str("check_url") != want {
		t.Fatalf("request: %d %s, want check_url %s", r.status, r.raw, want)
	}
	res, err := http.Get(r.str("check_url")) // the phone, following the carrier's redirects
	if err != nil {
		t.Fatal(err)
	}
	var silent struct{ Code string }
	err = json.NewDecoder(res.Body).Decode(&silent)
	res.Body.Close()
	if err != nil || silent.Code == "" {
		t.Fatalf("check_url: %d, %v", res.StatusCode, err)
	}
	if ok := h.postJSON("/check", checkBody(id, silent.Code)); ok.status != http.StatusOK || ok.str("status") != "0" {
		t.Fatalf("check with the silent code: %d %s", ok.status, ok.raw)
	}
	if h.logs.Holds(r.str("check_url")) {
		t.Error("the check_url was logged; it is the phone's alone")
	}
}

func TestAFailedSilentStepLeavesTheAppTheSMSCode(t *testing.T) {
	t.Parallel()
	h, fake := newV2Harness(t, func(o *verifyv2.Options) {
		o.Workflow = []verifyv2.Channel{{Name: verifyv2.ChannelSilentAuth}, {Name: verifyv2.ChannelSMS}}
	})
	fake.FailSilentAuth("14155550100")
	r := h.postJSON("/request", `{"number":"14155550100"}`)
	res, err := http.Get(r.str("check_url"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("check_url on another SIM: %d, want 412", res.StatusCode)
	}
	id := r.str("request_id")
	if ok := h.postJSON("/check", checkBody(id, fake.CodeFor(id))); ok.status != http.StatusOK {
		t.Fatalf("check with the SMS code: %d %s", ok.status, ok.raw)
	}
}

func TestACheckURLTooLongForTheContractIsLeftOut(t *testing.T) {
	t.Parallel()
	h, fake := newV2Harness(t, func(o *verifyv2.Options) {
		o.Workflow = []verifyv2.Channel{{Name: verifyv2.ChannelSilentAuth}, {Name: verifyv2.ChannelSMS}}
	})
	long := "https://api.nexmo.com/v2/verify/" + strings.Repeat("a", 2048)
	body, _ := json.Marshal(map[string]string{"request_id": v2RequestID, "check_url": long})
	fake.Script(v2test.RouteStart, http.StatusAccepted, "application/json", string(body))
	r := h.postJSON("/request", `{"number":"14155550100"}`)
	if _, has := r.body["check_url"]; r.status != http.StatusOK || r.str("request_id") != v2RequestID || has {
		t.Fatalf("request: %d %s, want the request without its check_url", r.status, r.raw)
	}
	if msg, _ := h.logs.Find(map[string]string{"request_id": v2RequestID, "level": "WARN"}, "msg"); !strings.Contains(msg, "check_url") {
		t.Errorf("no warning about the check_url left out (got %q)", msg)
	}
}
