package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

func TestFullFlowThroughVonage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	r := h.postJSON("/request", `{"number":"+1 415 555 0100"}`)
	if r.status != 200 || r.str("status") != "0" || r.str("request_id") == "" {
		t.Fatalf("request: %d %s", r.status, r.raw)
	}
	id := r.str("request_id")

	again := h.postJSON("/request", `{"number":"14155550100"}`)
	if again.status != 400 || again.str("error") != "concurrent_verification" || again.str("request_id") != "" {
		t.Fatalf("second request to the same number: %d %s", again.status, again.raw)
	}

	wrong := h.postJSON("/check", checkBody(id, "0000"))
	if wrong.status != 400 || wrong.str("error") != "code_mismatch" {
		t.Fatalf("wrong code: %d %s", wrong.status, wrong.raw)
	}
	code := h.fake.CodeFor(id)
	ok := h.postJSON("/check", checkBody(id, code))
	if ok.status != 200 || ok.str("status") != "0" || ok.str("request_id") != id {
		t.Fatalf("right code: %d %s", ok.status, ok.raw)
	}
}

// TestSandboxFlow walks what a newcomer does after `make run`: the code comes from the log.
func TestSandboxFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	r := h.postJSON("/request", `{"number":"14155550100"}`)
	if r.status != 200 || r.str("status") != "0" {
		t.Fatalf("request: %d %s", r.status, r.raw)
	}
	id := r.str("request_id")
	code := codeFromLog(t, h.logs.String(), id)

	for i, want := range []string{"code_mismatch", "code_mismatch", "too_many_attempts"} {
		w := h.postJSON("/check", checkBody(id, wrongCode(code)))
		if w.status != 400 || w.str("error") != want {
			t.Fatalf("wrong code %d: got %d %s, want %s", i+1, w.status, w.raw, want)
		}
	}
	if r := h.postJSON("/check", checkBody(id, code)); r.status != 400 || r.str("error") != "not_found" {
		t.Fatalf("after three wrong codes the verification must be over: %d %s", r.status, r.raw)
	}

	r = h.postJSON("/request", `{"number":"14155550100"}`)
	id = r.str("request_id")
	code = codeFromLog(t, h.logs.String(), id)
	if r := h.postJSON("/check", checkBody(id, code)); r.status != 200 || r.str("request_id") != id {
		t.Fatalf("right code: %d %s", r.status, r.raw)
	}

	r = h.postJSON("/request", `{"number":"14155550100"}`)
	id = r.str("request_id")
	if c := h.postJSON("/cancel", cancelBody(id)); c.status != 200 || c.str("command") != "cancel" {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	if c := h.postJSON("/cancel", cancelBody(id)); c.status != 400 || c.str("error") != "not_found" {
		t.Fatalf("second cancel: %d %s", c.status, c.raw)
	}
	if h.logs.Holds("14155550100") {
		t.Error("the full phone number appears in the log")
	}
}

func codeFromLog(t *testing.T, logs, requestID string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line["request_id"] == requestID {
			if code, ok := line["code"].(string); ok {
				return code
			}
		}
	}
	t.Fatalf("no code logged for %s in:\n%s", requestID, logs)
	return ""
}

func wrongCode(code string) string {
	if strings.HasPrefix(code, "9") {
		return strings.Repeat("1", len(code))
	}
	return strings.Repeat("9", len(code))
}

func TestSecretsAndNumbersStayOutOfLogsAndURLs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	r := h.postJSON("/request", `{"number":"+44 20 7183 8750"}`)
	id := r.str("request_id")
	h.postJSON("/check", checkBody(id, "9876"))
	h.fake.Script(v1test.PathStart, 200, `{"status":"4","error_text":"Bad Credentials"}`)
	h.postJSON("/request", `{"number":"14155550100"}`)
	h.fake.Script(v1test.PathStart, 500, `oops`)
	h.postJSON("/request", `{"number":"14155550100"}`)

	for _, req := range h.fake.Requests() {
		if req.RawQuery != "" {
			t.Errorf("upstream URL carries a query (credentials belong in the body): %q", req.RawQuery)
		}
		if req.Form.Get("api_secret") != v1test.APISecret {
			t.Errorf("api_secret not sent in the form body")
		}
	}
	logs := h.logs.String()
	for _, secret := range []string{v1test.APISecret, "442071838750", "14155550100", "9876"} {
		if h.logs.Holds(secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	if !h.logs.Holds("+4420•••8750") {
		t.Errorf("masked numbers should keep their last digits for support:\n%s", logs)
	}
}

// TestClientHangUpCancelsTheUpstreamCall: a phone that loses signal must not leave calls running.
func TestClientHangUpCancelsTheUpstreamCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	arrived := make(chan struct{})
	cancelled := make(chan struct{})
	h.fake.Respond(v1test.PathStart, func(_ http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
		close(cancelled)
	})
	hangUpOnceArrived(t, h, arrived, nil)
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream call was not cancelled when the client hung up")
	}
	// The operator sees a client that left (nginx's 499), not a 5xx from this server.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(h.logs.String(), `"msg":"http request","method":"POST","route":"/request","status":499`) {
		if time.Now().After(deadline) {
			t.Fatalf("no access line with status 499:\n%s", h.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := metricstest.Scrape(t, h.metrics+"/metrics").Sum("verify_proxy_http_requests_total", "route", "/request", "status", "499"); got != 1 {
		t.Errorf("http_requests_total{status=499} = %v, want 1", got)
	}
}

// hangUpOnceArrived starts a verification of 14155550100 with header and hangs up as soon as the
// start has reached the Verify API (arrived closes), as a phone that loses signal does.
func hangUpOnceArrived(t *testing.T, h *harness, arrived <-chan struct{}, header map[string]string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/request", strings.NewReader(`{"number":"14155550100"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	go func() {
		<-arrived
		cancel()
	}()
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("the request should have been cancelled")
	}
}

// TestHangUpWithAnIdempotencyKeyFinishesTheStart: a phone that loses signal after sending a key
// retries with it; the retry must get the first start's answer, not pay for a second SMS.
func TestHangUpWithAnIdempotencyKeyFinishesTheStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	arrived := make(chan struct{})
	upstreamCancelled := make(chan struct{})
	h.fake.Respond(v1test.PathStart, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		// Vonage takes its time; the app gives up first. The wait ends early only if the proxy
		// cancels this call, which it must not.
		select {
		case <-r.Context().Done():
			close(upstreamCancelled)
			return
		case <-time.After(time.Second):
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"request_id":"`+requestID+`","status":"0"}`)
	})
	hangUpOnceArrived(t, h, arrived, map[string]string{"Idempotency-Key": "flaky-network-1"})

	// The retry is 409 while the first start is still running, then the first start's answer.
	deadline := time.Now().Add(5 * time.Second)
	var retry *response
	for {
		retry = h.postWith("/request", `{"number":"14155550100"}`, map[string]string{"Idempotency-Key": "flaky-network-1"})
		if retry.status != http.StatusConflict || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-upstreamCancelled:
		t.Fatal("the hang-up cancelled a start the app will retry with its key")
	default:
	}
	if retry.status != http.StatusOK || retry.str("request_id") != requestID {
		t.Fatalf("retry: %d %s", retry.status, retry.raw)
	}
	if n := h.upstreamCalls(v1test.PathStart); n != 1 {
		t.Fatalf("the Verify API got %d starts, want 1", n)
	}
}
