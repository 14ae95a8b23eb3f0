package server

import (
	"testing"
	"unicode"
)

func TestASCIIForms(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"+1 (415) 555-0100", "+1 (415) 555-0100"},
		{" +14155550100\n", "+14155550100"},
		{"\u202a+1 (415) 555\u20110100\u202c", "+1 (415) 555-0100"}, // an iPhone contact card, copied
		{"+44\u00a020\u00a07183\u00a08750", "+44 20 7183 8750"},
		{"+33\u202f1\u202f23\u202f45\u202f67\u202f89", "+33 1 23 45 67 89"}, // narrow no-break spaces
		{"+1 415\u2013555\u20140100", "+1 415-555-0100"},
		{"\u2212", "-"},
		{"\uff0b\uff11\uff08\uff14\uff11\uff15\uff09\uff15\uff15\uff15\uff0e\uff10\uff11\uff10\uff10", "+1(415)555.0100"},
		{"+٢٠ ١٠٠ ١٢٣ ٤٥٦٧", "+20 100 123 4567"}, // Arabic-Indic
		{"+۹۸ ۹۱۲ ۳۴۵ ۶۷۸۹", "+98 912 345 6789"}, // Persian
		{"+९१ ९८७६५ ४३२१०", "+91 98765 43210"},   // Devanagari
		{"+৮৮০ ১৭১১ ২৩৪৫৬৭", "+880 1711 234567"}, // Bengali
		{"+๖๖ ๘๑ ๒๓๔ ๕๖๗๘", "+66 81 234 5678"},   // Thai
		{"𝟏𝟒𝟏𝟓𝟓𝟓𝟓𝟎𝟏𝟎𝟎", "14155550100"},           // mathematical bold
		{"𝟷𝟺𝟷𝟻𝟻𝟻𝟻𝟶𝟷𝟶𝟶", "14155550100"},           // mathematical monospace, the last of five runs
		{"1\u200b2\u200d3\ufeff4", "1234"},
		{"📞14155550100", "📞14155550100"}, // kept, so the validator refuses it
		{"1415CALLNOW", "1415CALLNOW"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := asciiForms(tt.in); got != tt.want {
			t.Errorf("asciiForms(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDigitValueRestsOnUnicodesDigitRuns checks the fact digitValue relies on, for every decimal
// digit Go knows: each maximal run of digits is whole sets of ten. (The values themselves are
// checked script by script above.)
func TestDigitValueRestsOnUnicodesDigitRuns(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.IsDigit(r) || unicode.IsDigit(r-1) {
			continue
		}
		end := r
		for unicode.IsDigit(end + 1) {
			end++
		}
		if n := end - r + 1; n%10 != 0 {
			t.Errorf("the digits from %U to %U are not whole sets of ten", r, end)
		}
	}
}
