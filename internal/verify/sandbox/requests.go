package sandbox

import (
	"container/list"
	"time"
)

// request is one verification. It is live from created until created+pinExpiry. After that it is kept,
// expired, for one more pinExpiry so that a late check can say "expired" rather than "not found".
// A request that was verified, cancelled or failed is removed at once: Verify answers status 6 for all
// of them alike, so there is nothing to remember.
type request struct {
	id         string
	number     string
	code       string
	created    time.Time
	wrongCodes int
	age        *list.Element // r's place in Provider.byAge, for removal in O(1)
}

// The methods below keep byID, byNumber and byAge in step. All of them need p.mu.

func (p *Provider) live(r *request, now time.Time) bool {
	return now.Before(r.created.Add(p.pinExpiry))
}

func (p *Provider) forgotten(r *request, now time.Time) bool {
	return !now.Before(r.created.Add(2 * p.pinExpiry))
}

// lookup returns the request id, or nil if it is unknown or forgotten. It removes a forgotten request
// on the way, so the answer does not depend on when the last sweep ran.
func (p *Provider) lookup(id string, now time.Time) *request {
	r := p.byID[id]
	if r == nil {
		return nil
	}
	if p.forgotten(r, now) {
		p.remove(r)
		return nil
	}
	return r
}

// sweep removes the forgotten requests. They sit at the front of byAge, so each call costs only what
// it removes: O(1) amortised per Start. A clock that steps back only delays the sweep; lookup and
// the eviction in start stay correct.
func (p *Provider) sweep(now time.Time) {
	for e := p.byAge.Front(); e != nil; e = p.byAge.Front() {
		r := e.Value.(*request)
		if !p.forgotten(r, now) {
			return
		}
		p.remove(r)
	}
}

func (p *Provider) add(r *request) {
	p.byID[r.id] = r
	p.byNumber[r.number] = r
	r.age = p.byAge.PushBack(r)
}

func (p *Provider) remove(r *request) {
	delete(p.byID, r.id)
	if p.byNumber[r.number] == r {
		delete(p.byNumber, r.number)
	}
	p.byAge.Remove(r.age)
}
