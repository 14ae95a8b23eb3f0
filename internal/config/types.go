package config

import (
	"fmt"
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
	if n, err := strconv.Atoi(t); err == nil {
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
