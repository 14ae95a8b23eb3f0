package memstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

const (
	hexID  = "0123456789abcdef0123456789abcdef"
	uuidID = "01234567-89ab-cdef-0123-456789abcdef"
)

// TestVerificationsComeBackAsGiven: whatever shape a verification has, packed or not, recalling it
// answers it byte for byte; the usual shapes are packed, so that a flood of starts costs the
// collector nothing to walk.
func TestVerificationsComeBackAsGiven(t *testing.T) {
	t.Parallel()
	usual := state.Verification{Number: "14155550100", Client: "203.0.113.7", Country: "US", Started: 1764806400123,
		Window: "wrong:" + hexID}
	with := func(f func(*state.Verification)) state.Verification {
		v := usual
		f(&v)
		return v
	}
	tests := []struct {
		name   string
		id     string
		v      state.Verification
		packed bool
	}{
		{"a Verify v1 start", hexID, usual, true},
		{"a Verify v2 start", uuidID, usual, true},
		{"a test number", hexID, with(func(v *state.Verification) { v.Test = true; v.Country = "" }), true},
		{"an IPv6 client's /64", hexID, with(func(v *state.Verification) { v.Client = "2001:db8:1:2::/64" }), true},
		{"an IPv6 client", hexID, with(func(v *state.Verification) { v.Client = "2001:db8::1" }), true},
		{"an IPv4 network", hexID, with(func(v *state.Verification) { v.Client = "203.0.113.0/24" }), true},
		{"an IPv4-mapped client", hexID, with(func(v *state.Verification) { v.Client = "::ffff:203.0.113.7" }), true},
		{"a non-geographic number", hexID, with(func(v *state.Verification) { v.Country = "+800"; v.Number = "80012345678" }), true},
		{"leading zeros", hexID, with(func(v *state.Verification) { v.Number = "0044123" }), true},
		{"19 digits", hexID, with(func(v *state.Verification) { v.Number = "9999999999999999999" }), true},
		{"nothing but the id", hexID, state.Verification{}, true},
		{"20 digits", hexID, with(func(v *state.Verification) { v.Number = "12345678901234567890" }), false},
		{"a '+' before the number", hexID, with(func(v *state.Verification) { v.Number = "+14155550100" }), false},
		{"a number that is not digits", hexID, with(func(v *state.Verification) { v.Number = "1415 555" }), false},
		{"an address in capitals", hexID, with(func(v *state.Verification) { v.Client = "2001:DB8::1" }), false},
		{"an address with a zone", hexID, with(func(v *state.Verification) { v.Client = "fe80::1%eth0" }), false},
		{"a network with host bits", hexID, with(func(v *state.Verification) { v.Client = "203.0.113.7/24" }), true},
		{"a network written loosely", hexID, with(func(v *state.Verification) { v.Client = "2001:db8:0:0::/64" }), false},
		{"a client that is no address", hexID, with(func(v *state.Verification) { v.Client = "proxy.internal" }), false},
		{"a long country", hexID, with(func(v *state.Verification) { v.Country = "+1234" }), false},
		{"a long window", hexID, with(func(v *state.Verification) { v.Window = strings.Repeat("w", 41) }), false},
		{"an id in capitals", strings.ToUpper(hexID), usual, false},
		{"a UUID in capitals", strings.ToUpper(uuidID), usual, false},
		{"32 characters that are not hex", strings.Repeat("g", 32), usual, false},
		{"a UUID without its dashes where they belong", "0123456789ab-cdef-0123-456789abcdef-", usual, false},
		{"another id", "id1", usual, false},
		{"a trusted number's mark", "trusted:" + hexID, with(func(v *state.Verification) { v.Evictable = true }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := New(clocktest.New().Now)
			if err := s.RememberVerification(ctx, tt.id, tt.v, time.Minute); err != nil {
				t.Fatal(err)
			}
			want := tt.v
			want.Evictable = false // a hint to the store, never answered
			if got, found, err := s.RecallVerification(ctx, tt.id); err != nil || !found || got != want {
				t.Fatalf("recall: %+v %v %v, want %+v", got, found, err, want)
			}
			if packed := len(s.packed) == 1; packed != tt.packed {
				t.Fatalf("packed: %v, want %v", packed, tt.packed)
			}
			if st := s.Stats(); st.Keys != 1 {
				t.Fatalf("%d keys held for one verification", st.Keys)
			}
		})
	}
}

