package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// Server is the spec server: it stands in for api.nexmo.com, validates every request it receives
// with a Validator, records each one, and answers a valid request with a success in Vonage's wire
// format (a refused one with Vonage's answer to a bad parameter). It is safe for concurrent use.
type Server struct {
	srv       *httptest.Server
	validator *Validator

	mu        sync.Mutex
	exchanges []Exchange
	issued    map[string]bool // request_ids this server has answered a start with
}

// Exchange is one request the spec server received.
type Exchange struct {
	Operation Operation
	// Refusal is why the specification refuses the request; "" when it accepts it.
	Refusal string
	// Request is the request as received, with the api_secret and the Authorization credentials
	// redacted, for a failure message.
	Request string
}

// NewServer starts a spec server that validates with v, and stops it when the test ends.
func NewServer(t testing.TB, v *Validator) *Server {
	t.Helper()
	s := &Server{validator: v, issued: make(map[string]bool)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to configure the clients with (VONAGE_BASE_URL), like https://api.nexmo.com.
func (s *Server) URL() string { return s.srv.URL }

// Exchanges returns every request received so far, in order.
func (s *Server) Exchanges() []Exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Exchange(nil), s.exchanges...)
}

// Refused returns the exchanges the specification refused.
func (s *Server) Refused() []Exchange {
	var out []Exchange
	for _, e := range s.Exchanges() {
		if e.Refusal != "" {
			out = append(out, e)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, err := s.validator.Validate(r.Context(), r)
	body, _ := readBody(r) // what Validate read and put back
	ex := Exchange{Operation: op, Request: redacted(r, body)}
	if err == nil {
		err = s.known(op, r, body)
	}
	if err != nil {
		ex.Refusal = err.Error()
	}
	s.record(ex)

	if op.ID == "" {
		http.Error(w, "spec server: "+ex.Refusal, http.StatusNotFound)
		return
	}
	if ex.Refusal != "" {
		refuse(w, op, ex.Refusal)
		return
	}
	form, _ := url.ParseQuery(string(body)) // v1's bodies; the validator has parsed them already
	switch op.ID {
	case "verifyRequest":
		id := s.issue(hexID())
		writeJSON(w, http.StatusOK, map[string]string{"request_id": id, "status": "0"})
	case "verifyCheck":
		writeJSON(w, http.StatusOK, map[string]string{
			"request_id": form.Get("request_id"),
			"event_id":   "0A00000012345678",
			"status":     "0",
			"price":      "0.10000000",
			"currency":   "EUR",
		})
	case "verifyControl":
		writeJSON(w, http.StatusOK, map[string]string{"status": "0", "command": form.Get("cmd")})
	case "newRequest":
		id := s.issue(uuid.NewString())
		answer := map[string]string{"request_id": id}
		var start v2Start
		if json.Unmarshal(body, &start) == nil && len(start.Workflow) > 0 && start.Workflow[0].Channel == "silent_auth" {
			// Vonage answers a check_url only when silent_auth is the first channel.
			answer["check_url"] = s.srv.URL + "/v2/verify/" + id + "/silent-auth/redirect"
		}
		writeJSON(w, http.StatusAccepted, answer)
	case "checkCode":
		writeJSON(w, http.StatusOK, map[string]string{"request_id": v2RequestID(r), "status": "completed"})
	case "cancelRequest":
		w.WriteHeader(http.StatusNoContent)
	}
}

// known refuses a check or cancel of a request_id this server never issued: the clients must send
// back what the start answered, byte for byte.
func (s *Server) known(op Operation, r *http.Request, body []byte) error {
	var id string
	switch op.ID {
	case "verifyCheck", "verifyControl":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return err
		}
		id = form.Get("request_id")
	case "checkCode", "cancelRequest":
		id = v2RequestID(r)
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.issued[id] {
		return fmt.Errorf("request_id %q was never issued by this server", id)
	}
	return nil
}

// v2RequestID is the {request_id} of /v2/verify/{request_id}, unescaped.
func v2RequestID(r *http.Request) string {
	id, _ := strings.CutPrefix(r.URL.EscapedPath(), "/v2/verify/")
	if unescaped, err := url.PathUnescape(id); err == nil {
		return unescaped
	}
	return id
}

func (s *Server) issue(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued[id] = true
	return id
}

func (s *Server) record(ex Exchange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exchanges = append(s.exchanges, ex)
}

// refuse answers as Vonage answers a bad parameter: Verify v1 with HTTP 200 and status 3, Verify v2
// with a 422 problem.
func refuse(w http.ResponseWriter, op Operation, reason string) {
	if op.API == V2 {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"type":     "https://developer.vonage.com/en/api-errors#invalid-params",
			"title":    "Invalid params",
			"detail":   "spec server: " + reason,
			"instance": uuid.NewString(),
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "3", "error_text": "spec server: " + reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// hexID is a Verify v1 request_id: 32 hex digits.
func hexID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// redacted writes r and its body as they came, with the secrets out: the api_secret of a form or a
// query, and the credentials of an Authorization header.
func redacted(r *http.Request, body []byte) string {
	var b strings.Builder
	target := r.URL.Path
	if r.URL.RawQuery != "" {
		target += "?" + redactForm(r.URL.RawQuery)
	}
	fmt.Fprintf(&b, "%s %s\n", r.Method, target)
	for _, name := range []string{"Content-Type", "Authorization"} {
		for _, v := range r.Header.Values(name) {
			if name == "Authorization" {
				scheme, _, _ := strings.Cut(v, " ")
				v = scheme + " [redacted]"
			}
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		body = []byte(redactForm(string(body)))
	}
	b.Write(body)
	return b.String()
}

// redactForm replaces the value of every api_secret in an encoded form, keeping the rest as sent.
func redactForm(form string) string {
	pairs := strings.Split(form, "&")
	for i, p := range pairs {
		name, _, _ := strings.Cut(p, "=")
		if unescaped, err := url.QueryUnescape(name); err == nil && unescaped == "api_secret" {
			pairs[i] = name + "=[redacted]"
		}
	}
	return strings.Join(pairs, "&")
}
