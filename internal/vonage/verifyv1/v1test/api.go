package v1test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The texts are Vonage's own, so that tests which show upstream text to an app see the real thing.
const (
	textBadCredentials = "Bad Credentials"
	textConcurrent     = "Concurrent verifications to the same number are not allowed"
	textCodeMismatch   = "The code provided does not match the expected value"
	textTooManyCodes   = "The wrong code was provided too many times. Workflow terminated"
	maxWrongCodes      = 3
	cancelWindow       = 30 * time.Second
	nextEvents         = 2 // the default workflow sends up to three messages: the first plus two more
)

type verification struct {
	id         string
	number     string
	code       string
	started    time.Time
	wrongCodes int
	eventsLeft int
}

// reply is a Verify v1 JSON body. Every value is a string, as Vonage sends them.
type reply map[string]string

func failure(status, text string) reply { return reply{"status": status, "error_text": text} }

func writeReply(w http.ResponseWriter, r reply) {
	body, err := json.Marshal(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Vonage answers every API outcome, failures included, with HTTP 200.
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_, _ = w.Write(body)
}

// admit checks a request the way Vonage does: the credentials before anything else, then that the
// call's mandatory parameters are there. It answers the refusal itself and reports whether the call
// may go on.
func (s *Server) admit(w http.ResponseWriter, form url.Values, mandatory ...string) bool {
	r := s.authorize(form)
	if r == nil {
		r = require(form, mandatory...)
	}
	if r != nil {
		writeReply(w, r)
		return false
	}
	return true
}

// authorize checks the credentials.
func (s *Server) authorize(form url.Values) reply {
	if r := require(form, "api_key", "api_secret"); r != nil {
		return r
	}
	key, secret := s.Credentials()
	if form.Get("api_key") != key || form.Get("api_secret") != secret {
		return failure("4", textBadCredentials)
	}
	return nil
}

func require(form url.Values, names ...string) reply {
	for _, name := range names {
		if form.Get(name) == "" {
			return failure("2", "Missing "+name)
		}
	}
	return nil
}

func invalid(name string) reply { return failure("3", "Invalid value for parameter: "+name) }

func (s *Server) start(w http.ResponseWriter, form url.Values) {
	if !s.admit(w, form, "number", "brand") {
		return
	}
	if r := validateStart(form); r != nil {
		writeReply(w, r)
		return
	}
	number := form.Get("number")

	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byNumber[number]; ok {
		writeReply(w, reply{"status": "10", "error_text": textConcurrent, "request_id": id})
		return
	}
	codeLength := 4
	if form.Get("code_length") == "6" {
		codeLength = 6
	}
	id := randomHex(16)
	v := &verification{
		id:         id,
		number:     number,
		code:       s.NewCode(id, codeLength),
		started:    s.clock(),
		eventsLeft: nextEvents,
	}
	s.byID[v.id] = v
	s.byNumber[number] = v.id
	writeReply(w, reply{"status": "0", "request_id": v.id})
}

func validateStart(form url.Values) reply {
	for _, c := range form.Get("number") {
		if c < '0' || c > '9' {
			return invalid("number")
		}
	}
	if len(form.Get("brand")) > 18 {
		return invalid("brand")
	}
	if v := form.Get("code_length"); v != "" && v != "4" && v != "6" {
		return invalid("code_length")
	}
	if v := form.Get("sender_id"); len(v) > 11 {
		return invalid("sender_id")
	}
	ranges := []struct {
		name     string
		min, max int
	}{
		{"workflow_id", 1, 7},
		{"pin_expiry", 60, 3600},
		{"next_event_wait", 60, 900},
	}
	for _, r := range ranges {
		v := form.Get(r.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < r.min || n > r.max {
			return invalid(r.name)
		}
	}
	return nil
}

func (s *Server) check(w http.ResponseWriter, form url.Values) {
	if !s.admit(w, form, "request_id", "code") {
		return
	}
	id := form.Get("request_id")

	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[id]
	if !ok || s.byNumber[v.number] != id {
		writeReply(w, reply{
			"status":     "6",
			"request_id": id,
			"error_text": fmt.Sprintf("The Nexmo platform was unable to process this message for the following reason: Request '%s' was not found or it has been verified already.", id),
		})
		return
	}
	if form.Get("code") != v.code {
		v.wrongCodes++
		if v.wrongCodes >= maxWrongCodes {
			delete(s.byNumber, v.number)
			writeReply(w, reply{"status": "17", "request_id": id, "error_text": textTooManyCodes})
			return
		}
		writeReply(w, reply{"status": "16", "request_id": id, "error_text": textCodeMismatch})
		return
	}
	delete(s.byNumber, v.number)
	writeReply(w, reply{
		"status":                        "0",
		"request_id":                    id,
		"event_id":                      strings.ToUpper(randomHex(8)),
		"price":                         "0.10000000",
		"currency":                      "EUR",
		"estimated_price_messages_sent": "0.03330000",
	})
}

func (s *Server) control(w http.ResponseWriter, form url.Values) {
	if !s.admit(w, form, "request_id", "cmd") {
		return
	}
	id, cmd := form.Get("request_id"), form.Get("cmd")
	if cmd != "cancel" && cmd != "trigger_next_event" {
		writeReply(w, invalid("cmd"))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[id]
	if !ok || s.byNumber[v.number] != id {
		writeReply(w, failure("6", fmt.Sprintf("The requestId '%s' does not exist or its no longer active.", id)))
		return
	}
	switch cmd {
	case "cancel":
		if s.cancelClock != nil && s.cancelClock().Sub(v.started) < cancelWindow {
			writeReply(w, failure("19", fmt.Sprintf("Verification request ['%s'] can't be cancelled within the first 30 seconds.", id)))
			return
		}
		delete(s.byNumber, v.number)
	case "trigger_next_event":
		if v.eventsLeft == 0 {
			writeReply(w, failure("19", fmt.Sprintf("No more events are left to execute for the request ['%s']", id)))
			return
		}
		v.eventsLeft--
	}
	writeReply(w, reply{"status": "0", "command": cmd})
}

// clock is the time a verification starts; it follows the cancel-window clock when there is one so
// that a test moving that clock moves both. Callers hold s.mu.
func (s *Server) clock() time.Time {
	if s.cancelClock != nil {
		return s.cancelClock()
	}
	return time.Now()
}

func randomHex(bytes int) string {
	b := make([]byte, bytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
