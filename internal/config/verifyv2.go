package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
)

// VonageV2 are Verify v2's own settings: the workflow (the channels tried in turn) and what each
// channel needs.
type VonageV2 struct {
	Workflow       []string `env:"VERIFY_WORKFLOW" refuse:"empty" values:"1 to 3 of silent_auth (first only), sms, voice, whatsapp, comma-separated" doc:"v2 only: the channels tried in turn, e.g. sms,voice or silent_auth,sms; unset, sms alone."`
	WhatsAppFrom   string   `env:"VERIFY_WHATSAPP_FROM" refuse:"empty" values:"an international number, e.g. 447700900000" doc:"v2, required with whatsapp in VERIFY_WORKFLOW: your WhatsApp Business number."`
	ChannelTimeout Seconds  `env:"VERIFY_CHANNEL_TIMEOUT" refuse:"zero" values:"15 to 900 seconds (180 or 3m)" doc:"v2 only: how long each channel waits before the next is tried; unset, Vonage's default (180 seconds)."`
	SMSAppHash     string   `env:"VERIFY_SMS_APP_HASH" values:"11 letters, digits, + or /" doc:"v2, with sms: your Android app's hash, so that the SMS Retriever API reads the code without the user typing it."`
	// SilentAuthRedirectURL is where the check_url's redirects end (Vonage adds the request_id and
	// code); unset, check_url ends in a JSON answer.
	SilentAuthRedirectURL string `env:"VERIFY_SILENT_AUTH_REDIRECT_URL" refuse:"empty" values:"an https URL without a #fragment, at most 2000 characters" doc:"v2, with silent_auth: where check_url's redirects end, with the request_id and code appended; unset, check_url ends in JSON."`
	// FraudCheck false sends fraud_check: false; Vonage honours it only where it enabled that.
	FraudCheck bool `env:"VERIFY_FRAUD_CHECK" envDefault:"true" refuse:"empty" values:"true, false" doc:"v2 only: false asks Vonage to skip its own fraud check, which it honours only on accounts where it enabled that."`
}

// maxRedirectURLLen keeps VERIFY_SILENT_AUTH_REDIRECT_URL to what every browser and HTTP library
// takes in a Location header, with room for the request_id and code Vonage appends.
const maxRedirectURLLen = 2000

// refusedChannels are Verify v2 channels that the contract cannot carry, with the reason a start-up
// error gives.
var refusedChannels = map[string]string{
	"email": "email sends the code to an email address, and the apps send only a phone number",
	"rcs":   "rcs needs an RCS business agent enabled on the Vonage account as the sender, which verify-proxy has no setting for",
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
	digitsOnly           = regexp.MustCompile(`^[0-9]+$`)
	e164Sender           = regexp.MustCompile(`^[1-9][0-9]{1,14}$`)
)

// normalise tidies what people type into the v2 variables, before validation.
func (v *VonageV2) normalise(api string) {
	for i, ch := range v.Workflow {
		v.Workflow[i] = strings.ToLower(strings.TrimSpace(ch))
	}
	if api == APIv2 && len(v.Workflow) == 0 {
		v.Workflow = []string{verifyv2.ChannelSMS}
	}
	v.WhatsAppFrom = strings.TrimPrefix(strings.TrimSpace(v.WhatsAppFrom), "+")
	v.SMSAppHash = strings.TrimSpace(v.SMSAppHash)
	v.SilentAuthRedirectURL = strings.TrimSpace(v.SilentAuthRedirectURL)
}

// SilentAuth reports whether the workflow begins with silent authentication, so that a start can
// answer a check_url.
func (v VonageV2) SilentAuth() bool {
	return len(v.Workflow) > 0 && v.Workflow[0] == verifyv2.ChannelSilentAuth
}

