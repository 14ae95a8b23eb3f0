package guard

import (
	"fmt"
	"strings"

	"github.com/verify-proxy/verify-proxy/internal/phone"
)

// Destinations say where codes may be sent. Empty lists mean: every country, and
// DefaultAllowedTypes.
type Destinations struct {
	AllowedCountries []string     // ISO 3166 alpha-2; when set, only these
	BlockedCountries []string     // ISO 3166 alpha-2; never these
	AllowedTypes     []phone.Type // the kinds of line a code may go to
}

// DefaultAllowedTypes are the lines a person answers. Premium rate, shared cost, toll free, UAN,
// voicemail and pager numbers are left out: nobody verifies them, and SMS pumping targets them
// because their owner earns from each message.
var DefaultAllowedTypes = []phone.Type{
	phone.TypeMobile, phone.TypeFixedLine, phone.TypeFixedLineOrMobile, phone.TypeVoIP, phone.TypePersonalNumber,
}

type destinations struct {
	allowed, blocked map[string]bool
	types            map[phone.Type]bool
}

func newDestinations(d Destinations) (destinations, error) {
	if len(d.AllowedCountries) > 0 && len(d.BlockedCountries) > 0 {
		return destinations{}, fmt.Errorf("guard: allowed and blocked countries are exclusive; set one")
	}
	types := d.AllowedTypes
	if len(types) == 0 {
		types = DefaultAllowedTypes
	}
	out := destinations{allowed: set(d.AllowedCountries), blocked: set(d.BlockedCountries), types: map[phone.Type]bool{}}
	for _, t := range types {
		out.types[t] = true
	}
	return out, nil
}

func set(codes []string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[strings.ToUpper(c)] = true
	}
	return m
}

// allow refuses a number whose country or line type the policy does not accept.
func (d destinations) allow(n phone.Number) error {
	region := n.Region
	if region == "" {
		region = fmt.Sprintf("+%d", n.CountryCode) // non-geographic: never in an alpha-2 list
	}
	switch {
	case len(d.allowed) > 0 && !d.allowed[region], d.blocked[region]:
		return &Error{Kind: KindDestinationNotAllowed, Rule: "country",
			Text: fmt.Sprintf("numbers in %s cannot be verified by this service", region)}
	case !d.types[n.Type]:
		return &Error{Kind: KindDestinationNotAllowed, Rule: "number_type",
			Text: fmt.Sprintf("%s numbers cannot be verified by this service", strings.ReplaceAll(string(n.Type), "_", " "))}
	}
	return nil
}
