package verifyv2_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

// silentThenSMS is the workflow most silent deployments use: silent authentication, SMS as fallback.
func silentThenSMS(redirect string) func(*verifyv2.Options) {
	return func(o *verifyv2.Options) {
		o.Workflow = []verifyv2.Channel{
			{Name: verifyv2.ChannelSilentAuth, RedirectURL: redirect},
			{Name: verifyv2.ChannelSMS, From: "Acme"},
		}
	}
}

// startBodies are the JSON bodies of every start the fake received.
func startBodies(t *testing.T, fake *v2test.Server) []map[string]any {
	t.Helper()
	var bodies []map[string]any
	for _, r := range fake.Requests() {
		if r.Route != v2test.RouteStart {
			continue
		}
		var b map[string]any
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("start body %q: %v", r.Body, err)
		}
		bodies = append(bodies, b)
	}
	return bodies
}

// completeSilentAuth opens checkURL as the phone does, following the carrier's redirects, and
// returns the code of the JSON answer.
func completeSilentAuth(t *testing.T, checkURL string) (status int, code string) {
	t.Helper()
	res, err := http.Get(checkURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var answer struct{ Code string }
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &answer); err != nil {
			t.Fatalf("check_url answered %q: %v", raw, err)
		}
	}
	return res.StatusCode, answer.Code
}

func TestSilentStartSendsTheWorkflowAndPassesCheckURLOn(t *testing.T) {
	t.Parallel()
	fake := v2test.NewServer(t)
	c := newClient(t, fake, silentThenSMS("https://app.example.com/verified"))
	started := mustStart(t, c)
	if want := fake.URL() + "/v2/verify/" + started.RequestID + "/silent-auth/redirect"; started.CheckURL != want {
		t.Errorf("CheckURL = %q, want %q", started.CheckURL, want)
	}
	bodies := startBodies(t, fake)
	if len(bodies) != 1 {
		t.Fatalf("%d starts, want 1", len(bodies))
	}
	wf, _ := bodies[0]["workflow"].([]any)
	want := []map[string]any{
		{"channel": "silent_auth", "to": testNumber, "redirect_url": "https://app.example.com/verified"},
		{"channel": "sms", "to": testNumber, "from": "Acme"},
	}
	if len(wf) != len(want) {
		t.Fatalf("workflow %v, want %v", wf, want)
	}
	for i := range want {
		got, _ := json.Marshal(wf[i])
		exp, _ := json.Marshal(want[i])
		if string(got) != string(exp) {
			t.Errorf("workflow[%d] = %s, want %s", i, got, exp)
		}
	}
	if _, sent := bodies[0]["fraud_check"]; sent {
		t.Error("fraud_check was sent; by default the account's own setting must hold")
	}
}

func TestTheCodeFromCheckURLVerifies(t *testing.T) {
	t.Parallel()
	fake := v2test.NewServer(t)
	c := newClient(t, fake, silentThenSMS(""))
	started := mustStart(t, c)
	status, code := completeSilentAuth(t, started.CheckURL)
	if status != http.StatusOK || code == "" || code != fake.CodeFor(started.RequestID) {
		t.Fatalf("check_url: %d, code %q", status, code)
	}
	if _, err := c.Check(t.Context(), started.RequestID, code); err != nil {
		t.Fatalf("Check with the silent code: %v", err)
	}
}

func TestAFailedSilentStepFallsBackToSMS(t *testing.T) {
	t.Parallel()
	fake := v2test.NewServer(t)
	fake.FailSilentAuth(testNumber)
	c := newClient(t, fake, silentThenSMS(""))
	started := mustStart(t, c)
	if status, _ := completeSilentAuth(t, started.CheckURL); status != http.StatusPreconditionFailed {
		t.Fatalf("check_url on the wrong device: %d, want 412", status)
	}
	smsCode := fake.CodeFor(started.RequestID) // the code the SMS brought
	_, err := c.Check(t.Context(), started.RequestID, "0000")
	wantVerifyError(t, err, verify.KindCodeMismatch)
	if _, err := c.Check(t.Context(), started.RequestID, smsCode); err != nil {
		t.Fatalf("Check with the SMS code: %v", err)
	}
}

func TestAnUnsupportedNetworkStartsWithTheFallbackInstead(t *testing.T) {
	t.Parallel()
	fake := v2test.NewServer(t)
	fake.UnsupportedNetwork(testNumber)
	c := newClient(t, fake, silentThenSMS("https://app.example.com/verified"))
	started := mustStart(t, c)
	if started.CheckURL != "" {
		t.Errorf("CheckURL = %q, want none: silent authentication did not start", started.CheckURL)
	}
	bodies := startBodies(t, fake)
	if len(bodies) != 2 {
		t.Fatalf("%d starts, want the refused one and the one without silent_auth", len(bodies))
	}
	if wf, _ := json.Marshal(bodies[1]["workflow"]); string(wf) != `[{"channel":"sms","from":"Acme","to":"`+testNumber+`"}]` {
		t.Errorf("second start's workflow = %s, want sms alone", wf)
	}
	if _, err := c.Check(t.Context(), started.RequestID, fake.CodeFor(started.RequestID)); err != nil {
		t.Fatalf("Check with the SMS code: %v", err)
	}
}

