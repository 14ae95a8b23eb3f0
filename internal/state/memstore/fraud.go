package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// maxFraudKeys bounds what the fraud guard's counts may hold in memory, whatever the traffic: a flood
// of starts to unique prefixes would otherwise grow it for a whole window. Past it, the keys written
// longest ago are dropped; their counts start again from nothing, which errs towards letting a start
// through, never towards blocking one.
const maxFraudKeys = 100_000

type fraudKey struct {
	buckets     map[int64]*state.FraudBucket
	expires     time.Time
	converted   time.Time
	convExpires time.Time
	written     time.Time
}

type strikes struct {
	n       int
	expires time.Time
}

// NoteFraud implements state.Fraud.
func (s *Store) NoteFraud(_ context.Context, keys []string, n state.FraudNote) error {
	now := s.now()
	minute := n.StartedAt.Unix() / 60
	oldest := now.Add(-n.Retain).Unix() / 60
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	for _, k := range keys {
		fk := s.fraud[k]
		if fk == nil {
			s.makeRoomForFraud()
			fk = &fraudKey{buckets: map[int64]*state.FraudBucket{}}
			s.fraud[k] = fk
		}
		fk.written = now
		if minute >= oldest {
			b := fk.buckets[minute]
			if b == nil {
				b = &state.FraudBucket{Minute: minute}
				fk.buckets[minute] = b
			}
			switch n.Kind {
			case state.FraudStarted:
				b.Started++
			case state.FraudVerified:
				b.Verified++
			case state.FraudUnverified:
				b.Unverified++
			}
		}
		for m := range fk.buckets {
			if m < oldest {
				delete(fk.buckets, m)
			}
		}
		fk.expires = later(fk.expires, now.Add(n.Retain))
		if n.Kind == state.FraudVerified {
			fk.converted, fk.convExpires = n.At, now.Add(n.RetainConverted)
			fk.expires = later(fk.expires, fk.convExpires)
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// makeRoomForFraud drops the keys written longest ago once the counts hold maxFraudKeys. It runs
// under s.mu.
func (s *Store) makeRoomForFraud() {
	if len(s.fraud) < maxFraudKeys {
		return
	}
	type aged struct {
		key     string
		written time.Time
	}
	all := make([]aged, 0, len(s.fraud))
	for k, fk := range s.fraud {
		all = append(all, aged{k, fk.written})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.written.Compare(b.written) })
	for _, a := range all[:len(all)/10] { // a tenth at once, so that a flood sorts rarely
		delete(s.fraud, a.key)
	}
}

// ReadFraud implements state.Fraud.
func (s *Store) ReadFraud(_ context.Context, keys []string) ([]state.FraudRecord, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]state.FraudRecord, len(keys))
	for i, k := range keys {
		if fk := s.fraud[k]; fk != nil && now.Before(fk.expires) {
			for _, b := range fk.buckets {
				out[i].Buckets = append(out[i].Buckets, *b)
			}
			if now.Before(fk.convExpires) {
				out[i].LastConverted = fk.converted
			}
		}
		if b, ok := s.blocks[k]; ok && now.Before(b.Until) {
			out[i].Block = &b
		}
		if st := s.strikes[k]; st != nil && now.Before(st.expires) {
			out[i].Repeats = st.n
		}
	}
	return out, nil
}

// Block implements state.Fraud.
func (s *Store) Block(_ context.Context, b state.Block, base, limit, memory time.Duration) (state.Block, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.blocks[b.Key]; ok && now.Before(old.Until) {
		return old, false, nil
	}
	st := s.strikes[b.Key]
	if st == nil || !now.Before(st.expires) {
		st = &strikes{}
		s.strikes[b.Key] = st
	}
	st.n++
	st.expires = now.Add(memory)
	if fk := s.fraud[b.Key]; fk != nil {
		clear(fk.buckets)
	}
	b.Repeat = st.n
	b.Until = b.Since.Add(blockFor(base, limit, st.n))
	s.blocks[b.Key] = b
	return b, true, nil
}

// blockFor is base doubled for each repeat after the first, at most limit.
func blockFor(base, limit time.Duration, repeat int) time.Duration {
	d := base
	for i := 1; i < repeat && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Blocks implements state.Fraud.
func (s *Store) Blocks(context.Context) ([]state.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]state.Block, 0, len(s.blocks))
	for _, b := range s.blocks {
		out = append(out, b)
	}
	return out, nil
}

// Lift implements state.Fraud.
func (s *Store) Lift(_ context.Context, key string) (state.Block, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blocks[key]
	delete(s.blocks, key)
	delete(s.strikes, key)
	if fk := s.fraud[key]; fk != nil {
		clear(fk.buckets)
	}
	return b, ok, nil
}

// EndBlocks implements state.Fraud.
func (s *Store) EndBlocks(_ context.Context, now time.Time) ([]state.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ended []state.Block
	for k, b := range s.blocks {
		if !now.Before(b.Until) {
			ended = append(ended, b)
			delete(s.blocks, k)
		}
	}
	return ended, nil
}