// validate checks v2's settings, v2's rules for the shared ones, and v2's credentials; with v1 it
// refuses v2's own settings and credentials, so that nobody believes they are in force.
func (v VonageV2) validate(verify Verify, vonage Vonage) []error {
	var bad problems
	if verify.API == APIv1 {
		if set := whichApply(map[string]bool{
			"VERIFY_WORKFLOW":                 len(v.Workflow) > 0,
			"VERIFY_WHATSAPP_FROM":            v.WhatsAppFrom != "",
			"VERIFY_CHANNEL_TIMEOUT":          v.ChannelTimeout != 0,
			"VERIFY_SMS_APP_HASH":             v.SMSAppHash != "",
			"VERIFY_SILENT_AUTH_REDIRECT_URL": v.SilentAuthRedirectURL != "",
			"VERIFY_FRAUD_CHECK=false":        !v.FraudCheck,
			"VONAGE_APPLICATION_ID":           vonage.ApplicationID != "",
			"VONAGE_PRIVATE_KEY":              vonage.PrivateKey != "",
			"VONAGE_PRIVATE_KEY_PATH":         vonage.PrivateKeyPath != "",
		}); set != "" {
			bad.add("%s only to VONAGE_VERIFY_API=v2; set VONAGE_VERIFY_API=v2 or remove them", set)
		}
		return bad
	}
	if verify.API != APIv2 {
		return bad
	}
	if verify.Backend == BackendVonage {
		bad = append(bad, v.validateCredentials(vonage, verify.Brand)...)
	}
	if verify.CodeLength != 0 && (verify.CodeLength < 4 || verify.CodeLength > 10) {
		bad.add("VERIFY_CODE_LENGTH must be between 4 and 10 with VONAGE_VERIFY_API=v2, got %d", verify.CodeLength)
	}
	if verify.Locale != "" && !v2Locale.MatchString(verify.Locale) {
		bad.add("VERIFY_LOCALE must be a Verify v2 locale such as en-gb, es-mx or cmn-cn, got %q", verify.Locale)
	}
	if verify.Brand != "" && !v2Brand.MatchString(verify.Brand) {
		bad.add("VERIFY_BRAND must not contain / { } : or $ with VONAGE_VERIFY_API=v2 (Vonage refuses it), got %q", verify.Brand)
	}
	if d := v.ChannelTimeout.Duration(); d != 0 && (d < 15*time.Second || d > 15*time.Minute || d%time.Second != 0) {
		bad.add("VERIFY_CHANNEL_TIMEOUT must be whole seconds between 15 and 900, got %s", d)
	}
	return append(bad, v.validateWorkflow(verify.SenderID)...)
}

// validateWorkflow checks VERIFY_WORKFLOW and the per-channel variables that go with it; senderID is
// the sms channel's `from`.
func (v VonageV2) validateWorkflow(senderID string) []error {
	var bad problems

	if n := len(v.Workflow); n > 3 {
		bad.add("VERIFY_WORKFLOW may name at most 3 channels, got %d", n)
	}
	for i, ch := range v.Workflow {
		switch {
		case ch != "" && slices.Index(v.Workflow, ch) < i:
			bad.add("VERIFY_WORKFLOW names %s twice; each channel is tried once", ch)
		case ch == verifyv2.ChannelSilentAuth && i > 0 && v.Workflow[0] != "":
			bad.add("VERIFY_WORKFLOW: silent_auth must be the first channel (Vonage's rule), e.g. silent_auth,sms")
		case ch == verifyv2.ChannelSilentAuth || ch == verifyv2.ChannelSMS || ch == verifyv2.ChannelVoice || ch == verifyv2.ChannelWhatsApp:
		case refusedChannels[ch] != "":
			bad.add("VERIFY_WORKFLOW: %s; use silent_auth, sms, voice or whatsapp", refusedChannels[ch])
		default:
			bad.add("VERIFY_WORKFLOW: unknown channel %q; use silent_auth (first), sms, voice or whatsapp, e.g. sms,voice", ch)
		}
	}
	bad = append(bad, v.validateSilentAuth()...)
	hasSMS := slices.Contains(v.Workflow, verifyv2.ChannelSMS)
	switch hasWhatsApp := slices.Contains(v.Workflow, verifyv2.ChannelWhatsApp); {
	case hasWhatsApp && v.WhatsAppFrom == "":
		bad.add("VERIFY_WORKFLOW has whatsapp, which needs VERIFY_WHATSAPP_FROM: your WhatsApp Business number")
	case hasWhatsApp && !whatsAppSender.MatchString(v.WhatsAppFrom):
		bad.add("VERIFY_WHATSAPP_FROM must be a phone number in international format, e.g. 447700900000, got %q", v.WhatsAppFrom)
	case !hasWhatsApp && v.WhatsAppFrom != "":
		bad.add("VERIFY_WHATSAPP_FROM is set but VERIFY_WORKFLOW has no whatsapp")
	}
	if v.SMSAppHash != "" && !smsAppHash.MatchString(v.SMSAppHash) {
		bad.add("VERIFY_SMS_APP_HASH must be the 11-character hash of your Android app (SMS Retriever API: "+
			"letters, digits, + and /), got %q", v.SMSAppHash)
	}
	if v.SMSAppHash != "" && !hasSMS {
		bad.add("VERIFY_SMS_APP_HASH is set but VERIFY_WORKFLOW has no sms")
	}
	// On v2 the sender ID is the sms channel's `from`; without sms it would silently do nothing.
	if senderID != "" && !hasSMS {
		bad.add("VERIFY_SENDER_ID is the SMS sender, but VERIFY_WORKFLOW has no sms")
	}
	// Verify v2's FromSms (1.0.1): up to 11 letters and digits, or a number in E.164 (no + or 00).
	switch {
	case senderID == "":
	case digitsOnly.MatchString(senderID) && !e164Sender.MatchString(senderID):
		bad.add("VERIFY_SENDER_ID: a numeric sender must be an international number without + or 00, "+
			"2 to 15 digits starting with the country code (e.g. 447700900000), got %q", senderID)
	case !digitsOnly.MatchString(senderID) && !v2AlphanumericSender.MatchString(senderID):
		bad.add("VERIFY_SENDER_ID must be 3 to 11 letters or digits without spaces, or an international number "+
			"of up to 15 digits, with VONAGE_VERIFY_API=v2, got %q", senderID)
	}
	return bad
}

