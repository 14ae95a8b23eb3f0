package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/verify-proxy/verify-proxy/api"
	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/server"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
	"github.com/verify-proxy/verify-proxy/internal/token"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/verify/sandbox"
	"github.com/verify-proxy/verify-proxy/internal/verify/testnumbers"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// harness is the real server (Echo, validator, handlers) on a real listener, in front of a fake
// Verify API that speaks the real wire format. Every response it sees is checked against openapi.yaml.
type harness struct {
	t       *testing.T
	url     string
	fake    *v1test.Server // nil with the sandbox backend
	logs    *logtest.Buffer
	metrics string           // the URL of this server's metrics, as the admin listener serves them
	clock   *clocktest.Clock // the guard's clock (and the in-memory store's)
	spec    *openapi3.T
	router  routers.Router
}

type options struct {
	sandbox        bool
	silent         bool   // with sandbox: Verify v2, and every start answers a check_url it serves
	silentRedirect string // with silent: where the check_url redirects (VERIFY_SILENT_AUTH_REDIRECT_URL)
	defaultCountry string
	timeout        time.Duration
	provider       func(logger *slog.Logger) verify.Provider
	wrapProvider   func(verify.Provider) verify.Provider // sees every call to the backend
	fake           *v1test.Server                        // share one fake Verify API between servers

	// The guard. The zero limits are all off, so that tests not about limits can send as they like.
	limits         guard.Limits
	destinations   guard.Destinations
	testNumbers    map[string]string
	trustedProxies []netip.Prefix
	clientIPHeader string
	store          state.Store // nil: an in-memory store on the harness's clock
	memoryFallback bool        // count limits in memory (on the harness's clock) while store fails
	failOpen       bool
	disclosure     guard.Disclosure
	fraud          guard.FraudOptions // zero: the fraud guard is off; Observer defaults to the metrics
	tokens         *token.Issuer      // nil: no verification_token
	ready          []server.Check
}

