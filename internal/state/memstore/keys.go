package memstore

import (
	"container/heap"
	"fmt"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// What a key costs, in keys: an entry of any kind is one, and what grows inside an entry counts too,
// so that the ceiling bounds bytes whatever the entries hold (BenchmarkBytesPerKey measures them).
const (
	callsPerKey     = 8   // calls a window holds per extra key (16 bytes each, and append's spare room)
	bucketsPerKey   = 4   // minute buckets a fraud key holds per extra key (32 bytes each, and spare room)
	bodyBytesPerKey = 256 // bytes of an idempotency record's response per extra key
)

// sweepBatch is the most keys one call looks at for expiry: a sweep is spread over the calls that
// follow the keys' expiry, so that no call waits behind a sweep of everything.
const sweepBatch = 64

// headroomShare is the share of the ceiling that the first writes of a start (its windows that
// guard spend, its idempotency record) may not take, so that what it writes once admitted (its
// verification, the fraud guard's counts, a block) still finds room.
const headroomShare = 32

// class says whether a key may be dropped before it expires when the store is full, and in which
// order.
type class uint8

const (
	// keep: never dropped before it expires. It guards spend (a window per number, prefix, country or
	// the global one; wrong codes per number; an idempotency record, without which a retry pays
	// twice; the fraud guard's counts and blocks) or a user's verification (without its record a
	// right code earns no token).
	keep class = iota
	// dropFirst: a window that guards no spend (state.Rule.Evictable: a client IP's, a request_id's
	// checks). Its loss forgets a few calls; spent money is counted elsewhere.
	dropFirst
	// dropLast: what only eases a user's way (a trusted number's mark, state.Verification.Evictable;
	// a test-number session): dropped once no window is left to drop, since a month of trusted
	// numbers would otherwise hold the store full for good.
	dropLast
	classes
)

// kind says which map an entry lives in.
type kind uint8

const (
	kindWindow kind = iota
	kindRecord
	kindSession
	kindVerification
	kindFraud
	kindStrikes
)

// entry is what the store's bookkeeping knows of every key it holds (blocks aside: they are few, and
// EndBlocks ends them): its place in the expiry queue, and for a key that may be dropped early, in
// its class's list, newest first.
type entry struct {
	key          string
	due          int64 // Unix nanoseconds when the queue looks at it next: its expiry as last known
	slot         int32 // its index in the expiry queue
	cost         int32 // the keys it counts for
	kind         kind
	class        class
	newer, older *entry
}

// errFull is a write that would exceed the ceiling with nothing left to drop.
type errFull struct{ kept, max int }

func (e errFull) Error() string {
	return fmt.Sprintf("%d of the %d keys held may not be dropped before they expire", e.kept, e.max)
}

func (errFull) Unwrap() error { return state.ErrFull }

// hold starts keeping e, which its map already holds, until due.
func (s *Store) hold(e *entry, key string, k kind, c class, cost int, due int64) {
	e.key, e.kind, e.class, e.cost, e.due = key, k, c, int32(cost), due
	s.used += cost
	if c == keep {
		s.kept += cost
	}
	heap.Push(&s.queue, e)
	s.lists[c].pushNewest(e)
}

// forget drops e from its map and from the bookkeeping.
func (s *Store) forget(e *entry) {
	heap.Remove(&s.queue, int(e.slot))
	s.lists[e.class].remove(e)
	s.used -= int(e.cost)
	if e.class == keep {
		s.kept -= int(e.cost)
	}
	switch e.kind {
	case kindWindow:
		delete(s.windows, e.key)
	case kindRecord:
		delete(s.records, e.key)
	case kindSession:
		delete(s.sessions, e.key)
	case kindVerification:
		delete(s.verifications, e.key)
	case kindFraud:
		delete(s.fraud, e.key)
	case kindStrikes:
		delete(s.strikes, e.key)
	}
}

// recost sets what e counts for.
func (s *Store) recost(e *entry, cost int) {
	delta := cost - int(e.cost)
	e.cost = int32(cost)
	s.used += delta
	if e.class == keep {
		s.kept += delta
	}
}

// reclass moves e to class c.
func (s *Store) reclass(e *entry, c class) {
	if e.class == c {
		return
	}
	cost := int(e.cost)
	s.recost(e, 0)
	s.lists[e.class].remove(e)
	e.class = c
	s.lists[c].pushNewest(e)
	s.recost(e, cost)
}

// expireAt tells the queue that e now expires at at. A later expiry is found when the queue reaches
// the earlier one (a window is extended by every call; moving it each time would cost a heap
// operation per call); an earlier one moves it now, so that memory is given back on time.
func (s *Store) expireAt(e *entry, at int64) {
	if at < e.due {
		e.due = at
		heap.Fix(&s.queue, int(e.slot))
	}
}

// touch marks e as just used: a key in use is dropped after those that are not.
func (s *Store) touch(e *entry) {
	if e.class != keep {
		s.lists[e.class].remove(e)
		s.lists[e.class].pushNewest(e)
	}
}

// sweep drops the keys whose time is up, sweepBatch of them at most, so that a call never waits
// behind a sweep of everything: keys expire in the order of the queue, and the calls that follow
// take them out a batch at a time. It runs under s.mu.
func (s *Store) sweep(now int64) {
	for range sweepBatch {
		if !s.visitDue(now) {
			return
		}
	}
}

// visitDue looks at the key that is due soonest, of the queue and the packed verifications' queue,
// if its time has come (visitEntry, visitPacked). It reports whether there was such a key.
func (s *Store) visitDue(now int64) bool {
	if len(s.packedQueue) > 0 && (len(s.queue) == 0 || s.packedQueue[0].at < s.queue[0].due) {
		return s.visitPacked(now)
	}
	return s.visitEntry(now)
}

// visitEntry looks at the key first in the queue if its time has come: it drops it when it expired,
// or queues it again at its expiry (a window that took calls since it was queued). It reports
// whether there was such a key.
func (s *Store) visitEntry(now int64) bool {
	if len(s.queue) == 0 || s.queue[0].due > now {
		return false
	}
	e := s.queue[0]
	s.swept++
	if at := s.expiry(e); at > now {
		e.due = at
		heap.Fix(&s.queue, 0)
		return true
	}
	s.forget(e)
	return true
}

// expiry is when e's key expires, in Unix nanoseconds.
func (s *Store) expiry(e *entry) int64 {
	switch e.kind {
	case kindWindow:
		w := s.windows[e.key]
		if len(w.calls) == 0 {
			return 0
		}
		return w.calls[len(w.calls)-1].at + int64(w.span)
	case kindRecord:
		return s.records[e.key].expires
	case kindSession:
		return s.sessions[e.key].expires
	case kindVerification:
		return s.verifications[e.key].expires
	case kindFraud:
		return s.fraud[e.key].expires
	case kindStrikes:
		return s.strikes[e.key].expires
	}
	return 0
}

// room makes room for need more keys, kept of them never to be dropped early: it drops keys that
// expired, then keys that may be dropped early, the least recently used first (the windows of
// clients and request_ids before trusted numbers and test sessions). It fails with state.ErrFull
// rather than drop a key that guards spend. admission says the keys are a start's first writes: then
// they must leave the headroom free. It runs under s.mu.
func (s *Store) room(now int64, need, kept int, admission bool) error {
	if s.maxKeys == 0 || need == 0 {
		return nil
	}
	limit := s.maxKeys
	if admission {
		limit -= s.headroom
	}
	if kept > 0 && s.kept+kept > limit {
		s.refused++
		return errFull{s.kept, s.maxKeys}
	}
	for budget := sweepBatch; s.used+need > s.maxKeys; budget-- {
		if budget > 0 && s.visitDue(now) {
			continue
		}
		victim := s.lists[dropFirst].oldest
		if victim == nil {
			victim = s.lists[dropLast].oldest
		}
		if victim == nil {
			s.refused++
			return errFull{s.kept, s.maxKeys}
		}
		s.forget(victim)
		s.evicted++
	}
	return nil
}

// Stats are what a store holds and what its ceiling did, for metrics and tests.
type Stats struct {
	Keys    int    // the keys held, as they count against the ceiling
	Kept    int    // of them, those that may not be dropped before they expire
	Evicted uint64 // keys dropped before they expired to make room
	Refused uint64 // writes refused because nothing was left to drop
}

// Stats answers what s holds and what its ceiling did so far.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Keys: s.used, Kept: s.kept, Evicted: s.evicted, Refused: s.refused}
}

