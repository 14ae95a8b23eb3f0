package v2test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The problem types and texts are Vonage's own where its reference documents them, so that tests which
// show upstream text to an app see the real thing. Vonage documents no text for a request that
// expired by time; textExpired is the fake's.
const (
	typeBase = "https://developer.vonage.com/en/api-errors/verify-v2"

	textInvalidCode  = "The code you provided does not match the expected value."
	textTooManyCodes = "An incorrect code has been provided too many times. Workflow terminated."
	textExpired      = "The verification request has expired."
	textConcurrent   = "Concurrent verifications to the same number are not allowed."
	textCancelWindow = "Verification request can't be cancelled within the first 30 seconds."

	maxWrongCodes         = 3
	defaultCodeLength     = 4
	defaultChannelTimeout = 180 * time.Second
	cancelWindow          = 30 * time.Second
)

var (
	brandPattern  = regexp.MustCompile(`^[^/{}:$]{1,18}$`)
	phonePattern  = regexp.MustCompile(`^[1-9][0-9]{0,49}$`) // E.164 without + or 00
	localePattern = regexp.MustCompile(`^[a-z]{2,3}-[a-z]{2}$`)
	smsSender     = regexp.MustCompile(`^([A-Za-z0-9 ]{1,11}|[0-9]{1,15})$`)
	channels      = []string{"sms", "voice", "whatsapp", "email", "silent_auth", "rcs"}
)

type verification struct {
	id         string
	number     string
	code       string
	started    time.Time
	expires    time.Time
	wrongCodes int
	ended      bool // completed, cancelled or failed: Vonage no longer knows it
}

// problem is an RFC 7807 body as Verify v2 sends it.
type problem struct {
	Type              string         `json:"type"`
	Title             string         `json:"title"`
	Detail            string         `json:"detail"`
	Instance          string         `json:"instance"`
	InvalidParameters []invalidParam `json:"invalid_parameters,omitempty"`
}

type invalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeProblem(w http.ResponseWriter, status int, title, detail, fragment string) {
	writeJSON(w, status, "application/problem+json", problem{
		Type: typeBase + fragment, Title: title, Detail: detail, Instance: uuid.NewString(),
	})
}

func writeInvalid(w http.ResponseWriter, params ...invalidParam) {
	writeJSON(w, http.StatusUnprocessableEntity, "application/problem+json", problem{
		Type:              "https://developer.vonage.com/en/api-errors#invalid-params",
		Title:             "Invalid params",
		Detail:            "The value of one or more parameters is invalid.",
		Instance:          uuid.NewString(),
		InvalidParameters: params,
	})
}

// decodeJSON reads body strictly: a field Vonage does not know is refused, so a client that misspells
// one finds out in tests.
func decodeJSON(w http.ResponseWriter, r *http.Request, body []byte, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", "The request body must be application/json.", "#unsupported-media-type")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeInvalid(w, invalidParam{Name: "body", Reason: err.Error()})
		return false
	}
	return true
}

type startRequest struct {
	Brand          string `json:"brand"`
	Workflow       []step `json:"workflow"`
	Locale         string `json:"locale"`
	ChannelTimeout *int   `json:"channel_timeout"`
	CodeLength     *int   `json:"code_length"`
	ClientRef      string `json:"client_ref"`
}

