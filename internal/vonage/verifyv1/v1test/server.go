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

// Server is a fake Verify v1 API. It is safe for concurrent use. Its routes for Respond and Hang are
// paths; a script runs with the request already recorded and its form parsed (r.PostForm).
type Server struct {
	*vonagetest.Fake
	requests *vonagetest.Log[Request]

	mu          sync.Mutex
	cancelClock func() time.Time // nil: cancel is allowed at any time
	byID        map[string]*verification
	byNumber    map[string]string // number -> request_id in flight
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

func (r Request) clone() Request {
	r.Form = cloneValues(r.Form)
	r.Header = r.Header.Clone()
	return r
}

// NewServer starts a fake that accepts APIKey and APISecret and stops it when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		requests: vonagetest.NewLog(Request.clone),
		byID:     make(map[string]*verification),
		byNumber: make(map[string]string),
	}
	s.Fake = vonagetest.NewFake(t, APIKey, APISecret, http.HandlerFunc(s.serveHTTP))
	return s
}

// EnforceCancelWindow turns on Vonage's rule that a verification cannot be cancelled in its first
// 30 seconds (status 19), measured with now so that tests control time instead of sleeping. Call it
// before starting the verifications it should apply to: their start time is read from now.
func (s *Server) EnforceCancelWindow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelClock = now
}

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

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []Request { return s.requests.All() }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Only a form body is read, never the query string: a client that put the credentials in the
	// URL gets "Missing api_key" here instead of a pass, because URLs end up in access logs.
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.requests.Add(Request{
		Method:      r.Method,
		Path:        r.URL.Path,
		RawQuery:    r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"),
		Accept:      r.Header.Get("Accept"),
		UserAgent:   r.UserAgent(),
		Form:        cloneValues(r.PostForm),
		Header:      r.Header.Clone(),
	})
	if s.ServeScript(r.URL.Path, w, r) {
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