func TestSilentAuthAloneOnAnUnsupportedNetworkIsThatNetworkNotSupported(t *testing.T) {
	t.Parallel()
	fake := v2test.NewServer(t)
	fake.UnsupportedNetwork(testNumber)
	c := newClient(t, fake, func(o *verifyv2.Options) { o.Workflow = []verifyv2.Channel{{Name: verifyv2.ChannelSilentAuth}} })
	_, err := c.Start(t.Context(), testNumber)
	ve := wantVerifyError(t, err, verify.KindUnsupportedNetwork)
	if ve.Status != verify.StatusUnsupportedNetwork || !strings.Contains(ve.Text, "Mobile Network Operator") {
		t.Errorf("error = %+v, want status 15 with Vonage's text", ve)
	}
	if n := len(startBodies(t, fake)); n != 1 {
		t.Errorf("%d starts, want 1: there is no fallback to try", n)
	}
}

func TestFraudCheckOffIsSentAsFalse(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	c := newClient(t, fake, func(o *verifyv2.Options) { o.NoFraudCheck = true })
	mustStart(t, c)
	if got, sent := startBodies(t, fake)[0]["fraud_check"]; !sent || got != false {
		t.Errorf("fraud_check = %v (sent %v), want false", got, sent)
	}
}

func TestCheckURLThatIsNotAWebURLIsNotPassedOn(t *testing.T) {
	t.Parallel()
	for _, checkURL := range []any{"javascript:alert(1)", "/v2/verify/x/silent-auth/redirect", "ftp://api.nexmo.com/x",
		"https://user:pw@api.nexmo.com/x", "https://", 123, map[string]string{"href": "https://api.nexmo.com/x"}} {
		t.Run(fmt.Sprint(checkURL), func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			body, _ := json.Marshal(map[string]any{"request_id": someID, "check_url": checkURL})
			fake.Script(v2test.RouteStart, http.StatusAccepted, "application/json", string(body))
			started := mustStart(t, newClient(t, fake, silentThenSMS("")))
			if started.RequestID != someID || started.CheckURL != "" {
				t.Errorf("started = %+v, want the request without its check_url", started)
			}
		})
	}
}

func TestACheckAnsweredWithoutABodyIsASuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		status     int
		wantKind   verify.Kind // "" for success
	}{
		{"200 with an empty body (older v2 specifications define none)", "", http.StatusOK, ""},
		{"200 with only whitespace", " \n", http.StatusOK, ""},
		{"204 no content", "", http.StatusNoContent, ""},
		{"200 with the documented body", `{"request_id":"` + someID + `","status":"completed"}`, http.StatusOK, ""},
		{"200 that says the verification failed", `{"request_id":"` + someID + `","status":"failed"}`, http.StatusOK, verify.KindUpstreamUnavailable},
		{"200 with a body that is not JSON", "<html>ok</html>", http.StatusOK, verify.KindUpstreamUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Script(v2test.RouteCheck, tt.status, "", tt.body)
			checked, err := newClient(t, fake).Check(t.Context(), someID, testCode)
			if tt.wantKind != "" {
				wantVerifyError(t, err, tt.wantKind)
				return
			}
			if err != nil || checked.RequestID != someID {
				t.Errorf("Check = %+v, %v; want a success for %s", checked, err, someID)
			}
		})
	}
}

// TestAStartThatFallsBackStaysWithinOneUpstreamTimeout: the fallback is a second call, and what is
// sized to one call (the shutdown's drain, the Idempotency-Key's lease) must bound the start whole:
// a fallback sent after that would be paid for with nobody left to receive its request_id.
func TestAStartThatFallsBackStaysWithinOneUpstreamTimeout(t *testing.T) {
	t.Parallel()
	fake := v2test.NewServer(t)
	fake.UnsupportedNetwork(testNumber)
	// Every call takes 400 ms: the refused silent start fits in the 600 ms timeout, and so would a
	// fallback given a timeout of its own, but not the two together.
	target, err := url.Parse(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	upstream := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		upstream.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	c := newClient(t, fake, silentThenSMS(""), func(o *verifyv2.Options) {
		o.Endpoint = transport.Endpoint{BaseURL: slow.URL, Timeout: 600 * time.Millisecond}
	})
	_, err = c.Start(t.Context(), testNumber)
	if ve, ok := verify.AsError(err); !ok || ve.Kind != verify.KindUpstreamTimeout {
		t.Fatalf("Start = %v, want an upstream timeout: the fallback must not outlive UPSTREAM_TIMEOUT", err)
	}
}
