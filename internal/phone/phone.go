// Package phone owns what a phone number is inside verify-proxy: it turns the number an app sends
// into the E.164 digits the Verify API expects, decides which country it belongs to and what kind of
// line it is, and masks numbers for logs. Nothing outside this package imports phonenumbers.
package phone

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is returned, wrapped with the reason, for anything that is not a valid phone number.
// Reasons never repeat the number, so the error can be logged and shown to the app as it is.
var ErrInvalid = errors.New("invalid phone number")

const (
	// maxInputLen matches maxLength of PhoneNumber in openapi.yaml.
	maxInputLen = 32
	// maxE164Digits is the E.164 limit. phonenumbers accepts some longer national numbers (German
	// fixed lines with direct-dial extensions, Japanese toll-free) that cannot be dialled from abroad.
	maxE164Digits = 15
)

// Number is a valid phone number.
type Number struct {
	E164        string // E.164 without the '+', e.g. "14155550100": the form the Verify API wants
	Region      string // ISO 3166 alpha-2 code, e.g. "US"; "" for non-geographic numbers such as +800
	CountryCode int    // e.g. 1
	Type        Type
}

// Parser reads phone numbers, falling back to national numbers of one default region. It is
// immutable and safe for concurrent use; the zero value has no default region.
type Parser struct {
	region string // "" or a region phonenumbers supports, upper case
}

// NewParser returns a Parser that reads numbers without a country code as national numbers of
// defaultRegion, an ISO 3166 alpha-2 code in any case. An empty defaultRegion means every number
// must be international.
func NewParser(defaultRegion string) (*Parser, error) {
	if defaultRegion == "" {
		return &Parser{}, nil
	}
	region := strings.ToUpper(defaultRegion)
	// GetCountryCodeForRegion is 0 for "001" (non-geographic), "ZZ" and anything unknown.
	if len(region) != 2 || phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return nil, fmt.Errorf("default region %q is not a supported iso 3166 alpha-2 code", defaultRegion)
	}
	return &Parser{region: region}, nil
}

