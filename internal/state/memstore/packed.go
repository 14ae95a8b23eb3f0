package memstore

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// A start's verification is the one key every start adds and keeps for the code's whole lifetime, so
// under a flood of starts it is most of the store. Kept as a verification (a struct, its place in
// the queue and the lists, its id and four strings) it is seven pointers the garbage collector walks
// on every cycle, and 271 bytes (BenchmarkBytesPerKey). Most verifications have one shape: a
// request_id of 32 hex digits or a UUID, a number of digits, a client that is an IP address or a
// network. Those are packed into a value without pointers, in a map without pointers, queued for
// expiry in a heap without pointers: 213 bytes, none of them for the collector to walk. Anything of
// another shape (a trusted number's mark, an odd id, a client that is no address) is kept as before.

// packedID is a request_id packed into its 16 bytes.
type packedID struct {
	form uint8 // idHex or idUUID: the same bytes are another id in the other form
	b    [16]byte
}

const (
	idHex  uint8 = iota + 1 // 32 lower-case hex digits, as Verify v1 and the sandbox answer
	idUUID                  // a lower-case UUID, as Verify v2 answers (guard lowers the case)
)

// packed is a state.Verification that was packed, with its expiry. Its fields round-trip exactly:
// what cannot be rebuilt byte for byte is not packed (pack).
type packed struct {
	expires    int64
	due        int64 // its place in packedQueue: the expiry it was queued at
	started    int64
	number     uint64
	client     [16]byte // netip's 16-byte form
	window     [maxPackedWindow]byte
	country    [maxPackedCountry]byte
	digits     uint8 // the number's length, leading zeros included
	clientForm uint8 // clientNone...clientPrefix6
	clientBits uint8
	windowLen  uint8
	countryLen uint8
	test       bool
}

const (
	maxPackedDigits  = 19 // what a uint64 always holds
	maxPackedWindow  = 40 // the guard's "wrong:" and 32 hex digits fit
	maxPackedCountry = 4  // "US", "+800"
)

const (
	clientNone uint8 = iota
	clientAddr4
	clientAddr6
	clientPrefix4
	clientPrefix6
)

// packID packs a request_id, or answers false when it has neither shape.
func packID(id string) (packedID, bool) {
	var k packedID
	switch len(id) {
	case 32:
		k.form = idHex
		if !lowerHex(id) {
			return k, false
		}
		_, err := hex.Decode(k.b[:], []byte(id))
		return k, err == nil
	case 36:
		k.form = idUUID
		if id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
			return k, false
		}
		digits := id[:8] + id[9:13] + id[14:18] + id[19:23] + id[24:]
		if !lowerHex(digits) {
			return k, false
		}
		_, err := hex.Decode(k.b[:], []byte(digits))
		return k, err == nil
	}
	return k, false
}

// lowerHex reports whether s is lower-case hex digits only: "AB" and "ab" decode alike but are
// different ids.
func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// pack packs v, or answers false when one of its fields would not come back as it was.
func pack(v state.Verification) (packed, bool) {
	var p packed
	if len(v.Number) > maxPackedDigits || len(v.Window) > maxPackedWindow || len(v.Country) > maxPackedCountry {
		return p, false
	}
	if v.Number != "" {
		n, err := strconv.ParseUint(v.Number, 10, 64)
		if err != nil || v.Number[0] == '+' {
			return p, false
		}
		p.number, p.digits = n, uint8(len(v.Number))
	}
	if !packClient(&p, v.Client) {
		return p, false
	}
	p.windowLen = uint8(copy(p.window[:], v.Window))
	p.countryLen = uint8(copy(p.country[:], v.Country))
	p.started, p.test = v.Started, v.Test
	return p, true
}

