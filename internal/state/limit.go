package state

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxLimitCount bounds N in a limit: a sliding window remembers each admitted call until it leaves
// the window, so N is also the most a key can hold (in memory or in Redis).
const MaxLimitCount = 100_000

// Limit is "at most Count calls in any Window". The zero Limit is off.
type Limit struct {
	Count  int
	Window time.Duration
}

// Off reports whether the limit is disabled.
func (l Limit) Off() bool { return l.Count == 0 }

// String writes the limit as it is configured: "3/10m", or "off".
func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.Count) + "/" + shortDuration(l.Window)
}

// longDuration is a duration written as it should be that time.ParseDuration still refuses: one too
// long for it to hold.
var longDuration = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$`)

// ParseLimit reads "N/duration" (e.g. "30/1m", "3/10m", "1000/24h") or "off".
func ParseLimit(s string) (Limit, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "off") {
		return Limit{}, nil
	}
	count, window, ok := strings.Cut(t, "/")
	if !ok {
		return Limit{}, fmt.Errorf("%q is not N/duration (such as 30/1m) or off", t)
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 || n > MaxLimitCount {
		return Limit{}, fmt.Errorf("%q: N must be a whole number from 1 to %d (use off to disable)", t, MaxLimitCount)
	}
	d, err := time.ParseDuration(strings.TrimSpace(window))
	if err != nil {
		if longDuration.MatchString(strings.TrimSpace(window)) {
			return Limit{}, fmt.Errorf("%q: the duration is longer than a Go duration holds (about 292 years)", t)
		}
		return Limit{}, fmt.Errorf("%q: the duration must be written in s, m or h, like 1m, 10m or 24h (a day is 24h)", t)
	}
	if d < time.Second {
		return Limit{}, fmt.Errorf("%q: the duration must be at least 1s, written like 1m, 10m or 24h", t)
	}
	return Limit{Count: n, Window: d}, nil
}

// UnmarshalText lets configuration read a Limit from the environment.
func (l *Limit) UnmarshalText(text []byte) error {
	parsed, err := ParseLimit(string(text))
	if err != nil {
		return err
	}
	*l = parsed
	return nil
}

// shortDuration drops the zero units time.Duration.String writes ("10m0s" becomes "10m").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
