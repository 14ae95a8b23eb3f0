// Package vonagetest owns what the fake Vonage APIs (v1test for Verify v1, v2test for v2) share
// whatever their wire format: Fake, the test-scoped HTTP server with the credentials it accepts and
// the codes it sends; the scripts with which a test replaces a route's behaviour or makes it hang, so
// that a failure mode is one line in a test instead of a hand-written server; and Log, the requests
// a fake received. Each fake keeps only its API's wire format and its verifications.
//
// It imports neither the clients nor the fakes: through it, a fake would depend on the client it fakes.
package vonagetest

import (
	"net/http"
	"sync"
)

// Scripts holds the handlers that replace a fake's own behaviour, by route. It is safe for
// concurrent use.
type Scripts struct {
	done chan struct{} // closed by Release, so that hanging handlers let go

	mu     sync.Mutex
	byName map[string]http.HandlerFunc
}

// NewScripts returns empty scripts.
func NewScripts() *Scripts {
	return &Scripts{done: make(chan struct{}), byName: make(map[string]http.HandlerFunc)}
}

// Release lets every hanging handler return. A fake calls it before closing its server, which
// waits for its handlers to finish. It must be called once.
func (s *Scripts) Release() { close(s.done) }

// Respond replaces the behaviour for route with fn until Respond(route, nil) restores it.
func (s *Scripts) Respond(route string, fn http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.byName, route)
		return
	}
	s.byName[route] = fn
}

// Lookup returns the script for route, or nil when the fake should behave as itself.
func (s *Scripts) Lookup(route string) http.HandlerFunc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byName[route]
}

// Hang makes route never answer: each request blocks until the client gives up (or the test ends).
// The returned channel receives a value as each request arrives, so a test can act on "the call is
// in flight" without sleeping.
func (s *Scripts) Hang(route string) <-chan struct{} {
	arrived := make(chan struct{}, 64)
	s.Respond(route, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
	})
	return arrived
}
