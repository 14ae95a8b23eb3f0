package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
)

// refusedChannels are Verify v2 channels that the contract cannot carry, with the reason a start-up
// error gives.
var refusedChannels = map[string]string{
	"email":       "email sends the code to an email address, and the apps send only a phone number",
	"silent_auth": "silent_auth needs the app to open Vonage's check_url over mobile data, and the contract has no field to hand it over",
	"rcs":         "rcs needs an RCS business agent enabled on the Vonage account as the sender, which verify-proxy has no setting for",
}

var (
	// v2Locale is the shape of Verify v2's `locale` (lower-case language-region, e.g. en-gb, cmn-cn).
	// Vonage's list of v2 languages is longer than v1's, grows, and depends on the channel and on
	// custom templates, so only the shape is checked here; Vonage refuses an unknown one (HTTP 422).
	v2Locale = regexp.MustCompile(`^[a-z]{2,3}-[a-z]{2}$`)
	// v2Brand is Vonage's own rule for `brand`; a brand that breaks it gets HTTP 422 on every request.
	v2Brand = regexp.MustCompile(`^[^/{}:$]*$`)
	// whatsAppSender is a WhatsApp Business number in E.164 digits (the leading + is dropped on load).
	whatsAppSender = regexp.MustCompile(`^[1-9][0-9]{6,14}$`)
	// smsAppHash is the 11-character hash Android's SMS Retriever API computes for an app (base64).
	smsAppHash = regexp.MustCompile(`^[A-Za-z0-9+/]{11}$`)
	// v2's sms `from` is stricter than v1's sender_id: 3 to 11 letters or digits without spaces (as
	// Vonage's own SDKs check it), or a number.
	v2AlphanumericSender = regexp.MustCompile(`^[A-Za-z0-9]{3,11}$`)
)

// normaliseV2 tidies what people type into the v2 variables, before validation.
func (c *Config) normaliseV2() {
	c.VerifyAPI = strings.ToLower(strings.TrimSpace(c.VerifyAPI))
	for i, ch := range c.Workflow {
		c.Workflow[i] = strings.ToLower(strings.TrimSpace(ch))
	}
	if c.VerifyAPI == APIv2 && len(c.Workflow) == 0 {
		c.Workflow = []string{verifyv2.ChannelSMS}
	}
	c.VonageApplicationID = strings.TrimSpace(c.VonageApplicationID)
	// Env files (docker --env-file, CI secret stores, an unquoted .env line) carry a PEM key on one
	// line with its newlines written as the two characters \n.
	c.VonagePrivateKey = strings.ReplaceAll(c.VonagePrivateKey, `\n`, "\n")
	c.WhatsAppFrom = strings.TrimPrefix(strings.TrimSpace(c.WhatsAppFrom), "+")
	c.SMSAppHash = strings.TrimSpace(c.SMSAppHash)
}

// UsesJWT reports whether Verify v2 calls authenticate with an application JWT rather than HTTP
// Basic. When both are configured the JWT wins: it is the one Vonage recommends for v2.
func (c Config) UsesJWT() bool { return c.VonageApplicationID != "" }

// validateV1Only refuses what Verify v1 does not have, so nobody believes a v2 setting is in force.
func (c Config) validateV1Only() []error {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if c.CodeLength != 0 && c.CodeLength != 4 && c.CodeLength != 6 {
		bad("VERIFY_CODE_LENGTH must be 4 or 6 with VONAGE_VERIFY_API=v1 (v2 allows 4 to 10), got %d", c.CodeLength)
	}
	if c.Locale != "" && !slices.Contains(v1Locales, c.Locale) {
		bad("VERIFY_LOCALE %q is not a locale the Verify API v1 supports (e.g. en-us, en-gb, de-de)", c.Locale)
	}
	if set := whichApply(map[string]bool{
		"VERIFY_WORKFLOW":         len(c.Workflow) > 0,
		"VERIFY_WHATSAPP_FROM":    c.WhatsAppFrom != "",
		"VERIFY_CHANNEL_TIMEOUT":  c.ChannelTimeout != 0,
		"VERIFY_SMS_APP_HASH":     c.SMSAppHash != "",
		"VONAGE_APPLICATION_ID":   c.VonageApplicationID != "",
		"VONAGE_PRIVATE_KEY":      c.VonagePrivateKey != "",
		"VONAGE_PRIVATE_KEY_PATH": c.VonagePrivateKeyPath != "",
	}); set != "" {
		bad("%s only to VONAGE_VERIFY_API=v2; set VONAGE_VERIFY_API=v2 or remove them", set)
	}
	return problems
}