func newHarness(t *testing.T, opts options) *harness {
	t.Helper()
	logger, logs := logtest.New()
	h := &harness{t: t, logs: logs, clock: clocktest.New()}

	var provider verify.Provider
	var silent verify.SilentAuthenticator
	switch {
	case opts.provider != nil:
		provider = opts.provider(logger)
	case opts.sandbox && opts.silent:
		p := sandbox.New(sandbox.Options{PinExpiry: codeLifetime, V2: true, CheckPath: server.SilentAuthPath,
			RedirectURL: opts.silentRedirect, SilentFor: time.Minute}, logger)
		provider, silent = p, p
	case opts.sandbox:
		provider = sandbox.New(sandbox.Options{PinExpiry: codeLifetime}, logger)
	default:
		h.fake = opts.fake
		if h.fake == nil {
			h.fake = v1test.NewServer(t)
		}
		if opts.timeout == 0 {
			opts.timeout = 5 * time.Second
		}
		client, err := verifyv1.New(verifyv1.Options{
			Endpoint: transport.Endpoint{BaseURL: h.fake.URL(), Timeout: opts.timeout},
			APIKey:   v1test.APIKey, APISecret: v1test.APISecret, Brand: "Acme",
		}, transport.NewHTTPClient(0), logger)
		if err != nil {
			t.Fatal(err)
		}
		provider = client
	}
	if opts.wrapProvider != nil {
		provider = opts.wrapProvider(provider)
	}
	phones, err := phone.NewParser(opts.defaultCountry)
	if err != nil {
		t.Fatal(err)
	}
	specYAML, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store := opts.store
	if store == nil {
		store = memstore.New(h.clock.Now)
	}
	var fallback guard.Fallback
	if opts.memoryFallback {
		fallback = memstore.New(h.clock.Now)
	}
	tests := testnumbers.Numbers(opts.testNumbers)
	m := metrics.New(testVersion)
	if opts.fraud.Mode != "" && opts.fraud.Observer == nil {
		opts.fraud.Observer = m
	}
	g, err := guard.New(guard.Options{
		Store: store, Fallback: fallback, Logger: logger, Now: h.clock.Now, IdempotencyTTL: 24 * time.Hour,
		Limits: opts.limits, Destinations: opts.destinations, FailOpen: opts.failOpen,
		OnStoreFailure: m.StoreFailed, VerificationTTL: codeLifetime, Disclosure: opts.disclosure,
		Fraud: opts.fraud,
	})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := server.New(server.Deps{
		Logger: logger, Provider: testnumbers.New(m.Instrument(provider), tests, g.Sessions(), codeLifetime, logger), Phones: phones, Tests: tests, Guard: g,
		Tokens: opts.tokens, SpecYAML: specYAML, TrustedProxies: opts.trustedProxies, ClientIPHeader: opts.clientIPHeader, Metrics: m, Ready: opts.ready,
		SilentAuth: silent,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	admin := httptest.NewServer(m.Handler())
	t.Cleanup(admin.Close)
	h.metrics = admin.URL

	c, err := parsedContract()
	if err != nil {
		t.Fatal(err)
	}
	h.spec, h.router = c.spec, c.router
	return h
}

// contract is openapi.yaml as the harness checks answers against it.
type contract struct {
	spec   *openapi3.T
	router routers.Router
}

// parsedContract parses the contract once for all harnesses: parsing YAML is much of what a harness
// costs under -race, and checking an answer only reads the document (as the server's validator reads
// its own copy from many requests at once).
var parsedContract = sync.OnceValues(func() (contract, error) {
	spec, err := api.GetSpec()
	if err != nil {
		return contract{}, err
	}
	spec.Servers = nil
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return contract{}, err
	}
	return contract{spec, router}, nil
})

// codeLifetime is how long codes live behind the harness: Verify v1's default.
const codeLifetime = 5 * time.Minute

// testVersion is the build version the harness's metrics report.
const testVersion = "v1.2.3-test"

// response is what a client received, already checked against the contract.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r *response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// postJSON sends body as application/json to path.
func (h *harness) postJSON(path, body string) *response {
	h.t.Helper()
	return h.send(http.MethodPost, path, "application/json", body)
}

// postWith sends body as application/json to path with extra headers.
func (h *harness) postWith(path, body string, header map[string]string) *response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return h.do(req)
}

// upstreamCalls counts the calls the fake Verify API received on path.
func (h *harness) upstreamCalls(path string) int {
	n := 0
	for _, r := range h.fake.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func (h *harness) send(method, path, contentType, body string) *response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) *response {
	h.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	r := &response{status: res.StatusCode, header: res.Header, raw: raw}
	h.checkContract(req, r)
	return r
}

// checkContract fails the test when a response is not what openapi.yaml promises: the contract
// never lies. Failures on routes the contract does not have (docs, probes, unknown paths) must still
// be its ErrorBody shape.
func (h *harness) checkContract(req *http.Request, r *response) {
	h.t.Helper()
	if req.Method == http.MethodHead {
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		h.t.Fatalf("%s %s answered %d with Content-Type %q, want JSON: %s", req.Method, req.URL.Path, r.status, ct, r.raw)
	}
	if err := json.Unmarshal(r.raw, &r.body); err != nil {
		h.t.Fatalf("%s %s answered %d with a body that is not a JSON object: %q", req.Method, req.URL.Path, r.status, r.raw)
	}
	route, params, err := h.router.FindRoute(req)
	if err != nil {
		if r.status < 400 {
			return
		}
		errSchema := h.spec.Components.Schemas["ErrorBody"].Value
		var v any
		_ = json.Unmarshal(r.raw, &v)
		if err := errSchema.VisitJSON(v); err != nil {
			h.t.Fatalf("%s %s answered %d with a body that is not the ErrorBody shape: %v\n%s", req.Method, req.URL.Path, r.status, err, r.raw)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.raw)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		h.t.Fatalf("%s %s: response %d breaks openapi.yaml: %v\n%s", req.Method, req.URL.Path, r.status, err, r.raw)
	}
	if r.status >= 400 && r.str("error_text") == "" {
		h.t.Fatalf("error response without error_text: %s", r.raw)
	}
}
