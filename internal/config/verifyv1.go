package config

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// v1Locales are the `lg` values the Verify API v1 accepts (spec 1.1.7).
var v1Locales = strings.Fields(`ar-xa cs-cz cy-cy cy-gb da-dk de-de el-gr en-au en-gb en-in en-us es-es es-mx
	es-us fi-fi fil-ph fr-ca fr-fr hi-in hu-hu id-id is-is it-it ja-jp ko-kr nb-no nl-nl pl-pl pt-br pt-pt
	ro-ro ru-ru sv-se th-th tr-tr vi-vn yue-cn zh-cn zh-tw`)

// VonageV1 are Verify v1's own settings; each is sent only when set, so that Vonage's defaults apply
// otherwise.
type VonageV1 struct {
	WorkflowID    int     `env:"VERIFY_WORKFLOW_ID" refuse:"zero" values:"1 to 7" doc:"v1 only: the sequence of SMS and voice calls (1: SMS, voice, voice; 6: SMS only; 7: voice only); unset, Vonage's default (1)."`
	PinExpiry     Seconds `env:"VERIFY_PIN_EXPIRY" refuse:"zero" values:"60 to 3600 seconds (300 or 5m), a whole multiple of VERIFY_NEXT_EVENT_WAIT" doc:"v1 only: how long a code can be checked; unset, Vonage's default (300 seconds)."`
	NextEventWait Seconds `env:"VERIFY_NEXT_EVENT_WAIT" refuse:"zero" values:"60 to 900 seconds (300 or 5m)" doc:"v1 only: how long Vonage waits before the workflow's next SMS or call; unset, Vonage's default (300 seconds)."`
}

var alphanumericSender = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)

// validate checks v1's settings, and v1's rules for the shared ones; with v2 it refuses v1's own,
// whose v2 counterparts differ, so that nobody believes they are in force.
func (v VonageV1) validate(verify Verify) []error {
	var bad problems
	if verify.API == APIv2 {
		if set := whichApply(map[string]bool{
			"VERIFY_WORKFLOW_ID":     v.WorkflowID != 0,
			"VERIFY_PIN_EXPIRY":      v.PinExpiry != 0,
			"VERIFY_NEXT_EVENT_WAIT": v.NextEventWait != 0,
		}); set != "" {
			bad.add("%s only to VONAGE_VERIFY_API=v1; with v2 use VERIFY_WORKFLOW and VERIFY_CHANNEL_TIMEOUT", set)
		}
		return bad
	}
	if verify.API == APIv1 {
		if verify.CodeLength != 0 && verify.CodeLength != 4 && verify.CodeLength != 6 {
			bad.add("VERIFY_CODE_LENGTH must be 4 or 6 with VONAGE_VERIFY_API=v1 (v2 allows 4 to 10), got %d", verify.CodeLength)
		}
		if verify.Locale != "" && !slices.Contains(v1Locales, verify.Locale) {
			bad.add("VERIFY_LOCALE %q is not a locale the Verify API v1 supports (e.g. en-us, en-gb, de-de)", verify.Locale)
		}
	}
	if v.WorkflowID != 0 && (v.WorkflowID < 1 || v.WorkflowID > 7) {
		bad.add("VERIFY_WORKFLOW_ID must be between 1 and 7, got %d", v.WorkflowID)
	}
	pin, wait := v.PinExpiry.Duration(), v.NextEventWait.Duration()
	if pin != 0 && (pin < time.Minute || pin > time.Hour || pin%time.Second != 0) {
		bad.add("VERIFY_PIN_EXPIRY must be whole seconds between 60 and 3600, got %s", pin)
	}
	if wait != 0 && (wait < time.Minute || wait > 15*time.Minute || wait%time.Second != 0) {
		bad.add("VERIFY_NEXT_EVENT_WAIT must be whole seconds between 60 and 900, got %s", wait)
	}
	// Vonage silently shortens pin_expiry to next_event_wait when it is not a multiple of it; say so now
	// rather than let codes expire sooner than the operator expects.
	// Unset, the wait is Vonage's default, and the rule holds against that.
	switch {
	case pin != 0 && wait != 0 && pin%wait != 0:
		bad.add("VERIFY_PIN_EXPIRY (%s) must be a whole multiple of VERIFY_NEXT_EVENT_WAIT (%s)", pin, wait)
	case pin != 0 && wait == 0 && pin%vonageDefaultNextEventWait != 0:
		bad.add("VERIFY_PIN_EXPIRY (%s) must be a whole multiple of VERIFY_NEXT_EVENT_WAIT, which is Vonage's "+
			"default %s when unset; set VERIFY_NEXT_EVENT_WAIT too, or Vonage makes codes live %s",
			pin, vonageDefaultNextEventWait, vonageDefaultNextEventWait)
	}
	// Verify v1's sender_id is at most 11 characters (spec 1.1.7 and 1.2.x), numbers included; a
	// longer one fails every start, so it is refused here.
	if verify.SenderID != "" && !alphanumericSender.MatchString(verify.SenderID) {
		bad.add("VERIFY_SENDER_ID must be 1 to 11 ASCII letters, digits or spaces with VONAGE_VERIFY_API=v1 "+
			"(v2 also takes a number of up to 15 digits), got %q", verify.SenderID)
	}
	return bad
}
