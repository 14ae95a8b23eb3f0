// Package v1test owns a fake Vonage Verify API v1 for tests: a real HTTP server that speaks the
// real wire format (form-encoded POSTs, string statuses in HTTP 200 JSON bodies) and keeps
// verifications the way Vonage does, so that the verifyv1 client and everything built on it can be
// tested end to end without the network. Tests can also script any raw reply for a path.
//
// It deliberately does not import the verifyv1 package: it fakes the wire, not the client, so a bug
// in the client cannot hide behind a shared helper.
package v1test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/vonage/vonagetest"
)

// The credentials the fake accepts until SetCredentials changes them. The secret is distinctive so
// that a test can search any string for it and be sure a hit is a leak.
const (
	APIKey    = "vonagetest-key"
	APISecret = "vonagetest-secret-9c1f4e"
)

// The Verify v1 paths the fake serves.
const (
	PathStart   = "/verify/json"
	PathCheck   = "/verify/check/json"
	PathControl = "/verify/control/json"
)

// Server is a fake Verify v1 API. It is safe for concurrent use.
type Server struct {
	t       testing.TB
	srv     *httptest.Server
	scripts *vonagetest.Scripts // keyed by path

	mu          sync.Mutex
	apiKey      string
	apiSecret   string
	fixedCode   string
	cancelClock func() time.Time // nil: cancel is allowed at any time
	byID        map[string]*verification
	byNumber    map[string]string // number -> request_id in flight
	requests    []Request
}

// Request is one request the fake received, recorded before it was answered.
type Request struct {
	Method      string
	Path        string
	RawQuery    string // must stay empty: credentials belong in the body, never in a URL
	ContentType string
	Accept      string
	UserAgent   string
	Form        url.Values // the parsed form body only; query parameters are not included
	Header      http.Header
}

// NewServer starts a fake that accepts APIKey and APISecret and stops it when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:         t,
		scripts:   vonagetest.NewScripts(),
		apiKey:    APIKey,
		apiSecret: APISecret,
		byID:      make(map[string]*verification),
		byNumber:  make(map[string]string),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(func() {
		s.scripts.Release()
		s.srv.Close()
	})
	return s
}

// URL is the base URL to give the client, without a trailing slash (like https://api.nexmo.com).
func (s *Server) URL() string { return s.srv.URL }

// SetCredentials changes the api_key and api_secret the fake accepts.
func (s *Server) SetCredentials(key, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey, s.apiSecret = key, secret
}

// SetCode makes every later verification use code instead of a random one; "" restores random codes.
func (s *Server) SetCode(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fixedCode = code
}

// CodeFor returns the code sent for requestID, so a test can complete a flow. It fails the test if
// the fake never issued requestID.
func (s *Server) CodeFor(requestID string) string {
	s.t.Helper()
	s.mu.Lock()
	v, ok := s.byID[requestID]
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("vonagetest: no verification with request_id %q", requestID)
		return ""
	}
	return v.code
}

// EnforceCancelWindow turns on Vonage's rule that a verification cannot be cancelled in its first
// 30 seconds (status 19), measured with now so that tests control time instead of sleeping. Call it
// before starting the verifications it should apply to: their start time is read from now.
func (s *Server) EnforceCancelWindow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelClock = now
}

// Respond replaces the fake's behaviour for path with fn until Respond(path, nil) restores it. The
// request's form is already parsed (r.PostForm) and recorded when fn runs.
func (s *Server) Respond(path string, fn http.HandlerFunc) { s.scripts.Respond(path, fn) }

// Script makes path answer every request with HTTP status and the raw body. A body that starts with
// '{' is sent as application/json, anything else as text/html, like a proxy's error page would be.
func (s *Server) Script(path string, status int, body string) {
	contentType := "text/html; charset=utf-8"
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		contentType = "application/json"
	}
	s.Respond(path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

// Hang makes path never answer: each request blocks until the client gives up (or the test ends).
// The returned channel receives a value as each request arrives, so a test can act on "the call is
// in flight" without sleeping.
func (s *Server) Hang(path string) <-chan struct{} { return s.scripts.Hang(path) }

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Form = cloneValues(r.Form)
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Only a form body is read, never the query string: a client that put the credentials in the
	// URL gets "Missing api_key" here instead of a pass, because URLs end up in access logs.
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method:      r.Method,
		Path:        r.URL.Path,
		RawQuery:    r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"),
		Accept:      r.Header.Get("Accept"),
		UserAgent:   r.UserAgent(),
		Form:        cloneValues(r.PostForm),
		Header:      r.Header.Clone(),
	})
	s.mu.Unlock()
	script := s.scripts.Lookup(r.URL.Path)

	if script != nil {
		script(w, r)
		return
	}
	switch r.URL.Path {
	case PathStart:
		s.start(w, r.PostForm)
	case PathCheck:
		s.check(w, r.PostForm)
	case PathControl:
		s.control(w, r.PostForm)
	default:
		http.NotFound(w, r)
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range maps.All(v) {
		out[k] = slices.Clone(vs)
	}
	return out
}
