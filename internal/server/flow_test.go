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
	h := newHarness(t, options{})
	r := h.postJSON("/request", `{"number":"+1 415 555 0100"}`)
	if r.status != 200 || r.str("status") != "0" || r.str("request_id") == "" {
		t.Fatalf("request: %d %s", r.status, r.raw)
	}
	id := r.str("request_id")

	again := h.postJSON("/request", `{"number":"14155550100"}`)
	if again.status != 400 || again.str("error") != "concurrent_verification" || again.str("request_id") != id {
		t.Fatalf("second request to the same number: %d %s", again.status, again.raw)
	}

	wrong := h.postJSON("/check", `{"request_id":"`+id+`","code":"0000"}`)
	if wrong.status != 400 || wrong.str("error") != "code_mismatch" {
		t.Fatalf("wrong code: %d %s", wrong.status, wrong.raw)
	}
	code := h.fake.CodeFor(id)
	ok := h.postJSON("/check", `{"request_id":"`+id+`","code":"`+code+`"}`)
	if ok.status != 200 || ok.str("status") != "0" || ok.str("request_id") != id {
		t.Fatalf("right code: %d %s", ok.status, ok.raw)
	}
}

// TestSandboxFlow walks what a newcomer does after `make run`: the code comes from the log.
func TestSandboxFlow(t *testing.T) {
	h := newHarness(t, options{sandbox: true})
	r := h.postJSON("/request", `{"number":"14155550100"}`)
	if r.status != 200 || r.str("status") != "0" {
		t.Fatalf("request: %d %s", r.status, r.raw)
	}
	id := r.str("request_id")
	code := codeFromLog(t, h.logs.String(), id)

	for i, want := range []string{"code_mismatch", "code_mismatch", "too_many_attempts"} {
		w := h.postJSON("/check", `{"request_id":"`+id+`","code":"`+wrongCode(code)+`"}`)
		if w.status != 400 || w.str("error") != want {
			t.Fatalf("wrong code %d: got %d %s, want %s", i+1, w.status, w.raw, want)
		}
	}
	if r := h.postJSON("/check", `{"request_id":"`+id+`","code":"`+code+`"}`); r.status != 400 || r.str("error") != "not_found" {
		t.Fatalf("after three wrong codes the verification must be over: %d %s", r.status, r.raw)
	}

	r = h.postJSON("/request", `{"number":"14155550100"}`)
	id = r.str("request_id")
	code = codeFromLog(t, h.logs.String(), id)
	if r := h.postJSON("/check", `{"request_id":"`+id+`","code":"`+code+`"}`); r.status != 200 || r.str("request_id") != id {
		t.Fatalf("right code: %d %s", r.status, r.raw)
	}

	r = h.postJSON("/request", `{"number":"14155550100"}`)
	id = r.str("request_id")
	if c := h.postJSON("/cancel", `{"request_id":"`+id+`"}`); c.status != 200 || c.str("command") != "cancel" {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	if c := h.postJSON("/cancel", `{"request_id":"`+id+`"}`); c.status != 400 || c.str("error") != "not_found" {
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
	h := newHarness(t, options{})
	r := h.postJSON("/request", `{"number":"+44 20 7183 8750"}`)
	id := r.str("request_id")
	h.postJSON("/check", `{"request_id":"`+id+`","code":"9876"}`)
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

func TestDocsAndHealth(t *testing.T) {
	h := newHarness(t, options{sandbox: true})
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := http.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var sb strings.Builder
		_, _ = bufio.NewReader(res.Body).WriteTo(&sb)
		return res, sb.String()
	}
	if res, body := get("/healthz"); res.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %d %s", res.StatusCode, body)
	}
	if res, body := get("/openapi.yaml"); res.StatusCode != 200 || !strings.Contains(body, "operationId: requestVerification") {
		t.Errorf("/openapi.yaml: %d", res.StatusCode)
	}
	res, body := get("/openapi.json")
	var doc map[string]any
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &doc) != nil || doc["openapi"] != "3.0.3" {
		t.Errorf("/openapi.json: %d %.80s", res.StatusCode, body)
	}
	// The JSON is the contract as written, down to the values a model of it would leave out, so that
	// what lints clean as YAML lints clean as JSON.
	if sec, ok := doc["security"].([]any); !ok || len(sec) != 0 {
		t.Errorf("/openapi.json security = %#v, want [] as openapi.yaml has it", doc["security"])
	}
	idem, _ := doc["components"].(map[string]any)["parameters"].(map[string]any)["IdempotencyKey"].(map[string]any)
	if required, ok := idem["required"]; !ok || required != false {
		t.Errorf("/openapi.json Idempotency-Key required = %#v, want false as openapi.yaml has it", idem["required"])
	}
	// A missing asset under /docs/ is the API's JSON 404, like any unknown path.
	if res, body := get("/docs/no-such-asset.js"); res.StatusCode != 404 || !strings.Contains(body, `"error":"unknown_route"`) ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/docs/no-such-asset.js: %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	// A cached asset is a 304, and the access log says so (what the client got, not a 200).
	if res, _ := get("/docs/swagger-ui.css"); res.StatusCode == 200 && res.Header.Get("ETag") != "" {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/docs/swagger-ui.css", nil)
		req.Header.Set("If-None-Match", res.Header.Get("ETag"))
		again, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if again.StatusCode != http.StatusNotModified || !strings.Contains(h.logs.String(), `"route":"/docs/*","status":304`) {
			t.Errorf("cached asset: %d; the access log must say 304:\n%s", again.StatusCode, h.logs)
		}
	} else {
		t.Errorf("/docs/swagger-ui.css: %d, ETag %q", res.StatusCode, res.Header.Get("ETag"))
	}
	// Probes and uptime checkers may ask with HEAD: the answer is GET's, without a body.
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/openapi.json", "/docs/"} {
		res, err := http.Head(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	res, page := get("/docs")
	if res.StatusCode != 200 || !strings.Contains(page, "swagger-ui") || !strings.Contains(page, "/openapi.json") {
		t.Fatalf("/docs: %d %.200s", res.StatusCode, page)
	}
	for _, external := range []string{"https://", "http://", "//cdn", "unpkg", "jsdelivr"} {
		if strings.Contains(page, `src="`+external) || strings.Contains(page, `href="`+external) {
			t.Errorf("/docs loads an asset from outside the server (%s): it must work offline", external)
		}
	}
	for _, asset := range []string{"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"} {
		if res, body := get(asset); res.StatusCode != 200 || len(body) < 1000 {
			t.Errorf("%s: %d, %d bytes", asset, res.StatusCode, len(body))
		}
	}
}
