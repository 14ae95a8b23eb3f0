package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

type fraudKey struct {
	entry
	buckets     []state.FraudBucket // one per minute, in the order they were first written
	expires     int64               // Unix nanoseconds, as every expiry here
	converted   time.Time
	convExpires int64
}

// bucket answers the bucket of minute, nil when there is none.
func (fk *fraudKey) bucket(minute int64) *state.FraudBucket {
	for i := range fk.buckets {
		if fk.buckets[i].Minute == minute {
			return &fk.buckets[i]
		}
	}
	return nil
}

func (fk *fraudKey) cost() int { return 1 + len(fk.buckets)/bucketsPerKey }

type strikes struct {
	entry
	n       int
	expires int64
}

// NoteFraud implements state.Fraud. The counts are the fraud guard's evidence: they are never dropped
// before they expire (class keep), and a note that finds no room fails with state.ErrFull.
func (s *Store) NoteFraud(_ context.Context, keys []string, n state.FraudNote) error {
	now := s.now().UnixNano()
	minute := n.StartedAt.Unix() / 60
	oldest := time.Unix(0, now).Add(-n.Retain).Unix() / 60
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	need := 0
	for _, k := range keys {
		fk := s.fraud[k]
		switch {
		case fk == nil:
			need++
		case minute >= oldest && fk.bucket(minute) == nil && (len(fk.buckets)+1)/bucketsPerKey > len(fk.buckets)/bucketsPerKey:
			need++
		}
	}
	if err := s.room(now, need, need, false); err != nil {
		return err
	}
	for _, k := range keys {
		fk := s.fraud[k]
		if fk == nil {
			fk = &fraudKey{}
			s.fraud[k] = fk
			s.hold(&fk.entry, k, kindFraud, keep, 1, now+int64(n.Retain))
		}
		// A slice, not a map: a key holds an hour of minutes at most, and a map of them cost twice
		// the memory (BenchmarkBytesPerKey).
		fk.buckets = slices.DeleteFunc(fk.buckets, func(b state.FraudBucket) bool { return b.Minute < oldest })
		if minute >= oldest {
			b := fk.bucket(minute)
			if b == nil {
				fk.buckets = append(fk.buckets, state.FraudBucket{Minute: minute})
				b = &fk.buckets[len(fk.buckets)-1]
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
		s.recost(&fk.entry, fk.cost())
		fk.expires = max(fk.expires, now+int64(n.Retain))
		if n.Kind == state.FraudVerified {
			fk.converted, fk.convExpires = n.At, now+int64(n.RetainConverted)
			fk.expires = max(fk.expires, fk.convExpires)
		}
	}
	return nil
}

// ReadFraud implements state.Fraud.
func (s *Store) ReadFraud(_ context.Context, keys []string) ([]state.FraudRecord, error) {
	at := s.now()
	now := at.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]state.FraudRecord, len(keys))
	for i, k := range keys {
		if fk := s.fraud[k]; fk != nil && now < fk.expires {
			out[i].Buckets = slices.Clone(fk.buckets)
			if now < fk.convExpires {
				out[i].LastConverted = fk.converted
			}
		}
		if b, ok := s.blocks[k]; ok && at.Before(b.Until) {
			out[i].Block = &b
		}
		if st := s.strikes[k]; st != nil && now < st.expires {
			out[i].Repeats = st.n
		}
	}
	return out, nil
}

// Block implements state.Fraud. A block and its repeats are the fraud guard's decisions: never
// dropped early (class keep; blocks are ended by EndBlocks).
func (s *Store) Block(_ context.Context, b state.Block, base, limit, memory time.Duration) (state.Block, bool, error) {
	at := s.now()
	now := at.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, blocked := s.blocks[b.Key]
	if blocked && at.Before(old.Until) {
		return old, false, nil
	}
	st := s.strikes[b.Key]
	need := 0
	if !blocked {
		need++
	}
	if st == nil {
		need++
	}
	if err := s.room(now, need, need, false); err != nil {
		return state.Block{}, false, err
	}
	switch {
	case st == nil:
		st = &strikes{}
		s.strikes[b.Key] = st
		s.hold(&st.entry, b.Key, kindStrikes, keep, 1, now+int64(memory))
	case now >= st.expires:
		st.n = 0
	}
	st.n++
	st.expires = now + int64(memory)
	s.expireAt(&st.entry, st.expires)
	if fk := s.fraud[b.Key]; fk != nil {
		fk.buckets = nil
		s.recost(&fk.entry, fk.cost())
	}
	b.Repeat = st.n
	b.Until = b.Since.Add(blockFor(base, limit, st.n))
	s.blocks[b.Key] = b
	if !blocked {
		s.used++
		s.kept++
	}
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
	if ok {
		s.endBlock(key)
	}
	if st := s.strikes[key]; st != nil {
		s.forget(&st.entry)
	}
	if fk := s.fraud[key]; fk != nil {
		fk.buckets = nil
		s.recost(&fk.entry, fk.cost())
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
			s.endBlock(k)
		}
	}
	return ended, nil
}

// endBlock forgets the block of key, which s.blocks holds.
func (s *Store) endBlock(key string) {
	delete(s.blocks, key)
	s.used--
	s.kept--
}