// Parse reads a phone number as an app sends it. Surrounding white space, and spaces, '-', '.', '('
// and ')' anywhere, are ignored; a leading '+' marks an international number. Digits without '+' are
// first read as an international number, because that is what Vonage expects ("14155550100"), and
// only if that is not a valid number as a national number of the default region, which also
// understands the region's international prefix ("00", "011") and trunk prefix ("0").
//
// A string of digits that is valid both ways is therefore read as international: with default region
// DE, "33123456789" is the French +33 1 23 45 67 89, not a Brandenburg number.
func (p *Parser) Parse(raw string) (Number, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Number{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if utf8.RuneCountInString(s) > maxInputLen {
		return Number{}, fmt.Errorf("%w: longer than %d characters", ErrInvalid, maxInputLen)
	}
	international, digits, err := normalize(s)
	if err != nil {
		return Number{}, err
	}

	// Only ASCII digits reach phonenumbers, so its leniencies (letters as on a keypad, "ext.",
	// a second '+', full-width digits) never apply.
	if n, t, ok := parseValid("+"+digits, phonenumbers.UNKNOWN_REGION); ok {
		return toNumber(n, t)
	}
	switch {
	case international:
		return Number{}, fmt.Errorf("%w: not a valid international number", ErrInvalid)
	case p.region == "":
		return Number{}, fmt.Errorf("%w: not a valid international number and no default region", ErrInvalid)
	}
	if n, t, ok := parseValid(digits, p.region); ok {
		return toNumber(n, t)
	}
	return Number{}, fmt.Errorf("%w: neither a valid international number nor a valid %s number", ErrInvalid, p.region)
}

// normalize checks the characters of s and returns its digits and whether it started with '+'.
func normalize(s string) (international bool, digits string, err error) {
	if s[0] == '+' {
		international = true
		s = s[1:]
	}
	var b strings.Builder
	b.Grow(len(s))
	pos := 0 // in characters, counting from 1 like a person would
	if international {
		pos++
	}
	for _, r := range s {
		pos++
		switch {
		case r >= '0' && r <= '9':
			b.WriteByte(byte(r))
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		case r == '+':
			return false, "", fmt.Errorf("%w: '+' is only allowed at the start", ErrInvalid)
		default:
			// The position, not the character, so that nothing the client sent is echoed.
			return false, "", fmt.Errorf("%w: unexpected character at position %d", ErrInvalid, pos)
		}
	}
	if b.Len() == 0 {
		return false, "", fmt.Errorf("%w: no digits", ErrInvalid)
	}
	return international, b.String(), nil
}

// Readings returns the E.164 digits raw may stand for whether or not it is a valid number, in the
// order Parse tries them: the digits as typed; the international reading (which drops a "(0)" after
// the country code); and, only when that is not a valid number and the default region is set, the
// national reading. Configured test numbers, usually in fictional ranges that Parse refuses, are
// matched against these. A digit string that is a valid international number stands for that number
// alone, as in Parse, so a real number can never be read as someone's test number.
func (p *Parser) Readings(raw string) []string {
	s := strings.TrimSpace(raw)
	if s == "" || utf8.RuneCountInString(s) > maxInputLen {
		return nil
	}
	international, digits, err := normalize(s)
	if err != nil {
		return nil
	}
	readings := []string{digits}
	if n, err := phonenumbers.Parse("+"+digits, phonenumbers.UNKNOWN_REGION); err == nil {
		readings = append(readings, e164Digits(n))
		if phonenumbers.IsValidNumber(n) {
			return readings
		}
	}
	if !international && p.region != "" {
		if n, err := phonenumbers.Parse(digits, p.region); err == nil {
			readings = append(readings, e164Digits(n))
		}
	}
	return readings
}

func e164Digits(n *phonenumbers.PhoneNumber) string {
	return strings.TrimPrefix(phonenumbers.Format(n, phonenumbers.E164), "+")
}

// parseValid parses s and tells its type. A number is valid exactly when its type is known:
// phonenumbers' IsValidNumber is that same test (the region's metadata, then the type's patterns),
// and asking for validity, region and type apart ran the pattern matching, which allocates on every
// pattern, five times a number instead of three (a sixth of a start's CPU under load).
func parseValid(s, region string) (*phonenumbers.PhoneNumber, phonenumbers.PhoneNumberType, bool) {
	n, err := phonenumbers.Parse(s, region)
	if err != nil {
		return nil, phonenumbers.UNKNOWN, false
	}
	t := phonenumbers.GetNumberType(n)
	return n, t, t != phonenumbers.UNKNOWN
}

func toNumber(n *phonenumbers.PhoneNumber, t phonenumbers.PhoneNumberType) (Number, error) {
	e164 := e164Digits(n)
	if len(e164) > maxE164Digits {
		return Number{}, fmt.Errorf("%w: longer than e.164 allows", ErrInvalid)
	}
	region := phonenumbers.GetRegionCodeForNumber(n)
	if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY {
		region = ""
	}
	return Number{
		E164:        e164,
		Region:      region,
		CountryCode: int(n.GetCountryCode()),
		Type:        typeOf(t),
	}, nil
}

// Digits returns the digits of raw once the separators Parse ignores are removed (and a leading
// '+'), or "" when raw holds anything else. It matches configured test numbers, which need not be
// valid numbers.
func Digits(raw string) string {
	s := strings.TrimSpace(raw)
	if s == "" || utf8.RuneCountInString(s) > maxInputLen {
		return ""
	}
	_, digits, err := normalize(s)
	if err != nil {
		return ""
	}
	return digits
}

// KnownRegion reports whether code is an ISO 3166 alpha-2 region with a country calling code.
func KnownRegion(code string) bool {
	return len(code) == 2 && phonenumbers.GetCountryCodeForRegion(strings.ToUpper(code)) != 0
}
