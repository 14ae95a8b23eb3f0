// Package state owns what verify-proxy shares between replicas: sliding-window rate limits,
// idempotency records, test-number sessions and what each started verification was for, behind one
// Store interface with two implementations
// that pass one conformance suite (storetest): memstore in this process, redisstore in Redis. It
// knows what a limit is (Limit, "N/duration") and reports a store it cannot reach as ErrUnavailable;
// what either means for a request is the guard's decision, and the test numbers'.
package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store is the state replicas share: rate-limit windows, idempotency records and test-number
// sessions. Every method is one atomic step in the store (never a read followed by a write), so that
// replicas sharing one store enforce one budget. memstore keeps it in one process; redisstore in
// Redis. Both pass the same conformance tests (state/storetest).
type Store interface {
	Batcher
	Limiter
	Idempotency
	Sessions
	Verifications
	Fraud
}

// Limiter counts calls in sliding windows.
type Limiter interface {
	// Take records one call under every rule's key, all or none: when any rule already has Count
	// calls within its Window, nothing is recorded and the Decision names the first such rule.
	Take(ctx context.Context, rules []Rule) (Decision, error)
	// Refund takes back the call a Take of rules admitted (Decision.Token names it), when it turned
	// out not to count: a check that was held back in case it was a wrong code, and was not. Refunding
	// a call that has left its windows, or twice, changes nothing.
	Refund(ctx context.Context, rules []Rule, token string) error
}

// Rule is one limit applied to one key.
type Rule struct {
	Name  string // what is limited, for people: "per client IP", "per number", ...
	Label string // the same for metrics: "ip", "number", "check", "country", "global"
	Key   string // the counter, e.g. "ip:203.0.113.7"
	Limit Limit
	// Evictable says the window guards no spend (a client IP's calls, a request_id's checks): a
	// store bounded in size (memstore) may drop it before its calls leave it, to make room. A
	// window that guards spend (per number, prefix, country, global) is never dropped early; that
	// is the zero value, so a rule that does not say is kept.
	Evictable bool
}

// Decision is the outcome of Take.
type Decision struct {
	Allowed    bool
	Rule       int           // when not allowed: the index of the full rule
	RetryAfter time.Duration // when not allowed: how long until that rule has room
	Token      string        // when allowed: names this call in every rule's window, for Refund
}

// Idempotency keeps the first response to a request made with an idempotency key.
type Idempotency interface {
	// Reserve claims key for a request with fingerprint, in flight for at most lease. When key
	// already has a record, nothing changes and Reserve returns that record and false.
	Reserve(ctx context.Context, key, fingerprint string, lease time.Duration) (Record, bool, error)
	// Complete replaces key's record with the finished one, kept for ttl.
	Complete(ctx context.Context, key string, rec Record, ttl time.Duration) error
	// Release forgets key, so a retry with it starts afresh.
	Release(ctx context.Context, key string) error
}

// Record is what is known about an idempotency key.
type Record struct {
	Fingerprint string `json:"f"`
	Done        bool   `json:"d,omitempty"` // false while the first request is in flight
	// Owner names the Reserve call that wrote an in-flight record, for a store whose client may
	// resend a call that timed out: the resent call finds its own lease and must not take it for
	// another request's.
	Owner    string `json:"o,omitempty"`
	Response `json:"r"`
}

// Response is a response as it was sent (an HTTP status and body, opaque to the guard), so that it
// can be sent again byte for byte.
type Response struct {
	Status int    `json:"s,omitempty"`
	Body   []byte `json:"b,omitempty"`
}

// Sessions keep test-number verifications: a code and how often it was guessed wrong.
type Sessions interface {
	// StartSession stores a session id expecting code, for ttl.
	StartSession(ctx context.Context, id, code string, ttl time.Duration) error
	// CheckSession compares code with the session's. The right code ends the session, and so does
	// the maxWrong-th wrong one.
	CheckSession(ctx context.Context, id, code string, maxWrong int) (CodeResult, error)
	// EndSession ends the session id and reports whether it existed.
	EndSession(ctx context.Context, id string) (bool, error)
}

// CodeResult is the outcome of CheckSession.
type CodeResult int

// The outcomes of CheckSession.
const (
	CodeUnknown   CodeResult = iota // no such session (never started, ended or expired)
	CodeRight                       // the code matched; the session ended
	CodeWrong                       // the code did not match; the session goes on
	CodeExhausted                   // the code did not match for the maxWrong-th time; the session ended
)

// Verifications remember what each started verification was for, for as long as its code can be
// checked: the number its token names, whose wrong codes it counts against, and who started it.
type Verifications interface {
	// RememberVerification keeps v under the request_id id for ttl.
	RememberVerification(ctx context.Context, id string, v Verification, ttl time.Duration) error
	// RecallVerification answers what id was started for, and false when nothing is remembered
	// (never started here, or its ttl passed).
	RecallVerification(ctx context.Context, id string) (Verification, bool, error)
}

