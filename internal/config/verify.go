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
	Backend    string `env:"VERIFY_BACKEND" envDefault:"vonage" refuse:"empty"`
	API        string `env:"VONAGE_VERIFY_API" envDefault:"v1" refuse:"empty"`
	Brand      string `env:"VERIFY_BRAND" refuse:"empty"`
	CodeLength int    `env:"VERIFY_CODE_LENGTH" refuse:"zero"`
	Locale     string `env:"VERIFY_LOCALE"`
	SenderID   string `env:"VERIFY_SENDER_ID"`
	// DefaultCountry reads numbers without a country code as national numbers of this country.
	DefaultCountry string      `env:"DEFAULT_COUNTRY"`
	TestNumbers    TestNumbers `env:"TEST_NUMBERS"`
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
