package phone

import "strings"

const maskFill = "•••"

// Mask shortens a phone number for logs. Phone numbers are personal data, so logs keep only enough
// to correlate lines about the same number: at most the first 4 and the last 4 digits, and always at
// least 3 digits hidden ("14155550100" becomes "+1415•••0100"). With 8 digits or fewer, only the last
// 2 are kept. The fill has a fixed width so it does not give away the length. Any input is masked,
// with or without '+', and characters other than ASCII digits are dropped; only "" comes back as is.
func Mask(e164 string) string {
	if e164 == "" {
		return ""
	}
	digits := make([]byte, 0, len(e164))
	for i := 0; i < len(e164); i++ {
		if c := e164[i]; c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	n := len(digits)
	if n <= 8 {
		keep := min(2, max(n-1, 0)) // never all of them
		return maskFill + string(digits[n-keep:])
	}
	head := min(4, n-4-3)
	var b strings.Builder
	b.Grow(1 + head + len(maskFill) + 4)
	b.WriteByte('+')
	b.Write(digits[:head])
	b.WriteString(maskFill)
	b.Write(digits[n-4:])
	return b.String()
}
