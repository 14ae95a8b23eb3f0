package phone_test

import (
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/phone"
)

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "us number keeps first and last four", in: "14155550100", want: "+1415•••0100"},
		{name: "leading plus is tolerated", in: "+14155550100", want: "+1415•••0100"},
		{name: "longest e164", in: "123456789012345", want: "+1234•••2345"},
		{name: "nine digits still hide three", in: "290123456", want: "+29•••3456"},
		{name: "ten digits still hide three", in: "6834002123", want: "+683•••2123"},
		{name: "eight digits keep the last two", in: "29022001", want: "•••01"},
		{name: "two digits keep one", in: "12", want: "•••2"},
		{name: "one digit keeps none", in: "7", want: "•••"},
		{name: "formatting is dropped", in: "+1 (415) 555-0100", want: "+1415•••0100"},
		{name: "junk without digits is masked", in: "<script>", want: "•••"},
		{name: "non-ascii digits are masked as junk", in: "١٤١٥", want: "•••"},
		{name: "empty stays empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := phone.Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
