package phone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/phone"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"14155550100", "+1 (415) 555-0100", "+44 20 7183 8750", "447400123456", "020 7183 8750",
		"0049 151 12345678", "011 44 20 7183 8750", "+800 1234 5678", "+39 06 1234 5678", "33123456789",
		"0295 740 865 168 876", "+6834002", "", "+", "++1", "1-800-FLOWERS", "1; DROP TABLE", "<script>",
		"+１４１５５５５０１００", "\u00a014155550100", strings.Repeat("9", 40),
	} {
		f.Add(seed)
	}
	p := mustParser(f, "GB")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := p.Parse(raw)
		if err != nil {
			if !errors.Is(err, phone.ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", raw, err)
			}
			if d := strings.TrimSpace(raw); len(d) > 3 && strings.Contains(err.Error(), d) {
				t.Fatalf("Parse(%q) error %q repeats the input", raw, err)
			}
			return
		}
		// phonenumbers accepts a few real 6- and 7-digit numbers (Niue, Tokelau, St Helena, short
		// Austrian and German fixed lines), so the lower bound is 6, not 8.
		if n := len(got.E164); n < 6 || n > 15 || strings.Trim(got.E164, "0123456789") != "" {
			t.Fatalf("Parse(%q).E164 = %q, want 6 to 15 digits", raw, got.E164)
		}
		again, err := p.Parse("+" + got.E164)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its E164 does not parse: %v", raw, got, err)
		}
		if again != got {
			t.Fatalf("Parse(%q) = %+v, but Parse(\"+%s\") = %+v", raw, got, got.E164, again)
		}
	})
}