// Verification is what the proxy knows of a verification it started.
type Verification struct {
	Number  string `json:"n"`           // E.164 digits, no '+'
	Client  string `json:"c,omitempty"` // the client that started it: an IPv4 address or an IPv6 /64
	Test    bool   `json:"t,omitempty"` // a test number, answered by the proxy itself
	Country string `json:"r,omitempty"` // the number's region, or "+" and its country code
	Started int64  `json:"s,omitempty"` // when it started, in Unix milliseconds
	// Window is the key of the limit a wrong code of this verification counts against (its
	// number's wrong codes), so that a check can take it in the call that recalls the record.
	Window string `json:"w,omitempty"`
	// Evictable says the record only eases a user's way (a trusted number's mark), so a store
	// bounded in size (memstore) may drop it before its ttl to make room. It is not stored: Recall
	// answers it false.
	Evictable bool `json:"-"`
}

// ErrUnavailable is wrapped by every error a store returns when it cannot be reached or answered
// nonsense. The guard decides what that means for the call (fail closed or open).
var ErrUnavailable = errors.New("shared state unavailable")

// ErrFull is wrapped by the error of a store bounded in size (memstore) asked to keep one key more
// when every key it holds may not be dropped before it expires. It wraps ErrUnavailable, so that it
// is handled as a store that does not answer, except that a start is refused even when failing
// open: nothing else would count its limits.
var ErrFull = fmt.Errorf("%w: the store is full", ErrUnavailable)

// Fraud keeps what the fraud guard learns, per key (a number prefix or a country): starts and their
// outcomes counted in minute buckets by the minute each start was made, when the key last converted,
// and its block. Blocks are kept with an index, so that they can be listed and their end logged once.
type Fraud interface {
	// NoteFraud adds one to the bucket of n.StartedAt under each key, as n.Kind says, keeping the
	// buckets for n.Retain (and dropping older ones); FraudVerified also marks each key converted
	// at n.At, kept for n.RetainConverted.
	NoteFraud(ctx context.Context, keys []string, n FraudNote) error
	// ReadFraud answers what is known of each key, in the order of keys.
	ReadFraud(ctx context.Context, keys []string) ([]FraudRecord, error)
	// Block starts b for its key unless a block of that key is running; then it answers that one
	// and false. A new block lasts base doubled for each block of the key that began within
	// memory before it (its Repeat), at most max. It forgets the key's buckets, which are its
	// evidence: once it ends, the key is judged on what happens after, not again on what caused it.
	Block(ctx context.Context, b Block, base, max, memory time.Duration) (Block, bool, error)
	// Blocks lists the blocks that have not been ended, running or not.
	Blocks(ctx context.Context) ([]Block, error)
	// Lift ends the block of key at once, and forgets its repeats and its buckets; false when there
	// was none.
	Lift(ctx context.Context, key string) (Block, bool, error)
	// EndBlocks ends the blocks whose time is up at now, and answers those this call ended: each
	// ended block is answered once, whichever replica asks.
	EndBlocks(ctx context.Context, now time.Time) ([]Block, error)
}

// FraudKind is what a FraudNote counts.
type FraudKind int

// The kinds of FraudNote.
const (
	FraudStarted    FraudKind = iota + 1 // a verification started
	FraudVerified                        // it was verified
	FraudUnverified                      // it ended unverified before it expired: failed or cancelled
)

// FraudNote is one event of a start.
type FraudNote struct {
	Kind            FraudKind
	StartedAt       time.Time // when the start was made: its bucket
	At              time.Time // now
	Retain          time.Duration
	RetainConverted time.Duration
}

// FraudRecord is what is known of one key.
type FraudRecord struct {
	Buckets       []FraudBucket // any order
	LastConverted time.Time     // zero: none within RetainConverted
	Block         *Block        // the running block, if any
	Repeats       int           // the blocks of the key that began within the memory of Block
}

// FraudBucket counts the starts of one minute, and what became of them.
type FraudBucket struct {
	Minute     int64 // Unix minutes
	Started    int
	Verified   int
	Unverified int
}

// Block is a pause of verifications to one key: a prefix or a country.
type Block struct {
	Key   string    `json:"-"`
	Scope string    `json:"scope"` // "prefix" or "country"
	Value string    `json:"key"`   // the prefix (E.164 with '+', without the last 4 digits) or the country
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// The figures that caused it.
	Settled    int     `json:"settled"`
	Verified   int     `json:"verified"`
	Conversion float64 `json:"conversion"`
	Repeat     int     `json:"repeat"` // 1 for the first block of the key within the memory, 2 for the next...
}
