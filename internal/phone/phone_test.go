package phone_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/phone"
)

func mustParser(t testing.TB, region string) *phone.Parser {
	t.Helper()
	p, err := phone.NewParser(region)
	if err != nil {
		t.Fatalf("NewParser(%q): %v", region, err)
	}
	return p
}

func TestParseAcceptsValidNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		region string // default region of the parser
		raw    string
		want   phone.Number
	}{
		{
			name: "bare digits are read as international, as Vonage expects",
			raw:  "14155550100",
			want: phone.Number{E164: "14155550100", Region: "US", CountryCode: 1, Type: phone.TypeFixedLineOrMobile},
		},
		{
			name: "formatting characters after a plus are ignored",
			raw:  "+1 (415) 555-0100",
			want: phone.Number{E164: "14155550100", Region: "US", CountryCode: 1, Type: phone.TypeFixedLineOrMobile},
		},
		{
			name: "dots are ignored and surrounding white space trimmed",
			raw:  " \t+1.415.555.0100\n",
			want: phone.Number{E164: "14155550100", Region: "US", CountryCode: 1, Type: phone.TypeFixedLineOrMobile},
		},
		{
			name: "london fixed line with plus",
			raw:  "+44 20 7183 8750",
			want: phone.Number{E164: "442071838750", Region: "GB", CountryCode: 44, Type: phone.TypeFixedLine},
		},
		{
			name: "uk mobile as bare digits",
			raw:  "447400123456",
			want: phone.Number{E164: "447400123456", Region: "GB", CountryCode: 44, Type: phone.TypeMobile},
		},
		{
			name: "trunk prefix written after the country code is dropped",
			raw:  "+44 (0)20 7183 8750",
			want: phone.Number{E164: "442071838750", Region: "GB", CountryCode: 44, Type: phone.TypeFixedLine},
		},
		{
			name:   "national number with trunk prefix uses the default region",
			region: "GB",
			raw:    "020 7183 8750",
			want:   phone.Number{E164: "442071838750", Region: "GB", CountryCode: 44, Type: phone.TypeFixedLine},
		},
		{
			name:   "national mobile with trunk prefix uses the default region",
			region: "GB",
			raw:    "07400 123456",
			want:   phone.Number{E164: "447400123456", Region: "GB", CountryCode: 44, Type: phone.TypeMobile},
		},
		{
			name:   "default region's international prefix 00 reaches another country",
			region: "GB",
			raw:    "0049 151 12345678",
			want:   phone.Number{E164: "4915112345678", Region: "DE", CountryCode: 49, Type: phone.TypeMobile},
		},
		{
			name:   "default region's international prefix 011 reaches another country",
			region: "US",
			raw:    "011 44 20 7183 8750",
			want:   phone.Number{E164: "442071838750", Region: "GB", CountryCode: 44, Type: phone.TypeFixedLine},
		},
		{
			name:   "ten nanp digits without country code use the default region",
			region: "US",
			raw:    "(415) 555-0100",
			want:   phone.Number{E164: "14155550100", Region: "US", CountryCode: 1, Type: phone.TypeFixedLineOrMobile},
		},
		{
			// As German national digits this would be +49 33123 456789, also valid.
			name:   "digits valid as an international number win over the national reading",
			region: "DE",
			raw:    "33123456789",
			want:   phone.Number{E164: "33123456789", Region: "FR", CountryCode: 33, Type: phone.TypeFixedLine},
		},
		{
			name: "german 151 number is a mobile",
			raw:  "+49 151 12345678",
			want: phone.Number{E164: "4915112345678", Region: "DE", CountryCode: 49, Type: phone.TypeMobile},
		},
		{
			name: "us 800 number is toll free",
			raw:  "+1 800 555 0199",
			want: phone.Number{E164: "18005550199", Region: "US", CountryCode: 1, Type: phone.TypeTollFree},
		},
		{
			name: "us 900 number is premium rate",
			raw:  "+1 900 555 0100",
			want: phone.Number{E164: "19005550100", Region: "US", CountryCode: 1, Type: phone.TypePremiumRate},
		},
		{
			name: "italian leading zero is kept in e164",
			raw:  "+39 06 1234 5678",
			want: phone.Number{E164: "390612345678", Region: "IT", CountryCode: 39, Type: phone.TypeFixedLine},
		},
		{
			name: "international freephone has no region",
			raw:  "+800 1234 5678",
			want: phone.Number{E164: "80012345678", Region: "", CountryCode: 800, Type: phone.TypeTollFree},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mustParser(t, tt.region).Parse(tt.raw)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseRejectsInvalidInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		region string
		raw    string
		reason string // part of the error message after "invalid phone number: "
	}{
		{name: "empty", raw: "", reason: "empty"},
		{name: "only white space", raw: "   ", reason: "empty"},
		{name: "a lone plus has no digits", raw: "+", reason: "no digits"},
		{name: "only formatting characters", raw: "(-.)", reason: "no digits"},
		{name: "letters", raw: "1-800-FLOWERS", reason: "unexpected character at position 7"},
		{name: "extension", raw: "+1 415 555 0100 ext 5", reason: "unexpected character"},
		{name: "plus not at the start", raw: "1+4155550100", reason: "'+' is only allowed at the start"},
		{name: "double plus", raw: "++4915112345678", reason: "'+' is only allowed at the start"},
		{name: "longer than 32 characters", raw: "+1 415 555 0100 0000 0000 0000 000", reason: "longer than 32 characters"},
		{name: "sql injection", raw: "14155550100; DROP TABLE", reason: "unexpected character at position 12"},
		{name: "html injection", raw: "<script>", reason: "unexpected character at position 1"},
		{name: "percent-encoded plus", raw: "%2B14155550100", reason: "unexpected character at position 1"},
		{name: "full-width digits", raw: "+１４１５５５５０１００", reason: "unexpected character at position 2"},
		{name: "arabic-indic digits", raw: "١٤١٥٥٥٥٠١٠٠", reason: "unexpected character at position 1"},
		{name: "non-breaking space inside", raw: "+1\u00a0415 555 0100", reason: "unexpected character at position 3"},
		{name: "unknown country code", raw: "+999 1234 5678", reason: "not a valid international number"},
		{name: "00 is not a country code", raw: "+0049 151 12345678", reason: "not a valid international number"},
		{name: "too few digits for the country", raw: "+1 415 555", reason: "not a valid international number"},
		{name: "uk drama number is not valid", raw: "+44 7700 900123", reason: "not a valid international number"},
		{
			name:   "national number without default region",
			raw:    "020 7183 8750",
			reason: "not a valid international number and no default region",
		},
		{
			name:   "national number of another region",
			region: "US",
			raw:    "020 7183 8750",
			reason: "neither a valid international number nor a valid US number",
		},
		{
			name:   "valid for phonenumbers but longer than e.164",
			region: "DE",
			raw:    "0295 740 865 168 876",
			reason: "longer than e.164 allows",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mustParser(t, tt.region).Parse(tt.raw)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.raw, got)
			}
			if !errors.Is(err, phone.ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tt.raw, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid phone number: "+tt.reason) {
				t.Errorf("Parse(%q) error %q, want reason %q", tt.raw, msg, tt.reason)
			}
			if digits := strings.Trim(tt.raw, " +"); len(digits) > 3 && strings.Contains(err.Error(), digits) {
				t.Errorf("Parse(%q) error %q repeats the input", tt.raw, err)
			}
		})
	}
}

