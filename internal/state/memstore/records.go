package memstore

import (
	"context"
	"time"
	"unique"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

type record struct {
	entry
	state.Record
	expires int64 // Unix nanoseconds
}

func (r *record) cost() int { return 1 + len(r.Body)/bodyBytesPerKey }

// verification is a state.Verification that packed.go could not pack (a trusted number's mark, an
// odd id or client), kept as given with its client and country interned: two handles instead of two
// strings and a copy of the client per verification.
type verification struct {
	entry
	number  string
	window  string
	client  unique.Handle[string]
	country unique.Handle[string]
	started int64
	expires int64
	test    bool
}

// set keeps v in rec.
func (rec *verification) set(v state.Verification, expires int64) {
	rec.number, rec.window, rec.client, rec.country = v.Number, v.Window, unique.Make(v.Client), unique.Make(v.Country)
	rec.started, rec.expires, rec.test = v.Started, expires, v.Test
}

// verification is what rec keeps, as it was given.
func (rec *verification) verification() state.Verification {
	return state.Verification{Number: rec.number, Window: rec.window, Client: rec.client.Value(), Test: rec.test,
		Country: rec.country.Value(), Started: rec.started}
}

type session struct {
	entry
	code    string
	wrong   int
	expires int64
}

// Reserve implements state.Idempotency. A new record is a start's first write: it must leave the
// headroom free (room).
func (s *Store) Reserve(_ context.Context, key, fingerprint string, lease time.Duration) (state.Record, bool, error) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	r := s.records[key]
	if r != nil && now < r.expires {
		return r.Record, false, nil
	}
	rec := state.Record{Fingerprint: fingerprint}
	if err := s.putRecord(r, key, rec, now, now+int64(lease), true); err != nil {
		return state.Record{}, false, err
	}
	return state.Record{}, true, nil
}

// Complete implements state.Idempotency.
func (s *Store) Complete(_ context.Context, key string, rec state.Record, ttl time.Duration) error {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putRecord(s.records[key], key, rec, now, now+int64(ttl), false)
}

// putRecord keeps rec under key until expires, in r when key has one.
func (s *Store) putRecord(r *record, key string, rec state.Record, now, expires int64, admission bool) error {
	if r == nil {
		r = &record{Record: rec}
		if err := s.room(now, r.cost(), r.cost(), admission); err != nil {
			return err
		}
		r.expires = expires
		s.records[key] = r
		s.hold(&r.entry, key, kindRecord, keep, r.cost(), expires)
		return nil
	}
	grown := (&record{Record: rec}).cost() - r.cost()
	if err := s.room(now, max(grown, 0), max(grown, 0), admission); err != nil {
		return err
	}
	r.Record, r.expires = rec, expires
	s.recost(&r.entry, r.cost())
	s.expireAt(&r.entry, expires)
	return nil
}

// Release implements state.Idempotency.
func (s *Store) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.records[key]; r != nil {
		s.forget(&r.entry)
	}
	return nil
}

// StartSession implements state.Sessions. A session may be dropped early to make room (class
// dropLast): it guards no spend, only a test number's flow.
func (s *Store) StartSession(_ context.Context, id, code string, ttl time.Duration) error {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	expires := now + int64(ttl)
	if ses := s.sessions[id]; ses != nil {
		ses.code, ses.wrong, ses.expires = code, 0, expires
		s.touch(&ses.entry)
		s.expireAt(&ses.entry, expires)
		return nil
	}
	if err := s.room(now, 1, 0, false); err != nil {
		return err
	}
	ses := &session{code: code, expires: expires}
	s.sessions[id] = ses
	s.hold(&ses.entry, id, kindSession, dropLast, 1, expires)
	return nil
}

// CheckSession implements state.Sessions.
func (s *Store) CheckSession(_ context.Context, id, code string, maxWrong int) (state.CodeResult, error) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := s.sessions[id]
	if ses == nil {
		return state.CodeUnknown, nil
	}
	if now >= ses.expires {
		s.forget(&ses.entry)
		return state.CodeUnknown, nil
	}
	if code == ses.code {
		s.forget(&ses.entry)
		return state.CodeRight, nil
	}
	ses.wrong++
	if ses.wrong >= maxWrong {
		s.forget(&ses.entry)
		return state.CodeExhausted, nil
	}
	s.touch(&ses.entry)
	return state.CodeWrong, nil
}

// EndSession implements state.Sessions.
func (s *Store) EndSession(_ context.Context, id string) (bool, error) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := s.sessions[id]
	if ses == nil {
		return false, nil
	}
	s.forget(&ses.entry)
	return now < ses.expires, nil
}

// RememberVerification implements state.Verifications. A verification is kept until its ttl, unless
// v.Evictable says it only eases a user's way (class dropLast).
func (s *Store) RememberVerification(_ context.Context, id string, v state.Verification, ttl time.Duration) error {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	c := keep
	if v.Evictable {
		c = dropLast
	}
	expires := now + int64(ttl)
	k, packable := packID(id)
	if packable && c == keep {
		if p, ok := pack(v); ok {
			return s.rememberPacked(now, id, k, p, expires)
		}
	}
	if packable {
		s.forgetPacked(k) // kept packed before: one record per id
	}
	if old := s.verifications[id]; old != nil {
		old.set(v, expires)
		s.reclass(&old.entry, c)
		s.touch(&old.entry)
		s.expireAt(&old.entry, expires)
		return nil
	}
	kept := 0
	if c == keep {
		kept = 1
	}
	if err := s.room(now, 1, kept, false); err != nil {
		return err
	}
	rec := &verification{}
	rec.set(v, expires)
	s.verifications[id] = rec
	s.hold(&rec.entry, id, kindVerification, c, 1, expires)
	return nil
}

// RecallVerification implements state.Verifications.
func (s *Store) RecallVerification(_ context.Context, id string) (state.Verification, bool, error) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := packID(id); ok {
		if p, ok := s.packed[k]; ok {
			if now >= p.expires {
				return state.Verification{}, false, nil
			}
			return p.verification(), true, nil
		}
	}
	v := s.verifications[id]
	if v == nil || now >= v.expires {
		return state.Verification{}, false, nil
	}
	s.touch(&v.entry)
	return v.verification(), true, nil
}
