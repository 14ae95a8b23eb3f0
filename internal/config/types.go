package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Seconds is a duration given either as whole seconds ("300", as the Verify API takes it) or as a
// Go duration ("5m").
type Seconds time.Duration

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (s *Seconds) UnmarshalText(text []byte) error {
	t := strings.TrimSpace(string(text))
	if n, err := strconv.ParseInt(t, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// Multiplied past what a Duration holds, a huge count wraps round to a plausible one.
		if err != nil || n > maxWhole(time.Second) || n < -maxWhole(time.Second) {
			return fmt.Errorf("%q is more seconds than a duration holds (about 292 years)", t)
		}
		*s = Seconds(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return fmt.Errorf("%q is neither whole seconds nor a duration such as 5m", t)
	}
	*s = Seconds(d)
	return nil
}

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// Whole returns s in whole seconds, as the Verify API takes it.
func (s Seconds) Whole() int { return int(time.Duration(s) / time.Second) }

// oneOf refuses value unless it is one of allowed, naming the variable and what it may be.
func oneOf[T ~string](bad *problems, name string, value T, allowed []T) {
	if slices.Contains(allowed, value) {
		return
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	bad.add("%s must be one of %s, got %q", name, strings.Join(names, ", "), value)
}

// whichApply lists, in a stable order, the names whose value is true, with the verb that agrees
// ("X applies", "X, Y apply"); "" when none is.
func whichApply(set map[string]bool) string {
	var names []string
	for name, isSet := range set {
		if isSet {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0] + " applies"
	}
	return strings.Join(names, ", ") + " apply"
}

// Days is a duration given as a Go duration ("720h") or in whole days ("30d"), as people count a
// trust that lasts weeks.
type Days time.Duration

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (d *Days) UnmarshalText(text []byte) error {
	t := strings.TrimSpace(string(text))
	if n, ok := strings.CutSuffix(t, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if errors.Is(err, strconv.ErrRange) || days > maxWhole(24*time.Hour) {
			return fmt.Errorf("%q is more days than a duration holds (about 292 years)", t)
		}
		if err != nil || days < 0 {
			return fmt.Errorf("%q is not a whole number of days such as 30d", t)
		}
		*d = Days(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return fmt.Errorf("%q is neither days such as 30d nor a duration such as 720h", t)
	}
	*d = Days(v)
	return nil
}

// Duration returns d as a time.Duration.
func (d Days) Duration() time.Duration { return time.Duration(d) }

// maxWhole is the most whole units a time.Duration holds.
func maxWhole(unit time.Duration) int64 { return math.MaxInt64 / int64(unit) }
