// Package v2test owns a fake Vonage Verify API v2 for tests: a real HTTP server that speaks the real
// wire format (JSON requests, 202/200/204 answers, application/problem+json failures), checks HTTP
// Basic credentials and verifies application JWTs with the application's public key, and keeps
// verifications the way Vonage does (UUID request ids, codes, three wrong codes end a request,
// expiry after the workflow's channel timeouts, one verification per number at a time, cancel).
//
// It also models silent authentication: a workflow that starts with silent_auth answers a check_url,
// which the phone opens without credentials and which hands out the silent code after a redirect
// (as JSON, or as a fragment of the start's redirect_url). The silent code has one attempt; a wrong
// one, a failure at check_url (FailSilentAuth) or 60 s without it move the verification to its next
// channel with a new code, or fail it when there is none. UnsupportedNetwork makes the start's
// coverage check refuse a number.
//
// Tests can also script any raw answer for a route, or make it hang.
//
// It deliberately does not import the verifyv2 package: it fakes the wire, not the client, so a bug
// in the client cannot hide behind a shared helper.
package v2test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/verify-proxy/verify-proxy/internal/vonage/vonagetest"
)

// The credentials the fake accepts for HTTP Basic. The secret is distinctive so that a test can
// search any string for it and be sure a hit is a leak.
const (
	APIKey    = "v2test-key"
	APISecret = "v2test-secret-5b7d2a"
)

// The routes a test can script; each is one Verify v2 operation.
const (
	RouteStart  = "start"  // POST /v2/verify
	RouteCheck  = "check"  // POST /v2/verify/{request_id}
	RouteCancel = "cancel" // DELETE /v2/verify/{request_id}
	// RouteSilentAuth is check_url, which the phone opens: no credentials needed.
	RouteSilentAuth = "silent_auth" // GET /v2/verify/{request_id}/silent-auth/redirect
)

// PathStart is the path of RouteStart; the other routes append "/" and the request id, and
// RouteSilentAuth then "/silent-auth/redirect".
const PathStart = "/v2/verify"

// Application is a Vonage application: its id and key pair, as the dashboard hands them out.
type Application struct {
	ID            string
	PrivateKeyPEM []byte // PKCS#8, like the dashboard's private.key
	PublicKey     *rsa.PublicKey
}

// NewApplication makes an application with a fresh 2048-bit key (about 0.1 s: make one per test).
func NewApplication(t testing.TB) Application {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("v2test: generate key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("v2test: marshal key: %v", err)
	}
	return Application{
		ID:            uuid.NewString(),
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		PublicKey:     &key.PublicKey,
	}
}

// Server is a fake Verify v2 API. It is safe for concurrent use. Its routes for Respond and Hang
// are RouteStart, RouteCheck, RouteCancel and RouteSilentAuth; a script runs with the request
// already recorded, and its body can still be read.
type Server struct {
	*vonagetest.Fake
	t        testing.TB // for CodeFor, which fails the test as the embedded Fake's does
	requests *vonagetest.Log[Request]

	mu           sync.Mutex
	applications map[string]*rsa.PublicKey // application id -> the key its JWTs must verify with
	now          func() time.Time
	cancelWindow bool
	byID         map[string]*verification
	byNumber     map[string]string // number -> request_id in flight
	wrongDevice  map[string]bool   // numbers whose silent authentication fails at check_url
	unsupported  map[string]bool   // numbers whose network silent authentication does not cover
}

// Request is one request the fake received, recorded before it was answered.
type Request struct {
	Route       string // RouteStart, RouteCheck, RouteCancel, RouteSilentAuth, or "" for an unknown path
	Method      string
	Path        string // as sent, still escaped
	RequestID   string // the unescaped {request_id} of check, cancel and check_url
	RawQuery    string // empty: nothing belongs in a URL (check_url's second hop has the fake's marker)
	ContentType string
	Accept      string
	UserAgent   string
	Header      http.Header
	Body        []byte
	Auth        string  // "basic", "bearer" or "" (none or unreadable)
	Claims      *Claims // a verified JWT's claims, nil otherwise
}

