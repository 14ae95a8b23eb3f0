package phone

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestEveryPhonenumbersTypeHasItsOwnType(t *testing.T) {
	t.Parallel()
	seen := map[Type]phonenumbers.PhoneNumberType{}
	for pt := phonenumbers.FIXED_LINE; pt <= phonenumbers.UNKNOWN; pt++ {
		got := typeOf(pt)
		if prev, ok := seen[got]; ok {
			t.Errorf("phonenumbers types %d and %d both map to %q", prev, pt, got)
		}
		seen[got] = pt
		if (got == TypeUnknown) != (pt == phonenumbers.UNKNOWN) {
			t.Errorf("typeOf(%d) = %q", pt, got)
		}
	}
}
