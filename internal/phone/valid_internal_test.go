package phone

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestAKnownTypeIsValidity: parseValid decides validity by the number's type alone; that must be
// phonenumbers' own IsValidNumber for every number, or Parse would accept or refuse differently.
// Random national numbers of every length behind every calling code, and every region's example
// numbers of every type, are compared.
func TestAKnownTypeIsValidity(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(s string) {
		n, err := phonenumbers.Parse(s, phonenumbers.UNKNOWN_REGION)
		if err != nil {
			return
		}
		if _, _, ok := parseValid(s, phonenumbers.UNKNOWN_REGION); ok != phonenumbers.IsValidNumber(n) {
			t.Errorf("%s: parseValid says %v, IsValidNumber %v", s, ok, !ok)
		}
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for length := 4; length <= 14; length++ {
			for range 3 {
				digits := make([]byte, length)
				for i := range digits {
					digits[i] = byte('0' + rng.IntN(10))
				}
				check("+" + strconv.Itoa(cc) + string(digits))
			}
		}
	}
	for region := range phonenumbers.GetSupportedRegions() {
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
			phonenumbers.PREMIUM_RATE, phonenumbers.VOIP, phonenumbers.SHARED_COST, phonenumbers.PAGER, phonenumbers.UAN} {
			if ex := phonenumbers.GetExampleNumberForType(region, typ); ex != nil {
				check(phonenumbers.Format(ex, phonenumbers.E164))
			}
		}
	}
}
