package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// get fetches path from h as a browser or a probe does, outside the contract check: docs and the
// spec are not JSON answers.
func (h *harness) get(path string) (*http.Response, string) {
	h.t.Helper()
	res, err := http.Get(h.url + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return res, string(body)
}

func TestHealthzAnswersOK(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	if res, body := h.get("/healthz"); res.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %d %s", res.StatusCode, body)
	}
}

func TestTheContractIsServedAsYAML(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	if res, body := h.get("/openapi.yaml"); res.StatusCode != 200 || !strings.Contains(body, "operationId: requestVerification") {
		t.Errorf("/openapi.yaml: %d", res.StatusCode)
	}
}

// TestTheContractIsServedAsJSONAsWritten: the JSON is the contract as written, down to the values a
// model of it would leave out, so that what lints clean as YAML lints clean as JSON.
func TestTheContractIsServedAsJSONAsWritten(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	res, body := h.get("/openapi.json")
	var doc map[string]any
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &doc) != nil || doc["openapi"] != "3.0.3" {
		t.Errorf("/openapi.json: %d %.80s", res.StatusCode, body)
	}
	if sec, ok := doc["security"].([]any); !ok || len(sec) != 0 {
		t.Errorf("/openapi.json security = %#v, want [] as openapi.yaml has it", doc["security"])
	}
	idem, _ := doc["components"].(map[string]any)["parameters"].(map[string]any)["IdempotencyKey"].(map[string]any)
	if required, ok := idem["required"]; !ok || required != false {
		t.Errorf("/openapi.json Idempotency-Key required = %#v, want false as openapi.yaml has it", idem["required"])
	}
}

// TestTheContractAsJSONIsTheYAMLsData: /openapi.json, written key by key in the document's order,
// holds exactly the data of /openapi.yaml.
func TestTheContractAsJSONIsTheYAMLsData(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	_, specYAML := h.get("/openapi.yaml")
	_, specJSON := h.get("/openapi.json")
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal([]byte(specYAML), &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Through JSON, so that both sides hold the same Go types (float64 for numbers).
	asJSON, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(asJSON, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(specJSON), &fromJSON); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	if !reflect.DeepEqual(fromJSON, want) {
		t.Errorf("/openapi.json holds other data than /openapi.yaml")
	}
}

// TestDocsListTheOperationsInTheOrderOfTheFlow: Swagger UI shows the operations in the order the
// served document has them (chromium proves the page in e2e/ts/src/docs.test.ts), so /openapi.json
// keeps openapi.yaml's order of paths, request, check, cancel, and /docs sets no sorter of its own.
func TestDocsListTheOperationsInTheOrderOfTheFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	_, specJSON := h.get("/openapi.json")
	var doc struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(specJSON), &doc); err != nil {
		t.Fatal(err)
	}
	got := objectKeys(t, doc.Paths)
	want := []string{"/request", "/check", "/cancel", "/.well-known/jwks.json"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("/openapi.json paths in the order %q, want %q as openapi.yaml has them", got, want)
	}
	if res, page := h.get("/docs/"); res.StatusCode != 200 || strings.Contains(page, "Sorter") {
		t.Errorf("/docs/: %d; it must not sort what the document orders:\n%s", res.StatusCode, page)
	}
}

// objectKeys are the keys of the JSON object raw, in the order it has them.
func objectKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %.80s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestMissingDocsAssetIsTheAPIsJSON404: like any unknown path.
func TestMissingDocsAssetIsTheAPIsJSON404(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	if res, body := h.get("/docs/no-such-asset.js"); res.StatusCode != 404 || !strings.Contains(body, `"error":"unknown_route"`) ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/docs/no-such-asset.js: %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
}

// TestCachedDocsAssetIs304InTheAccessLogToo: the log says what the client got, not a 200.
func TestCachedDocsAssetIs304InTheAccessLogToo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	res, _ := h.get("/docs/swagger-ui.css")
	if res.StatusCode != 200 || res.Header.Get("ETag") == "" {
		t.Fatalf("/docs/swagger-ui.css: %d, ETag %q", res.StatusCode, res.Header.Get("ETag"))
	}
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
}

// TestHEADAnswersAsGETDoes: probes and uptime checkers may ask with HEAD; the answer is GET's,
// without a body.
func TestHEADAnswersAsGETDoes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
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
}

// TestDocsWorkOffline: the page and every asset it loads come from the server itself.
func TestDocsWorkOffline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	res, page := h.get("/docs")
	if res.StatusCode != 200 || !strings.Contains(page, "swagger-ui") || !strings.Contains(page, "/openapi.json") {
		t.Fatalf("/docs: %d %.200s", res.StatusCode, page)
	}
	for _, external := range []string{"https://", "http://", "//cdn", "unpkg", "jsdelivr"} {
		if strings.Contains(page, `src="`+external) || strings.Contains(page, `href="`+external) {
			t.Errorf("/docs loads an asset from outside the server (%s): it must work offline", external)
		}
	}
	for _, asset := range []string{"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"} {
		if res, body := h.get(asset); res.StatusCode != 200 || len(body) < 1000 {
			t.Errorf("%s: %d, %d bytes", asset, res.StatusCode, len(body))
		}
	}
}
