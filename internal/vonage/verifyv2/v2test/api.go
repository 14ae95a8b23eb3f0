package v2test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The problem types and texts are Vonage's own where its reference documents them, so that tests which
// show upstream text to an app see the real thing. Vonage documents no text for a request that
// expired by time, for a silent step that failed with no channel after it, nor for check_url opened
// off its step; textExpired, textSilentFailed and textNotSilent are the fake's.
const (
	typeBase = "https://developer.vonage.com/en/api-errors/verify-v2"

	textInvalidCode  = "The code you provided does not match the expected value."
	textTooManyCodes = "An incorrect code has been provided too many times. Workflow terminated."
	textExpired      = "The verification request has expired."
	textConcurrent   = "Concurrent verifications to the same number are not allowed."
	textCancelWindow = "Verification request can't be cancelled within the first 30 seconds."
	titleNoNetwork   = "Network not supported"
	textNoNetwork    = "Device number does not resolve to a supported Mobile Network Operator."
	textWrongDevice  = "Device MSISDN does not match."
	textSilentFailed = "Silent authentication failed. Workflow terminated."
	textNotSilent    = "The verification is not waiting for silent authentication."

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
	channels      = []string{"sms", "voice", "whatsapp", "email", channelSilentAuth, "rcs"}
)

type verification struct {
	id          string
	number      string
	channels    []string        // the workflow's channels, in order
	timeouts    []time.Duration // how long each channel is tried before the next
	step        int             // the index of the channel in use
	stepEnds    time.Time       // when the channel in use gives way to the next
	codeLength  int             // for the code a channel after silent_auth sends
	code        string
	redirectURL string // silent_auth's redirect_url: "" answers check_url's last hop with JSON
	silentUsed  bool   // check_url handed out the silent code: it answers once
	started     time.Time
	expires     time.Time
	wrongCodes  int
	failed      bool // silent_auth failed with no channel after it: still known, every check is 410
	ended       bool // completed, cancelled or failed: Vonage no longer knows it
}

// enter puts v on its channel step from at: that channel gets its whole timeout, and so does each
// channel after it, so a channel given up early does not shorten the rest.
func (v *verification) enter(step int, at time.Time) {
	v.step = step
	v.stepEnds = at.Add(v.timeouts[step])
	v.expires = v.stepEnds
	for _, d := range v.timeouts[step+1:] {
		v.expires = v.expires.Add(d)
	}
}

func (v *verification) onSilentStep() bool { return v.channels[v.step] == channelSilentAuth }

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
	FraudCheck     *bool  `json:"fraud_check"` // accepted; the fake models no fraud check
}

type step struct {
	Channel       string  `json:"channel"`
	To            string  `json:"to"`
	From          string  `json:"from"`
	AppHash       *string `json:"app_hash"`
	Mode          *string `json:"mode"`
	ReuseCode     *bool   `json:"reuse_code"`
	RedirectURL   *string `json:"redirect_url"`
	CoverageCheck *bool   `json:"coverage_check"`
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

	first := req.Workflow[0]
	silent := first.Channel == channelSilentAuth

	s.mu.Lock()
	defer s.mu.Unlock()
	// Vonage looks the number's network up before it creates anything.
	if silent && s.unsupported[number] && (first.CoverageCheck == nil || *first.CoverageCheck) {
		writeProblem(w, http.StatusPreconditionFailed, titleNoNetwork, textNoNetwork, "#precondition-failed")
		return
	}
	now := s.now()
	if id, ok := s.byNumber[number]; ok && s.live(s.byID[id], now) {
		writeProblem(w, http.StatusConflict, "Conflict", textConcurrent, "#concurrent")
		return
	}
	id := uuid.NewString()
	v := &verification{id: id, number: number, codeLength: codeLength, started: now}
	for _, st := range req.Workflow {
		v.channels = append(v.channels, st.Channel)
		// Each channel waits channel_timeout before the next is tried, but Vonage fixes silent_auth's.
		if st.Channel == channelSilentAuth {
			v.timeouts = append(v.timeouts, SilentAuthTimeout)
		} else {
			v.timeouts = append(v.timeouts, timeout)
		}
	}
	v.enter(0, now)
	answer := map[string]string{"request_id": id}
	if silent {
		v.code = s.NewCode(id, silentCodeLength)
		if first.RedirectURL != nil {
			v.redirectURL = *first.RedirectURL
		}
		answer["check_url"] = s.checkURL(id)
	} else {
		v.code = s.NewCode(id, codeLength)
	}
	s.byID[v.id] = v
	s.byNumber[number] = v.id
	writeJSON(w, http.StatusAccepted, "application/json", answer)
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
		if i > 0 && st.Channel == channelSilentAuth {
			invalid(name("channel"), "silent_auth must be the first channel of the workflow")
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
		if st.Mode != nil {
			if modes := channelModes(st.Channel); !slices.Contains(modes, *st.Mode) {
				invalid(name("mode"), fmt.Sprintf("Mode of %s must be one of %v", st.Channel, modes))
			}
		}
		if st.CoverageCheck != nil && st.Channel != channelSilentAuth {
			invalid(name("coverage_check"), "Only for silent_auth")
		}
		switch {
		case st.RedirectURL == nil:
		case st.Channel != channelSilentAuth:
			invalid(name("redirect_url"), "Only for silent_auth")
		case !absoluteHTTPS(*st.RedirectURL):
			invalid(name("redirect_url"), "Must be an absolute https URL without a fragment")
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

// channelModes returns the values Vonage takes for a channel's mode: none for most channels.
func channelModes(channel string) []string {
	switch channel {
	case channelSilentAuth:
		return []string{"standard", "advanced"}
	case "whatsapp":
		return []string{"otp_code", "zero_tap"}
	}
	return nil
}

// absoluteHTTPS reports whether raw is an https URL that Vonage can append its fragment to: one
// that already has a fragment would end up with two.
func absoluteHTTPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != "" && !strings.Contains(raw, "#")
}

// live reports whether v is still in flight at now. Callers hold s.mu.
func (s *Server) live(v *verification, now time.Time) bool {
	return v != nil && !v.ended && !v.failed && now.Before(v.expires)
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
	if !ok || v.ended {
		notFound(w, id)
		return
	}
	now := s.now()
	s.catchUp(v, now)
	switch {
	case v.failed:
		writeProblem(w, http.StatusGone, "Gone", textSilentFailed, "#expired")
		return
	case !now.Before(v.expires):
		s.release(v) // still known, so that every later check also hears it expired
		writeProblem(w, http.StatusGone, "Gone", textExpired, "#expired")
		return
	case req.Code != v.code && v.onSilentStep():
		// A silent code has one attempt: a wrong one fails the step as check_url failing would.
		s.failSilentStep(v, now)
		if v.failed {
			writeProblem(w, http.StatusGone, "Invalid Code", textSilentFailed, "#expired")
			return
		}
		writeProblem(w, http.StatusBadRequest, "Invalid Code", textInvalidCode, "#invalid-code")
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