// FuzzPackedVerification: any verification comes back as it was given, whether it was packed or not.
func FuzzPackedVerification(f *testing.F) {
	f.Add(hexID, "14155550100", "203.0.113.7", "US", "wrong:"+hexID, true)
	f.Add(uuidID, "0044", "2001:db8::/64", "+800", "", false)
	f.Add(hexID, "", "::ffff:1.2.3.4", "", "w", false)
	f.Add(uuidID, "18446744073709551616", "1.2.3.4/32", "GB", "x", false)
	f.Fuzz(func(t *testing.T, id, number, client, country, window string, test bool) {
		ctx := context.Background()
		s := New(clocktest.New().Now)
		v := state.Verification{Number: number, Client: client, Country: country, Window: window, Test: test, Started: 7}
		if err := s.RememberVerification(ctx, id, v, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, found, _ := s.RecallVerification(ctx, id); !found || got != v {
			t.Fatalf("recall %q: %+v %v, want %+v", id, got, found, v)
		}
	})
}

// TestAnIDIsOneRecordWhateverItsShape: writing an id again replaces what it held, packed or not,
// and it still counts as one key.
func TestAnIDIsOneRecordWhateverItsShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(clocktest.New().Now)
	packable := state.Verification{Number: "14155550100"}
	unpackable := state.Verification{Number: "+14155550100"}
	for i, v := range []state.Verification{packable, unpackable, packable, {Number: "1", Evictable: true}, packable} {
		if err := s.RememberVerification(ctx, hexID, v, time.Minute); err != nil {
			t.Fatal(err)
		}
		v.Evictable = false
		if got, _, _ := s.RecallVerification(ctx, hexID); got != v {
			t.Fatalf("write %d: recalled %+v, want %+v", i, got, v)
		}
		if st := s.Stats(); st.Keys != 1 || len(s.packed)+len(s.verifications) != 1 {
			t.Fatalf("write %d: %d keys held, %d packed and %d not", i, st.Keys, len(s.packed), len(s.verifications))
		}
	}
}

// TestPackedVerificationsExpire: a packed verification is known until its ttl and forgotten at it;
// written again, its new ttl counts, sooner or later; once expired it leaves the store.
func TestPackedVerificationsExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New()
	s := New(clock.Now)
	v := state.Verification{Number: "14155550100"}
	remember := func(id string, ttl time.Duration) {
		t.Helper()
		if err := s.RememberVerification(ctx, id, v, ttl); err != nil {
			t.Fatal(err)
		}
	}
	known := func(id string) bool {
		t.Helper()
		_, found, err := s.RecallVerification(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	sooner, later := hexID, uuidID
	remember(sooner, 10*time.Minute)
	remember(later, 10*time.Minute)
	remember(sooner, time.Minute)   // sooner than it is queued
	remember(later, 20*time.Minute) // later: found when the queue reaches its first expiry
	clock.Advance(time.Minute - time.Nanosecond)
	if !known(sooner) {
		t.Fatal("forgotten before its ttl")
	}
	clock.Advance(time.Nanosecond)
	if known(sooner) {
		t.Fatal("known at its ttl")
	}
	clock.Advance(15 * time.Minute)
	s.sweepAll()
	if !known(later) {
		t.Fatal("a verification written again with a later ttl was forgotten at its first one")
	}
	if st := s.Stats(); st.Keys != 1 {
		t.Fatalf("%d keys held, want the one still running", st.Keys)
	}
	clock.Advance(5 * time.Minute)
	s.sweepAll()
	if st := s.Stats(); st.Keys != 0 || len(s.packed) != 0 || len(s.packedQueue) != 0 {
		t.Fatalf("after every ttl: %d keys, %d packed, %d queued", st.Keys, len(s.packed), len(s.packedQueue))
	}
}

// TestPackedVerificationsCountAgainstTheCeiling: a packed verification guards a user's code as any
// other, so the ceiling counts it and never drops it; a full store refuses the next one.
func TestPackedVerificationsCountAgainstTheCeiling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New()
	s := New(clock.Now, MaxKeys(ceiling))
	for i := range ceiling {
		if err := s.RememberVerification(ctx, fmt.Sprintf("%032x", i), state.Verification{Number: "1"}, time.Hour); err != nil {
			t.Fatalf("verification %d of %d: %v", i, ceiling, err)
		}
	}
	if err := s.RememberVerification(ctx, fmt.Sprintf("%032x", ceiling), state.Verification{Number: "1"}, time.Hour); !errors.Is(err, state.ErrFull) {
		t.Fatalf("a verification past the ceiling: %v, want state.ErrFull", err)
	}
	if len(s.packed) != ceiling {
		t.Fatalf("%d of %d verifications packed", len(s.packed), ceiling)
	}
	clock.Advance(time.Hour)
	if err := s.RememberVerification(ctx, fmt.Sprintf("%032x", ceiling), state.Verification{Number: "1"}, time.Hour); err != nil {
		t.Fatalf("once the others expired: %v", err)
	}
}

// sweepAll runs the sweep until nothing is due.
func (s *Store) sweepAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.visitDue(s.now().UnixNano()) {
	}
}
