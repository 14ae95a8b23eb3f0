package vonagetest

import "sync"

// Log keeps what a fake received, oldest first. It is safe for concurrent use.
type Log[T any] struct {
	clone func(T) T // a deep copy, so that a test cannot change the log through what All returned

	mu      sync.Mutex
	entries []T
}

// NewLog returns an empty log whose entries are copied with clone on the way out.
func NewLog[T any](clone func(T) T) *Log[T] { return &Log[T]{clone: clone} }

// Add records e.
func (l *Log[T]) Add(e T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}

// All returns a copy of every entry so far, oldest first.
func (l *Log[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]T, len(l.entries))
	for i, e := range l.entries {
		out[i] = l.clone(e)
	}
	return out
}
