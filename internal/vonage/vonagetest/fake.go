package vonagetest

import (
	"crypto/rand"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Fake is what a fake Vonage API has whatever its wire format: the HTTP server, the scripts, the
// credentials it accepts and the codes it sends. A fake's Server embeds it and keeps only its wire
// format and its verifications. It is safe for concurrent use.
type Fake struct {
	t       testing.TB
	srv     *httptest.Server
	scripts *Scripts // keyed by whatever the fake calls a route

	mu        sync.Mutex
	apiKey    string
	apiSecret string
	fixedCode string
	codes     map[string]string // request_id -> the code sent for it
}

// NewFake starts serving h, accepting key and secret, and stops it when the test ends.
func NewFake(t testing.TB, key, secret string, h http.Handler) *Fake {
	t.Helper()
	f := &Fake{
		t:         t,
		scripts:   NewScripts(),
		apiKey:    key,
		apiSecret: secret,
		codes:     make(map[string]string),
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		// Hanging scripts first: Close waits for every handler to return.
		f.scripts.Release()
		f.srv.Close()
	})
	return f
}

// URL is the base URL to give the client, without a trailing slash (like https://api.nexmo.com).
func (f *Fake) URL() string { return f.srv.URL }

// SetCredentials changes the API key and secret the fake accepts.
func (f *Fake) SetCredentials(key, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apiKey, f.apiSecret = key, secret
}

// Credentials returns the API key and secret the fake accepts, for its own auth check.
func (f *Fake) Credentials() (key, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apiKey, f.apiSecret
}

// SetCode makes every later verification use code instead of a random one; "" restores random codes.
func (f *Fake) SetCode(code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fixedCode = code
}

// NewCode returns the code to send for requestID, the one SetCode fixed or else digits random
// digits, and remembers it for CodeFor.
func (f *Fake) NewCode(requestID string, digits int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	code := f.fixedCode
	if code == "" {
		code = randomDigits(digits)
	}
	f.codes[requestID] = code
	return code
}

// CodeFor returns the code sent for requestID, so a test can complete a flow. It fails the test if
// the fake never issued requestID.
func (f *Fake) CodeFor(requestID string) string {
	f.t.Helper()
	f.mu.Lock()
	code, ok := f.codes[requestID]
	f.mu.Unlock()
	if !ok {
		f.t.Fatalf("vonagetest: no verification with request_id %q", requestID)
	}
	return code
}

// Respond replaces the fake's behaviour for route with fn until Respond(route, nil) restores it.
func (f *Fake) Respond(route string, fn http.HandlerFunc) { f.scripts.Respond(route, fn) }

// Hang makes route never answer: each request blocks until the client gives up (or the test ends).
// The returned channel receives a value as each request arrives, so a test can act on "the call is
// in flight" without sleeping.
func (f *Fake) Hang(route string) <-chan struct{} { return f.scripts.Hang(route) }

// ServeScript answers r with the script for route and reports whether there was one. A fake calls
// it once it has recorded the request, so that a script replaces its behaviour but not its log.
func (f *Fake) ServeScript(route string, w http.ResponseWriter, r *http.Request) bool {
	script := f.scripts.Lookup(route)
	if script == nil {
		return false
	}
	script(w, r)
	return true
}

func randomDigits(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10)) // crypto/rand never fails
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}
