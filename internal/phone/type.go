package phone

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Type is the kind of line a number belongs to, as far as the numbering plan tells.
type Type string

// The kinds of line phonenumbers tells apart. Which of them can receive a code is not decided here.
const (
	TypeFixedLine         Type = "fixed_line"
	TypeMobile            Type = "mobile"
	TypeFixedLineOrMobile Type = "fixed_line_or_mobile" // plans such as NANP that do not tell them apart
	TypeTollFree          Type = "toll_free"
	TypePremiumRate       Type = "premium_rate"
	TypeSharedCost        Type = "shared_cost"
	TypeVoIP              Type = "voip"
	TypePersonalNumber    Type = "personal_number"
	TypePager             Type = "pager"
	TypeUAN               Type = "uan" // universal access number: one number for a company's offices
	TypeVoicemail         Type = "voicemail"
	TypeUnknown           Type = "unknown"
)

func typeOf(t phonenumbers.PhoneNumberType) Type {
	switch t {
	case phonenumbers.FIXED_LINE:
		return TypeFixedLine
	case phonenumbers.MOBILE:
		return TypeMobile
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return TypeFixedLineOrMobile
	case phonenumbers.TOLL_FREE:
		return TypeTollFree
	case phonenumbers.PREMIUM_RATE:
		return TypePremiumRate
	case phonenumbers.SHARED_COST:
		return TypeSharedCost
	case phonenumbers.VOIP:
		return TypeVoIP
	case phonenumbers.PERSONAL_NUMBER:
		return TypePersonalNumber
	case phonenumbers.PAGER:
		return TypePager
	case phonenumbers.UAN:
		return TypeUAN
	case phonenumbers.VOICEMAIL:
		return TypeVoicemail
	default:
		return TypeUnknown
	}
}

// allTypes lists every Type a valid number can have.
var allTypes = []Type{
	TypeFixedLine, TypeMobile, TypeFixedLineOrMobile, TypeTollFree, TypePremiumRate, TypeSharedCost,
	TypeVoIP, TypePersonalNumber, TypePager, TypeUAN, TypeVoicemail,
}

// ParseType reads a Type by its name ("mobile", "toll_free", ...), in any case.
func ParseType(name string) (Type, error) {
	t := Type(strings.ToLower(strings.TrimSpace(name)))
	if slices.Contains(allTypes, t) {
		return t, nil
	}
	names := make([]string, len(allTypes))
	for i, t := range allTypes {
		names[i] = string(t)
	}
	return "", fmt.Errorf("unknown number type %q; known types: %s", name, strings.Join(names, ", "))
}