// validateSilentAuth checks the redirect URL that goes with silent_auth.
func (v VonageV2) validateSilentAuth() []error {
	var bad problems
	raw := v.SilentAuthRedirectURL
	if raw == "" {
		return bad
	}
	if !slices.Contains(v.Workflow, verifyv2.ChannelSilentAuth) {
		bad.add("VERIFY_SILENT_AUTH_REDIRECT_URL is set but VERIFY_WORKFLOW has no silent_auth")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		// The code travels in this URL: never over plain http.
		bad.add("VERIFY_SILENT_AUTH_REDIRECT_URL must be an https URL such as https://app.example.com/verified, got %q", raw)
	case u.User != nil:
		bad.add("VERIFY_SILENT_AUTH_REDIRECT_URL must not carry a user or password")
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		bad.add("VERIFY_SILENT_AUTH_REDIRECT_URL must not have a #fragment: Vonage appends the request_id and code as one")
	case len(raw) > maxRedirectURLLen:
		bad.add("VERIFY_SILENT_AUTH_REDIRECT_URL must be at most %d characters, got %d", maxRedirectURLLen, len(raw))
	case strings.ContainsAny(raw, " \t\n\"<>\\^`{|}") || !ascii(raw):
		bad.add("VERIFY_SILENT_AUTH_REDIRECT_URL must be a URL without spaces or unescaped special characters "+
			"(a non-ASCII host in its xn-- form, other characters %%-escaped), got %q", raw)
	case !validPort(u.Port()):
		bad.add("VERIFY_SILENT_AUTH_REDIRECT_URL has port %s, which is not a port (1 to 65535)", u.Port())
	}
	return bad
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// validateV2Credentials checks that exactly one way to authenticate is complete: HTTP Basic with the
// API key and secret, or an application JWT (application id and private key). Half of either is a
// mistake worth stopping for; both complete is fine (the JWT is used).
func (v VonageV2) validateCredentials(vonage Vonage, brand string) []error {
	var bad problems

	basicKey, basicSecret := vonage.APIKey != "", vonage.APISecret != ""
	appID, key, keyPath := vonage.ApplicationID != "", vonage.PrivateKey != "", vonage.PrivateKeyPath != ""
	switch {
	case basicKey && !basicSecret:
		bad.add("VONAGE_API_KEY is set without VONAGE_API_SECRET")
	case basicSecret && !basicKey:
		bad.add("VONAGE_API_SECRET is set without VONAGE_API_KEY")
	}
	switch {
	case key && keyPath:
		bad.add("set VONAGE_PRIVATE_KEY or VONAGE_PRIVATE_KEY_PATH, not both")
	case appID && !key && !keyPath:
		bad.add("VONAGE_APPLICATION_ID needs the application's private key in VONAGE_PRIVATE_KEY or VONAGE_PRIVATE_KEY_PATH")
	case !appID && (key || keyPath):
		bad.add("VONAGE_PRIVATE_KEY and VONAGE_PRIVATE_KEY_PATH need VONAGE_APPLICATION_ID, the application the key belongs to")
	}
	if key && !strings.Contains(vonage.PrivateKey, "-----BEGIN ") {
		// Never echo the value: it is meant to be a private key.
		bad.add("VONAGE_PRIVATE_KEY must be the PEM text of the private key (-----BEGIN PRIVATE KEY----- …)")
	}
	var missing []string
	if !appID && !key && !keyPath && !basicKey && !basicSecret {
		missing = append(missing, "VONAGE_API_KEY and VONAGE_API_SECRET, or VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY (or VONAGE_PRIVATE_KEY_PATH)")
	}
	if brand == "" {
		missing = append(missing, "VERIFY_BRAND")
	}
	if len(missing) > 0 {
		bad.add("VERIFY_BACKEND=vonage with VONAGE_VERIFY_API=v2 needs %s; to try the server without a Vonage account set VERIFY_BACKEND=sandbox",
			strings.Join(missing, "; and "))
	}
	return bad
}
