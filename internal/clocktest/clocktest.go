// Package clocktest owns the clock that tests move by hand, so that no test sleeps to make time
// pass: expiry, rate-limit windows and idempotency records are all tested against it.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a clock that moves only when told to. It is safe for concurrent use, since the code under
// test reads it from request goroutines.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock at a fixed, whole-second time.
func New() *Clock {
	return &Clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