// packClient packs a client (an address, or a network such as an IPv6 /64) when netip gives the
// same text back.
func packClient(p *packed, client string) bool {
	if client == "" {
		return true
	}
	if strings.Contains(client, "/") {
		pfx, err := netip.ParsePrefix(client)
		if err != nil || pfx.String() != client {
			return false
		}
		p.client, p.clientBits = pfx.Addr().As16(), uint8(pfx.Bits())
		p.clientForm = clientPrefix6
		if pfx.Addr().Is4() {
			p.clientForm = clientPrefix4
		}
		return true
	}
	addr, err := netip.ParseAddr(client)
	if err != nil || addr.Zone() != "" || addr.String() != client {
		return false
	}
	p.client, p.clientForm = addr.As16(), clientAddr6
	if addr.Is4() {
		p.clientForm = clientAddr4
	}
	return true
}

// verification is what p keeps, as it was given.
func (p *packed) verification() state.Verification {
	v := state.Verification{Started: p.started, Test: p.test,
		Window: string(p.window[:p.windowLen]), Country: string(p.country[:p.countryLen])}
	if p.digits > 0 {
		n := strconv.FormatUint(p.number, 10)
		if pad := int(p.digits) - len(n); pad > 0 {
			n = strings.Repeat("0", pad) + n
		}
		v.Number = n
	}
	addr := netip.AddrFrom16(p.client)
	switch p.clientForm {
	case clientAddr4:
		v.Client = addr.Unmap().String()
	case clientAddr6:
		v.Client = addr.String()
	case clientPrefix4:
		v.Client = netip.PrefixFrom(addr.Unmap(), int(p.clientBits)).String()
	case clientPrefix6:
		v.Client = netip.PrefixFrom(addr, int(p.clientBits)).String()
	}
	return v
}

// packedDue is a packed verification in packedQueue: when it is due, and which.
type packedDue struct {
	at int64
	id packedID
}

// packedQueue orders packed verifications by when they are due, soonest first. It is a heap of
// its own, not container/heap's: that one boxes every item in an interface, which is a pointer.
type packedQueue []packedDue

func (q *packedQueue) push(d packedDue) {
	*q = append(*q, d)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent].at <= h[i].at {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (q *packedQueue) pop() packedDue {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l].at < h[small].at {
			small = l
		}
		if r < len(h) && h[r].at < h[small].at {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	*q = shrunk(h)
	return top
}

// rememberPacked keeps p under k until expires. It runs under s.mu; id is k as the caller named it.
func (s *Store) rememberPacked(now int64, id string, k packedID, p packed, expires int64) error {
	if old, ok := s.packed[k]; ok {
		p.expires, p.due = expires, old.due
		if expires < old.due {
			p.due = expires // sooner than it is queued: queue it again (the old place is then stale)
			s.packedQueue.push(packedDue{at: expires, id: k})
		}
		s.packed[k] = p
		return nil
	}
	if old := s.verifications[id]; old != nil {
		s.forget(&old.entry) // kept unpacked before (a trusted mark's id): one record per id
	}
	if err := s.room(now, 1, 1, false); err != nil {
		return err
	}
	p.expires, p.due = expires, expires
	s.packed[k] = p
	s.packedQueue.push(packedDue{at: expires, id: k})
	s.used++
	s.kept++
	return nil
}

// forgetPacked drops the packed verification k, if there is one. It runs under s.mu.
func (s *Store) forgetPacked(k packedID) {
	if _, ok := s.packed[k]; ok {
		delete(s.packed, k) // its place in the queue is found stale when reached
		s.used--
		s.kept--
	}
}

// visitPacked looks at the packed verification first in packedQueue, as visitEntry does with the
// other keys: it drops it when it expired, or queues it again at its expiry. It reports whether
// there was such an item in the queue.
func (s *Store) visitPacked(now int64) bool {
	if len(s.packedQueue) == 0 || s.packedQueue[0].at > now {
		return false
	}
	d := s.packedQueue.pop()
	s.swept++
	p, ok := s.packed[d.id]
	if !ok || p.due != d.at {
		return true // forgotten, or queued again since
	}
	if p.expires > now {
		p.due = p.expires
		s.packed[d.id] = p
		s.packedQueue.push(packedDue{at: p.expires, id: d.id})
		return true
	}
	s.forgetPacked(d.id)
	return true
}