func TestNewParser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		region string
		ok     bool
	}{
		{name: "empty means no default region", region: "", ok: true},
		{name: "lower-case code is accepted", region: "gb", ok: true},
		{name: "upper-case code is accepted", region: "DE", ok: true},
		{name: "unassigned code is rejected", region: "XX", ok: false},
		{name: "three-letter code is rejected", region: "usa", ok: false},
		{name: "unknown region ZZ is rejected", region: "ZZ", ok: false},
		{name: "non-geographic 001 is rejected", region: "001", ok: false},
		{name: "padded code is rejected", region: " GB", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := phone.NewParser(tt.region)
			if tt.ok && (err != nil || p == nil) {
				t.Fatalf("NewParser(%q) = %v, %v, want a parser", tt.region, p, err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("NewParser(%q) succeeded, want an error", tt.region)
			}
		})
	}
}

func TestLowerCaseRegionIsUsedAsDefault(t *testing.T) {
	t.Parallel()
	got, err := mustParser(t, "gb").Parse("020 7183 8750")
	if err != nil || got.E164 != "442071838750" {
		t.Fatalf("Parse = %+v, %v, want 442071838750", got, err)
	}
}

func TestZeroParserHasNoDefaultRegion(t *testing.T) {
	t.Parallel()
	var p phone.Parser
	if _, err := p.Parse("020 7183 8750"); !errors.Is(err, phone.ErrInvalid) {
		t.Errorf("national number without region: err = %v, want ErrInvalid", err)
	}
	if got, err := p.Parse("14155550100"); err != nil || got.E164 != "14155550100" {
		t.Errorf("international number: %+v, %v", got, err)
	}
}

func TestParseIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	p := mustParser(t, "GB")
	inputs := []string{"14155550100", "020 7183 8750", "0049 151 12345678", "+800 1234 5678", "+999", "<script>"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				for _, in := range inputs {
					_, _ = p.Parse(in)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkParse(b *testing.B) {
	p := mustParser(b, "GB")
	cases := []struct{ name, raw string }{
		{"international with plus", "+1 (415) 555-0100"},
		{"international digits", "14155550100"},
		{"national after international fails", "020 7183 8750"},
		{"invalid characters", "1; DROP TABLE"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = p.Parse(c.raw)
			}
		})
	}
}

// TestReadings: what a fictional test number may be typed as, and the one thing it may never do:
// read a valid international number as another (test) number.
func TestReadings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, region, raw string
		want              []string
	}{
		{"digits as typed, and their international reading", "", "15555550100", []string{"15555550100", "15555550100"}},
		{"a (0) after the country code is dropped", "", "+44 (0)7700 900001", []string{"4407700900001", "447700900001"}},
		{"a national number of the default region", "GB", "07700 900001", []string{"07700900001", "447700900001"}},
		{"NANP national format", "US", "(555) 555-0100", []string{"5555550100", "5555550100", "15555550100"}},
		{"the region's international prefix", "GB", "001 555 555 0100", []string{"0015555550100", "15555550100"}},
		{"a valid international number stands for itself only", "GB", "33123456789", []string{"33123456789", "33123456789"}},
		{"with + there is no national reading", "GB", "+07700 900001", []string{"07700900001"}},
		{"not a number at all", "GB", "0770 CALL NOW", nil},
		{"empty", "GB", " ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mustParser(t, tt.region).Readings(tt.raw); !slices.Equal(got, tt.want) {
				t.Errorf("Readings(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}