// validateV2Only checks the v2 settings and refuses v1's, whose v2 counterparts differ.
func (c Config) validateV2Only() []error {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if set := whichApply(map[string]bool{
		"VERIFY_WORKFLOW_ID":     c.WorkflowID != 0,
		"VERIFY_PIN_EXPIRY":      c.PinExpiry != 0,
		"VERIFY_NEXT_EVENT_WAIT": c.NextEventWait != 0,
	}); set != "" {
		bad("%s only to VONAGE_VERIFY_API=v1; with v2 use VERIFY_WORKFLOW and VERIFY_CHANNEL_TIMEOUT", set)
	}
	if c.CodeLength != 0 && (c.CodeLength < 4 || c.CodeLength > 10) {
		bad("VERIFY_CODE_LENGTH must be between 4 and 10 with VONAGE_VERIFY_API=v2, got %d", c.CodeLength)
	}
	if c.Locale != "" && !v2Locale.MatchString(c.Locale) {
		bad("VERIFY_LOCALE must be a Verify v2 locale such as en-gb, es-mx or cmn-cn, got %q", c.Locale)
	}
	if c.Brand != "" && !v2Brand.MatchString(c.Brand) {
		bad("VERIFY_BRAND must not contain / { } : or $ with VONAGE_VERIFY_API=v2 (Vonage refuses it), got %q", c.Brand)
	}
	if d := c.ChannelTimeout.Duration(); d != 0 && (d < 15*time.Second || d > 15*time.Minute || d%time.Second != 0) {
		bad("VERIFY_CHANNEL_TIMEOUT must be whole seconds between 15 and 900, got %s", d)
	}
	problems = append(problems, c.validateWorkflow()...)
	return problems
}

// validateWorkflow checks VERIFY_WORKFLOW and the per-channel variables that go with it.
func (c Config) validateWorkflow() []error {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if n := len(c.Workflow); n > 3 {
		bad("VERIFY_WORKFLOW may name at most 3 channels, got %d", n)
	}
	for _, ch := range c.Workflow {
		switch {
		case ch == verifyv2.ChannelSMS || ch == verifyv2.ChannelVoice || ch == verifyv2.ChannelWhatsApp:
		case refusedChannels[ch] != "":
			bad("VERIFY_WORKFLOW: %s; use sms, voice or whatsapp", refusedChannels[ch])
		default:
			bad("VERIFY_WORKFLOW: unknown channel %q; use sms, voice or whatsapp, e.g. sms,voice", ch)
		}
	}
	hasSMS := slices.Contains(c.Workflow, verifyv2.ChannelSMS)
	switch hasWhatsApp := slices.Contains(c.Workflow, verifyv2.ChannelWhatsApp); {
	case hasWhatsApp && c.WhatsAppFrom == "":
		bad("VERIFY_WORKFLOW has whatsapp, which needs VERIFY_WHATSAPP_FROM: your WhatsApp Business number")
	case hasWhatsApp && !whatsAppSender.MatchString(c.WhatsAppFrom):
		bad("VERIFY_WHATSAPP_FROM must be a phone number in international format, e.g. 447700900000, got %q", c.WhatsAppFrom)
	case !hasWhatsApp && c.WhatsAppFrom != "":
		bad("VERIFY_WHATSAPP_FROM is set but VERIFY_WORKFLOW has no whatsapp")
	}
	if c.SMSAppHash != "" && !smsAppHash.MatchString(c.SMSAppHash) {
		bad("VERIFY_SMS_APP_HASH must be the 11-character hash of your Android app (SMS Retriever API: "+
			"letters, digits, + and /), got %q", c.SMSAppHash)
	}
	if c.SMSAppHash != "" && !hasSMS {
		bad("VERIFY_SMS_APP_HASH is set but VERIFY_WORKFLOW has no sms")
	}
	// On v2 the sender ID is the sms channel's `from`; without sms it would silently do nothing.
	if c.SenderID != "" && !hasSMS {
		bad("VERIFY_SENDER_ID is the SMS sender, but VERIFY_WORKFLOW has no sms")
	}
	if c.SenderID != "" && !v2AlphanumericSender.MatchString(c.SenderID) && !numericSender.MatchString(c.SenderID) {
		bad("VERIFY_SENDER_ID must be 3 to 11 letters or digits without spaces, or up to 15 digits, "+
			"with VONAGE_VERIFY_API=v2, got %q", c.SenderID)
	}
	return problems
}