func (r Request) clone() Request {
	r.Header = r.Header.Clone()
	r.Body = append([]byte(nil), r.Body...)
	return r
}

// NewServer starts a fake that accepts APIKey and APISecret and stops it when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:            t,
		requests:     vonagetest.NewLog(Request.clone),
		applications: make(map[string]*rsa.PublicKey),
		now:          time.Now,
		byID:         make(map[string]*verification),
		byNumber:     make(map[string]string),
		wrongDevice:  make(map[string]bool),
		unsupported:  make(map[string]bool),
	}
	s.Fake = vonagetest.NewFake(t, APIKey, APISecret, http.HandlerFunc(s.serveHTTP))
	return s
}

// AcceptApplication makes the fake accept JWTs of app, verified with its public key.
func (s *Server) AcceptApplication(app Application) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applications[app.ID] = app.PublicKey
}

// SetClock makes the fake read time from now, for expiry, channel timeouts and the cancel window, so
// that tests move time instead of sleeping.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// EnforceCancelWindow turns on Vonage's rule that a verification cannot be cancelled in its first
// 30 seconds (HTTP 409), measured with the fake's clock.
func (s *Server) EnforceCancelWindow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelWindow = true
}

// Script makes route answer every request with HTTP status, contentType and the raw body.
func (s *Server) Script(route string, status int, contentType, body string) {
	s.Respond(route, func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []Request { return s.requests.All() }

// route finds the operation for a request: the path stays escaped, so "%2F" in an id is not a slash.
func route(r *http.Request) (name, requestID string) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), PathStart)
	switch {
	case !ok:
		return "", ""
	case rest == "" && r.Method == http.MethodPost:
		return RouteStart, ""
	case !strings.HasPrefix(rest, "/"):
		return "", ""
	}
	rest, silent := strings.CutSuffix(rest[1:], silentAuthSuffix)
	if strings.Contains(rest, "/") {
		return "", ""
	}
	id, err := url.PathUnescape(rest)
	if err != nil || id == "" {
		return "", ""
	}
	switch {
	case silent && r.Method == http.MethodGet:
		return RouteSilentAuth, id
	case silent:
		return "", ""
	case r.Method == http.MethodPost:
		return RouteCheck, id
	case r.Method == http.MethodDelete:
		return RouteCancel, id
	}
	return "", ""
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	name, requestID := route(r)
	authKind, claims, authErr := s.authenticate(r.Header.Get("Authorization"))

	s.requests.Add(Request{
		Route:       name,
		Method:      r.Method,
		Path:        r.URL.EscapedPath(),
		RequestID:   requestID,
		RawQuery:    r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"),
		Accept:      r.Header.Get("Accept"),
		UserAgent:   r.UserAgent(),
		Header:      r.Header.Clone(),
		Body:        body,
		Auth:        authKind,
		Claims:      claims,
	})
	r.Body = io.NopCloser(bytes.NewReader(body)) // for a script; the fake's own handlers take body
	if s.ServeScript(name, w, r) {
		return
	}
	if name == "" {
		writeProblem(w, http.StatusNotFound, "Not Found", "The requested resource does not exist.", "#not-found")
		return
	}
	// Vonage checks credentials before anything else, but for check_url, which the phone opens.
	if authErr != nil && name != RouteSilentAuth {
		writeProblem(w, http.StatusUnauthorized, "Unauthorized", "You did not provide correct credentials.", "#unauthorized")
		return
	}
	switch name {
	case RouteStart:
		s.start(w, r, body)
	case RouteCheck:
		s.check(w, r, requestID, body)
	case RouteCancel:
		s.cancel(w, requestID)
	case RouteSilentAuth:
		s.silentAuth(w, r, requestID)
	}
}
