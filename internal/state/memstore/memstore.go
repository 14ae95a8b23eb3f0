// Package memstore owns the shared state in one process: sliding-window counters, idempotency
// records, test-number sessions, started verifications and the fraud guard's counts, behind one
// mutex, so each operation is atomic. It is the default when no Redis is configured; with several
// replicas each would count alone, so they need redisstore instead. Time comes from an injected
// clock, so tests never sleep.
//
// Its memory has a ceiling (MaxKeys): past it, keys that guard no spend are dropped, least recently
// used first, and when none is left a write fails with state.ErrFull rather than forget a key that
// does (keys.go). Expired keys leave in the order they expire, a batch per call, so that no call
// waits behind a sweep of everything.
package memstore

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// Store is an in-memory state.Store. It is safe for concurrent use.
type Store struct {
	now      func() time.Time
	maxKeys  int // 0: no ceiling
	headroom int // keys a start's first writes leave free (headroomShare)

	mu            sync.Mutex
	windows       map[string]*window
	records       map[string]*record
	sessions      map[string]*session
	verifications map[string]*verification
	packed        map[packedID]packed // most verifications, without pointers (packed.go)
	packedQueue   packedQueue
	fraud         map[string]*fraudKey
	blocks        map[string]state.Block // counted, kept; EndBlocks ends them
	strikes       map[string]*strikes
	queue         expiryQueue
	lists         [classes]list
	used, kept    int    // the keys held, as they count against maxKeys; kept: those of class keep
	evicted       uint64 // keys dropped early to make room
	refused       uint64 // writes refused for want of room
	swept         uint64 // keys the queue looked at (tests count the work of a sweep by it)
	lastCall      uint64 // names each admitted call, for Refund
}

var _ state.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// MaxKeys bounds what the store holds to n keys (keys.go says what counts as one); n <= 0 means no
// ceiling, which is also what a store has without this option.
func MaxKeys(n int) Option {
	return func(s *Store) {
		s.maxKeys = max(n, 0)
		s.headroom = max(s.maxKeys/headroomShare, 1)
	}
}

// window holds the calls admitted within the last span, oldest first.
type window struct {
	entry
	span  time.Duration
	calls []call
}

// call is one admitted call: when (Unix nanoseconds) and which.
type call struct {
	at int64
	id uint64
}

func (w *window) cost() int { return 1 + len(w.calls)/callsPerKey }

// New returns an empty store reading time from now (nil means time.Now).
func New(now func() time.Time, opts ...Option) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{
		now:      now,
		windows:  make(map[string]*window),
		records:  make(map[string]*record),
		sessions: make(map[string]*session),

		verifications: make(map[string]*verification),
		packed:        make(map[packedID]packed),
		fraud:         make(map[string]*fraudKey),
		blocks:        make(map[string]state.Block),
		strikes:       make(map[string]*strikes),
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Take implements state.Limiter with sliding windows: a call is admitted when fewer than Count
// calls were admitted in the Window before it.
func (s *Store) Take(_ context.Context, rules []state.Rule) (state.Decision, error) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)

	need, kept := 0, 0 // the keys an admitted call adds
	for i, r := range rules {
		w := s.windows[r.Key]
		if w == nil {
			need++
			if !r.Evictable {
				kept++
			}
			continue
		}
		w.span = max(w.span, r.Limit.Window)
		s.drop(w, now, r.Limit.Window)
		if used := len(w.calls); used >= r.Limit.Count {
			// Room comes back when the call that put the window at its limit leaves it.
			oldest := w.calls[used-r.Limit.Count].at
			return state.Decision{Rule: i, RetryAfter: time.Duration(oldest + int64(r.Limit.Window) - now)}, nil
		}
		if (len(w.calls)+1)/callsPerKey > len(w.calls)/callsPerKey {
			need++
			if w.class == keep {
				kept++
			}
		}
		s.touch(&w.entry) // so that making room below drops other keys first
	}
	if err := s.room(now, need, kept, true); err != nil {
		return state.Decision{}, err
	}
	s.lastCall++
	for _, r := range rules {
		w := s.windows[r.Key] // looked up again: making room may have dropped it
		if w == nil {
			w = &window{span: r.Limit.Window}
			s.windows[r.Key] = w
			c := keep
			if r.Evictable {
				c = dropFirst
			}
			s.hold(&w.entry, r.Key, kindWindow, c, 0, now+int64(w.span))
		}
		w.calls = append(w.calls, call{at: now, id: s.lastCall})
		s.recost(&w.entry, w.cost())
	}
	return state.Decision{Allowed: true, Token: strconv.FormatUint(s.lastCall, 10)}, nil
}

// Refund implements state.Limiter.
func (s *Store) Refund(_ context.Context, rules []state.Rule, token string) error {
	id, err := strconv.ParseUint(token, 10, 64)
	if err != nil {
		return nil // not a call of this store: nothing of it to take back
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rules {
		if w := s.windows[r.Key]; w != nil {
			w.calls = slices.DeleteFunc(w.calls, func(c call) bool { return c.id == id })
			if len(w.calls) == 0 {
				// An empty window is no window: kept, it would hold a key for its whole span.
				s.forget(&w.entry)
				continue
			}
			s.recost(&w.entry, w.cost())
		}
	}
	return nil
}

// drop forgets the calls that left w: those at or before now-span.
func (s *Store) drop(w *window, now int64, span time.Duration) {
	cut := 0
	for cut < len(w.calls) && w.calls[cut].at <= now-int64(span) {
		cut++
	}
	if cut == 0 {
		return
	}
	// Reslicing forgets the front without moving the rest: shifting every call down on each drop
	// cost a copy of the whole window per call (most of the CPU at thousands of calls a second). The
	// freed front is reclaimed when append next outgrows the array and copies only the live calls.
	w.calls = w.calls[cut:]
	s.recost(&w.entry, w.cost())
}

// Batch implements state.Batcher: in memory there is no round trip to save.
func (s *Store) Batch(ctx context.Context, calls ...state.Call) error {
	return state.BatchEach(ctx, s, calls...)
}
