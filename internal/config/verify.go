package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/verify-proxy/verify-proxy/internal/phone"
)

// Backends a server can verify with.
const (
	BackendVonage  = "vonage"
	BackendSandbox = "sandbox"
)

// Verify API versions (VONAGE_VERIFY_API): which Vonage API the vonage backend calls, and which one
// the sandbox stands in for.
const (
	APIv1 = "v1" // Verify Legacy, being sunset by Vonage
	APIv2 = "v2"
)

// Verify is what a verification is, whatever the backend: which backend and API, the message, and
// how the numbers apps send are read.
type Verify struct {
	Backend    string `env:"VERIFY_BACKEND" envDefault:"vonage" refuse:"empty" values:"vonage, sandbox" doc:"Where verifications go: the Vonage Verify API, or the embedded in-memory sandbox, which needs no Vonage account and logs its codes."`
	API        string `env:"VONAGE_VERIFY_API" envDefault:"v1" refuse:"empty" values:"v1, v2" doc:"Which Vonage Verify API is called (v1 is Verify Legacy, which Vonage is sunsetting); the sandbox stands in for the same one."`
	Brand      string `env:"VERIFY_BRAND" refuse:"empty" values:"1 to 18 characters (v2: without / { } : $)" doc:"Your app's name in the message; required with VERIFY_BACKEND=vonage."`
	CodeLength int    `env:"VERIFY_CODE_LENGTH" refuse:"zero" values:"4 or 6 on v1; 4 to 10 on v2" doc:"Digits in the code; unset, Vonage's default (4)."`
	Locale     string `env:"VERIFY_LOCALE" values:"v1: a locale of Vonage's v1 list, e.g. en-us, en-gb, de-de; v2: language-region, e.g. en-gb, cmn-cn" doc:"The message's language; unset, Vonage's default (v1: en-us; v2: chosen from the number)."`
	SenderID   string `env:"VERIFY_SENDER_ID" values:"v1: 1 to 11 letters, digits or spaces; v2: 3 to 11 letters or digits, or an international number of up to 15 digits without + or 00" doc:"Who the SMS says it is from; unset, Vonage's default (v1: VERIFY; v2: the brand)."`
	// DefaultCountry reads numbers without a country code as national numbers of this country.
	DefaultCountry string      `env:"DEFAULT_COUNTRY" values:"an ISO 3166 alpha-2 code, e.g. US or GB" doc:"Read numbers that are not valid international numbers as national numbers of this country; unset, every number must be international."`
	TestNumbers    TestNumbers `env:"TEST_NUMBERS" values:"number:code pairs, comma-separated, e.g. 15555550100:123456,447700900001:0000" doc:"Numbers that are sent nothing and take a fixed code instead, for app reviews and tests."`
}

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

func (v *Verify) normalise() {
	v.Backend = strings.ToLower(strings.TrimSpace(v.Backend))
	v.API = strings.ToLower(strings.TrimSpace(v.API))
	v.DefaultCountry = strings.ToUpper(strings.TrimSpace(v.DefaultCountry))
	v.Locale = strings.ToLower(strings.TrimSpace(v.Locale))
	v.SenderID = strings.TrimSpace(v.SenderID) // spaces inside stay: v1 allows them; around, they are a typing slip
}

func (v Verify) validate() []error {
	var bad problems
	if v.Backend != BackendVonage && v.Backend != BackendSandbox {
		bad.add("VERIFY_BACKEND must be %q or %q, got %q", BackendVonage, BackendSandbox, v.Backend)
	}
	if v.API != APIv1 && v.API != APIv2 {
		bad.add("VONAGE_VERIFY_API must be %q or %q, got %q", APIv1, APIv2, v.API)
	}
	if n := len([]rune(v.Brand)); n > 18 {
		bad.add("VERIFY_BRAND must be at most 18 characters, got %d", n)
	}
	if v.DefaultCountry != "" && !countryCode.MatchString(v.DefaultCountry) {
		bad.add("DEFAULT_COUNTRY must be an ISO 3166 alpha-2 code such as US or GB, got %q", v.DefaultCountry)
	}
	return bad
}

// TestNumbers are TEST_NUMBERS: number:code pairs, comma-separated, read into E.164 digits -> code.
type TestNumbers map[string]string

var testCode = regexp.MustCompile(`^[A-Za-z0-9]{4,10}$`)

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (t *TestNumbers) UnmarshalText(text []byte) error {
	out := TestNumbers{}
	for _, pair := range strings.Split(string(text), ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		number, code, ok := strings.Cut(pair, ":")
		if !ok {
			return fmt.Errorf("%q is not number:code, such as 15555550100:123456", pair)
		}
		// Test numbers need not be valid (fictional ranges are the usual choice), only digits.
		digits := phone.Digits(number)
		if len(digits) < 6 || len(digits) > 15 {
			return fmt.Errorf("%q: the number must have 6 to 15 digits", pair)
		}
		if digits[0] == '0' {
			// A national number would match only when typed exactly so, never as +44 7700 900001.
			return fmt.Errorf("%q: write the number in international form, country code first (447700900001, not 07700900001)", pair)
		}
		code = strings.TrimSpace(code)
		if !testCode.MatchString(code) {
			return fmt.Errorf("number %s: the code must be 4 to 10 letters or digits", digits)
		}
		if _, dup := out[digits]; dup {
			return fmt.Errorf("number %s is listed twice", digits)
		}
		out[digits] = code
	}
	*t = out
	return nil
}