type step struct {
	Channel   string  `json:"channel"`
	To        string  `json:"to"`
	From      string  `json:"from"`
	AppHash   *string `json:"app_hash"`
	Mode      string  `json:"mode"`
	ReuseCode *bool   `json:"reuse_code"`
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, body []byte) {
	var req startRequest
	if !decodeJSON(w, r, body, &req) {
		return
	}
	if bad := validateStart(req); len(bad) > 0 {
		writeInvalid(w, bad...)
		return
	}
	number := req.Workflow[0].To
	codeLength := defaultCodeLength
	if req.CodeLength != nil {
		codeLength = *req.CodeLength
	}
	timeout := defaultChannelTimeout
	if req.ChannelTimeout != nil {
		timeout = time.Duration(*req.ChannelTimeout) * time.Second
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if id, ok := s.byNumber[number]; ok && s.live(s.byID[id], now) {
		writeProblem(w, http.StatusConflict, "Conflict", textConcurrent, "#concurrent")
		return
	}
	id := uuid.NewString()
	v := &verification{
		id:      id,
		number:  number,
		code:    s.NewCode(id, codeLength),
		started: now,
		// Each channel waits channel_timeout before the next is tried; after the last, it is over.
		expires: now.Add(timeout * time.Duration(len(req.Workflow))),
	}
	s.byID[v.id] = v
	s.byNumber[number] = v.id
	writeJSON(w, http.StatusAccepted, "application/json", map[string]string{"request_id": v.id})
}

// validateStart checks a start request as Verify v2's reference describes it.
func validateStart(req startRequest) []invalidParam {
	var bad []invalidParam
	invalid := func(name, reason string) { bad = append(bad, invalidParam{Name: name, Reason: reason}) }

	if !brandPattern.MatchString(req.Brand) {
		invalid("brand", "Brand is required, 1 to 18 characters, without / { } : $")
	}
	if n := len(req.Workflow); n < 1 || n > 3 {
		invalid("workflow", "Workflow must have 1 to 3 items")
	}
	for i, st := range req.Workflow {
		name := func(field string) string { return fmt.Sprintf("workflow[%d].%s", i, field) }
		known := false
		for _, c := range channels {
			known = known || st.Channel == c
		}
		if !known {
			invalid(name("channel"), "Unknown channel")
			continue
		}
		if i > 0 && st.To != req.Workflow[0].To && st.Channel != "email" {
			invalid(name("to"), "The fake expects one number per workflow")
		}
		switch {
		case st.Channel == "email" && !strings.Contains(st.To, "@"):
			invalid(name("to"), "Must be an email address")
		case st.Channel != "email" && !phonePattern.MatchString(st.To):
			invalid(name("to"), "Must be an E.164 number without + or 00")
		}
		switch st.Channel {
		case "whatsapp":
			if !phonePattern.MatchString(st.From) || len(st.From) > 15 {
				invalid(name("from"), "WhatsApp needs the WABA number as from")
			}
		case "rcs":
			if st.From == "" {
				invalid(name("from"), "RCS needs from")
			}
		case "sms":
			if st.From != "" && !smsSender.MatchString(st.From) {
				invalid(name("from"), "Up to 11 alphanumeric or 15 numeric characters")
			}
		case "voice":
			if st.From != "" {
				invalid(name("from"), "Voice takes no from")
			}
		}
		if st.AppHash != nil && (st.Channel != "sms" || len(*st.AppHash) != 11) {
			invalid(name("app_hash"), "Only for sms, exactly 11 characters")
		}
	}
	if req.CodeLength != nil && (*req.CodeLength < 4 || *req.CodeLength > 10) {
		invalid("code_length", "Must be between 4 and 10")
	}
	if req.ChannelTimeout != nil && (*req.ChannelTimeout < 15 || *req.ChannelTimeout > 900) {
		invalid("channel_timeout", "Must be between 15 and 900")
	}
	if req.Locale != "" && !localePattern.MatchString(req.Locale) {
		invalid("locale", "Unsupported locale")
	}
	return bad
}

// live reports whether v is still in flight at now. Callers hold s.mu.
func (s *Server) live(v *verification, now time.Time) bool {
	return v != nil && !v.ended && now.Before(v.expires)
}

// release lets the number of v start a new verification. Callers hold s.mu.
func (s *Server) release(v *verification) {
	if s.byNumber[v.number] == v.id {
		delete(s.byNumber, v.number)
	}
}

// end makes v unknown from now on, as Vonage forgets a verification that completed, failed or was
// cancelled. Callers hold s.mu.
func (s *Server) end(v *verification) {
	v.ended = true
	s.release(v)
}

func notFound(w http.ResponseWriter, id string) {
	writeProblem(w, http.StatusNotFound, "Not Found",
		fmt.Sprintf("Request '%s' was not found or it has been verified already.", id), "#request-not-found")
}

func (s *Server) check(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	var req struct {
		Code string `json:"code"`
	}
	if !decodeJSON(w, r, body, &req) {
		return
	}
	if n := len(req.Code); n < 4 || n > 10 {
		writeInvalid(w, invalidParam{Name: "code", Reason: "Must be 4 to 10 characters"})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[id]
	switch {
	case !ok || v.ended:
		notFound(w, id)
		return
	case !s.now().Before(v.expires):
		s.release(v) // still known, so that every later check also hears it expired
		writeProblem(w, http.StatusGone, "Gone", textExpired, "#expired")
		return
	case req.Code != v.code:
		v.wrongCodes++
		if v.wrongCodes >= maxWrongCodes {
			s.end(v)
			writeProblem(w, http.StatusGone, "Invalid Code", textTooManyCodes, "#expired")
			return
		}
		writeProblem(w, http.StatusBadRequest, "Invalid Code", textInvalidCode, "#invalid-code")
		return
	}
	s.end(v)
	writeJSON(w, http.StatusOK, "application/json", map[string]string{"request_id": id, "status": "completed"})
}

func (s *Server) cancel(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[id]
	now := s.now()
	switch {
	case !ok || !s.live(v, now):
		notFound(w, id)
		return
	case s.cancelWindow && now.Sub(v.started) < cancelWindow:
		writeProblem(w, http.StatusConflict, "Conflict", textCancelWindow, "#conflict")
		return
	}
	s.end(v)
	w.WriteHeader(http.StatusNoContent)
}
