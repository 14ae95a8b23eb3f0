// Package memstore owns the shared state in one process: sliding-window counters, idempotency
// records, test-number sessions and started verifications, behind one mutex, so each operation is atomic. It is the
// default when no Redis is configured; with several replicas each would count alone, so they need
// redisstore instead. Time comes from an injected clock, so tests never sleep.
package memstore

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// sweepEvery is how often (in clock time) expired entries are dropped, so memory follows the
// traffic of the last windows rather than all traffic ever seen.
const sweepEvery = time.Minute

// Store is an in-memory state.Store. It is safe for concurrent use.
type Store struct {
	now func() time.Time

	mu            sync.Mutex
	windows       map[string]*window
	records       map[string]record
	sessions      map[string]*session
	verifications map[string]verification
	fraud         map[string]*fraudKey
	blocks        map[string]state.Block
	strikes       map[string]*strikes
	lastSweep     time.Time
	writes        int    // calls that may have added something since the last sweep
	lastCall      uint64 // names each admitted call, for Refund
}

var _ state.Store = (*Store)(nil)

// window holds the calls admitted within the last span, oldest first.
type window struct {
	span  time.Duration
	calls []call
}

type call struct {
	at time.Time
	id uint64
}

type record struct {
	state.Record
	expires time.Time
}

type verification struct {
	state.Verification
	expires time.Time
}

type session struct {
	code    string
	wrong   int
	expires time.Time
}

// New returns an empty store reading time from now (nil means time.Now).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:      now,
		windows:  make(map[string]*window),
		records:  make(map[string]record),
		sessions: make(map[string]*session),

		verifications: make(map[string]verification),
		fraud:         make(map[string]*fraudKey),
		blocks:        make(map[string]state.Block),
		strikes:       make(map[string]*strikes),
	}
}

// Take implements state.Limiter with sliding windows: a call is admitted when fewer than Count
// calls were admitted in the Window before it.
func (s *Store) Take(_ context.Context, rules []state.Rule) (state.Decision, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)

	for i, r := range rules {
		w := s.windows[r.Key]
		if w == nil {
			continue
		}
		w.span = max(w.span, r.Limit.Window)
		w.drop(now, r.Limit.Window)
		if used := len(w.calls); used >= r.Limit.Count {
			// Room comes back when the call that put the window at its limit leaves it.
			oldest := w.calls[used-r.Limit.Count].at
			return state.Decision{Rule: i, RetryAfter: oldest.Add(r.Limit.Window).Sub(now)}, nil
		}
	}
	s.lastCall++
	for _, r := range rules {
		w := s.windows[r.Key]
		if w == nil {
			w = &window{span: r.Limit.Window}
			s.windows[r.Key] = w
		}
		w.calls = append(w.calls, call{at: now, id: s.lastCall})
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
		}
	}
	return nil
}

// drop forgets the calls that left the window: those at or before now-span.
func (w *window) drop(now time.Time, span time.Duration) {
	cut := 0
	for cut < len(w.calls) && !w.calls[cut].at.After(now.Add(-span)) {
		cut++
	}
	// Reslicing forgets the front without moving the rest: shifting every call down on each drop
	// cost a copy of the whole window per call (most of the CPU at thousands of calls a second). The
	// freed front is reclaimed when append next outgrows the array and copies only the live calls.
	w.calls = w.calls[cut:]
}

// Reserve implements state.Idempotency.
func (s *Store) Reserve(_ context.Context, key, fingerprint string, lease time.Duration) (state.Record, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if r, ok := s.records[key]; ok && now.Before(r.expires) {
		return r.Record, false, nil
	}
	s.records[key] = record{Record: state.Record{Fingerprint: fingerprint}, expires: now.Add(lease)}
	return state.Record{}, true, nil
}

// Complete implements state.Idempotency.
func (s *Store) Complete(_ context.Context, key string, rec state.Record, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = record{Record: rec, expires: now.Add(ttl)}
	return nil
}

// Release implements state.Idempotency.
func (s *Store) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
	return nil
}

// StartSession implements state.Sessions.
func (s *Store) StartSession(_ context.Context, id, code string, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.sessions[id] = &session{code: code, expires: now.Add(ttl)}
	return nil
}

// CheckSession implements state.Sessions.
func (s *Store) CheckSession(_ context.Context, id, code string, maxWrong int) (state.CodeResult, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := s.sessions[id]
	if ses == nil || !now.Before(ses.expires) {
		delete(s.sessions, id)
		return state.CodeUnknown, nil
	}
	if code == ses.code {
		delete(s.sessions, id)
		return state.CodeRight, nil
	}
	ses.wrong++
	if ses.wrong >= maxWrong {
		delete(s.sessions, id)
		return state.CodeExhausted, nil
	}
	return state.CodeWrong, nil
}

// EndSession implements state.Sessions.
func (s *Store) EndSession(_ context.Context, id string) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := s.sessions[id]
	delete(s.sessions, id)
	return ses != nil && now.Before(ses.expires), nil
}

// RememberVerification implements state.Verifications.
func (s *Store) RememberVerification(_ context.Context, id string, v state.Verification, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.verifications[id] = verification{Verification: v, expires: now.Add(ttl)}
	return nil
}

// RecallVerification implements state.Verifications.
func (s *Store) RecallVerification(_ context.Context, id string) (state.Verification, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.verifications[id]
	if !ok || !now.Before(v.expires) {
		return state.Verification{}, false, nil
	}
	return v.Verification, true, nil
}

// sweep drops what has expired, at most once per sweepEvery, and only once the writes since the
// last sweep are a quarter of what is held (or ten sweeps were skipped): a sweep walks everything
// held, so a store holding much that lives long (trusted numbers, for a month) must not walk it all
// every minute for a few writes. It runs under s.mu.
func (s *Store) sweep(now time.Time) {
	s.writes++
	since := now.Sub(s.lastSweep)
	held := len(s.windows) + len(s.records) + len(s.sessions) + len(s.verifications) + len(s.fraud)
	if since < sweepEvery || (s.writes < held/4 && since < 10*sweepEvery) {
		return
	}
	s.lastSweep, s.writes = now, 0
	maps.DeleteFunc(s.windows, func(_ string, w *window) bool {
		n := len(w.calls)
		return n == 0 || !w.calls[n-1].at.After(now.Add(-w.span))
	})
	expired := func(at time.Time) bool { return !now.Before(at) }
	maps.DeleteFunc(s.records, func(_ string, r record) bool { return expired(r.expires) })
	maps.DeleteFunc(s.sessions, func(_ string, ses *session) bool { return expired(ses.expires) })
	maps.DeleteFunc(s.verifications, func(_ string, v verification) bool { return expired(v.expires) })
	maps.DeleteFunc(s.fraud, func(_ string, fk *fraudKey) bool { return expired(fk.expires) })
	maps.DeleteFunc(s.strikes, func(_ string, st *strikes) bool { return expired(st.expires) })
}