// expiryQueue orders the keys by when they are due, soonest first (container/heap).
type expiryQueue []*entry

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].due < q[j].due }
func (q expiryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].slot, q[j].slot = int32(i), int32(j)
}

func (q *expiryQueue) Push(x any) {
	e := x.(*entry)
	e.slot = int32(len(*q))
	*q = append(*q, e)
}

func (q *expiryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = shrunk(old[:len(old)-1])
	return e
}

// shrunk is q, copied into a smaller array when a flood grew it far past what it holds now, so
// that the queue gives that memory back.
func shrunk[Q ~[]E, E any](q Q) Q {
	if cap(q) > 1024 && len(q) < cap(q)/4 {
		return append(Q(nil), q...)
	}
	return q
}

// list is the keys of one class, newest first.
type list struct{ newest, oldest *entry }

func (l *list) pushNewest(e *entry) {
	e.older, e.newer = l.newest, nil
	if l.newest != nil {
		l.newest.newer = e
	} else {
		l.oldest = e
	}
	l.newest = e
}

func (l *list) remove(e *entry) {
	if e.newer != nil {
		e.newer.older = e.older
	} else if l.newest == e {
		l.newest = e.older
	}
	if e.older != nil {
		e.older.newer = e.newer
	} else if l.oldest == e {
		l.oldest = e.newer
	}
	e.newer, e.older = nil, nil
}
