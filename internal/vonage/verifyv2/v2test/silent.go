package v2test

import (
	"net/http"
	"net/url"
	"time"
)

// SilentAuthTimeout is how long a silent_auth step waits for check_url before the next channel is
// tried: Vonage fixes it whatever channel_timeout says.
const SilentAuthTimeout = 60 * time.Second

const (
	channelSilentAuth = "silent_auth"
	// silentCodeLength follows Vonage's example code ("si9sfG"). The code is digits only, since the
	// fake draws it with NewCode so that CodeFor and SetCode work for it as for any other code.
	silentCodeLength = 6
	silentAuthSuffix = "/silent-auth/redirect"
	hopParam         = "hop" // marks check_url's second hop, after the redirect that stands for the carrier's
)

// FailSilentAuth makes silent authentication fail for number from now on, as when the phone that
// opens check_url is not number's: check_url answers 412 and the verification moves on to its next
// channel with a new code (CodeFor returns it), or fails when silent_auth was its only channel.
func (s *Server) FailSilentAuth(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrongDevice[number] = true
}

// UnsupportedNetwork puts number on a mobile network that silent authentication does not cover: a
// start with silent_auth first answers 412 and starts nothing, unless coverage_check is false; then
// the start succeeds and check_url fails as with FailSilentAuth, saying the network is not supported.
func (s *Server) UnsupportedNetwork(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsupported[number] = true
}

// CodeFor returns the code sent for requestID as the fake's clock has it: once a silent step timed
// out, that is the code of the channel after it. It fails the test if the fake never issued requestID.
func (s *Server) CodeFor(requestID string) string {
	s.t.Helper()
	s.mu.Lock()
	if v, ok := s.byID[requestID]; ok {
		s.catchUp(v, s.now())
	}
	s.mu.Unlock()
	return s.Fake.CodeFor(requestID)
}

// checkURL is where the phone proves its number for request id.
func (s *Server) checkURL(id string) string {
	return s.URL() + PathStart + "/" + url.PathEscape(id) + silentAuthSuffix
}

// catchUp moves v past every channel whose timeout has passed by now, as Vonage would have while
// nobody asked. Each next channel starts when the one before it timed out. Callers hold s.mu.
func (s *Server) catchUp(v *verification, now time.Time) {
	for !v.ended && !v.failed && v.step+1 < len(v.channels) && !now.Before(v.stepEnds) {
		s.nextChannel(v, v.stepEnds)
	}
}

// nextChannel moves v to its next channel from at. Leaving silent_auth draws a new code, as Vonage
// sends the next channel a code of its own; the silent step counted no wrong codes, so it gets the
// usual attempts. Between the other channels the code stays. Callers hold s.mu.
func (s *Server) nextChannel(v *verification, at time.Time) {
	leaving := v.channels[v.step]
	v.enter(v.step+1, at)
	if leaving == channelSilentAuth {
		v.code = s.NewCode(v.id, v.codeLength)
	}
}

// failSilentStep gives up on v's silent step: the next channel starts now, or, with none, v fails
// and its number is free again. Callers hold s.mu.
func (s *Server) failSilentStep(v *verification, now time.Time) {
	if v.step+1 < len(v.channels) {
		s.nextChannel(v, now)
		return
	}
	v.failed = true
	s.release(v)
}

// silentAuth answers GET check_url as the phone sees it: no credentials, a redirect standing in for
// the carrier's chain, then the code as JSON or, with redirect_url, as a fragment of a last redirect.
func (s *Server) silentAuth(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[id]
	if !ok {
		notFound(w, id)
		return
	}
	now := s.now()
	s.catchUp(v, now)
	switch {
	case !s.live(v, now) || !v.onSilentStep() || v.silentUsed:
		writeProblem(w, http.StatusConflict, "Conflict", textNotSilent, "#conflict")
		return
	case s.wrongDevice[v.number]:
		s.failSilentStep(v, now)
		writeProblem(w, http.StatusPreconditionFailed, "Precondition Failed", textWrongDevice, "#precondition-failed")
		return
	case s.unsupported[v.number]: // started with coverage_check false: the carrier cannot answer
		s.failSilentStep(v, now)
		writeProblem(w, http.StatusPreconditionFailed, titleNoNetwork, textNoNetwork, "#precondition-failed")
		return
	case r.URL.Query().Get(hopParam) == "":
		// One hop is enough to fail a client that does not follow redirects.
		w.Header().Set("Location", s.checkURL(id)+"?"+hopParam+"=1")
		w.WriteHeader(http.StatusFound)
		return
	}
	v.silentUsed = true
	if v.redirectURL != "" {
		w.Header().Set("Location", v.redirectURL+"#request_id="+id+"&code="+v.code)
		w.WriteHeader(http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", map[string]string{"request_id": id, "code": v.code})
}