// validateV2Credentials checks that exactly one way to authenticate is complete: HTTP Basic with the
// API key and secret, or an application JWT (application id and private key). Half of either is a
// mistake worth stopping for; both complete is fine (the JWT is used).
func (c Config) validateV2Credentials() []error {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	basicKey, basicSecret := c.VonageAPIKey != "", c.VonageAPISecret != ""
	appID, key, keyPath := c.VonageApplicationID != "", c.VonagePrivateKey != "", c.VonagePrivateKeyPath != ""
	switch {
	case basicKey && !basicSecret:
		bad("VONAGE_API_KEY is set without VONAGE_API_SECRET")
	case basicSecret && !basicKey:
		bad("VONAGE_API_SECRET is set without VONAGE_API_KEY")
	}
	switch {
	case key && keyPath:
		bad("set VONAGE_PRIVATE_KEY or VONAGE_PRIVATE_KEY_PATH, not both")
	case appID && !key && !keyPath:
		bad("VONAGE_APPLICATION_ID needs the application's private key in VONAGE_PRIVATE_KEY or VONAGE_PRIVATE_KEY_PATH")
	case !appID && (key || keyPath):
		bad("VONAGE_PRIVATE_KEY and VONAGE_PRIVATE_KEY_PATH need VONAGE_APPLICATION_ID, the application the key belongs to")
	}
	if key && !strings.Contains(c.VonagePrivateKey, "-----BEGIN ") {
		// Never echo the value: it is meant to be a private key.
		bad("VONAGE_PRIVATE_KEY must be the PEM text of the private key (-----BEGIN PRIVATE KEY----- …)")
	}
	var missing []string
	if !appID && !key && !keyPath && !basicKey && !basicSecret {
		missing = append(missing, "VONAGE_API_KEY and VONAGE_API_SECRET, or VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY (or VONAGE_PRIVATE_KEY_PATH)")
	}
	if c.Brand == "" {
		missing = append(missing, "VERIFY_BRAND")
	}
	if len(missing) > 0 {
		bad("VERIFY_BACKEND=vonage with VONAGE_VERIFY_API=v2 needs %s; to try the server without a Vonage account set VERIFY_BACKEND=sandbox",
			strings.Join(missing, "; and "))
	}
	return problems
}

// whichApply lists, in a stable order, the names whose value is true, with the verb that agrees
// ("X applies", "X, Y apply"); "" when none is.
func whichApply(set map[string]bool) string {
	var names []string
	for name, isSet := range set {
		if isSet {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0] + " applies"
	}
	return strings.Join(names, ", ") + " apply"
}
