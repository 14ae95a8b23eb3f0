// Package redisstore owns the shared state in Redis, so that any number of replicas enforce one
// budget: sliding-window counters (one sorted set per key), idempotency records, test-number
// sessions, started verifications and the fraud guard's counts and blocks. Every operation is one
// Redis command or one Lua script, which Redis runs atomically, never a read followed by a write
// from Go. It runs on one Redis, on a Redis Cluster or behind Redis Sentinel (Mode), with the same
// scripts.
//
// In a cluster a script may only touch keys of one hash slot, so every script here touches the keys
// of one subject: one limit's window, one idempotency key, one session, one fraud key's counts. The
// fraud guard's blocks are the one exception: a block, its repeats and the index that lists blocks
// must change together, and share the hash tag {fraud-blocks} (one slot: they are few and rarely
// written). A call decided under several limits (Take) is one script in one Redis; in a cluster it
// is decided limit by limit, each limit's window on its own slot (see Take).
//
// Windows are counted on Redis's clock (TIME), so replicas with skewed clocks still share one
// window; tests may inject a clock instead. Keys are prefixed "verify-proxy:" and every key this
// package writes carries an expiry.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

const prefix = "verify-proxy:"

// Timeouts are short: a start waits on Redis before it can be refused with 503, and a hung Redis
// must not hold every request for the upstream timeout.
const (
	dialTimeout = time.Second
	ioTimeout   = 500 * time.Millisecond
)

// Mode is how the Redis behind the URL is deployed.
type Mode string

// The modes of New.
const (
	// ModeSingle is one Redis (redis://, rediss:// or unix://); the zero Mode is ModeSingle.
	ModeSingle Mode = "single"
	// ModeCluster is a Redis Cluster: the URL names seed nodes, redis://host1:7000?addr=host2:7001.
	ModeCluster Mode = "cluster"
	// ModeSentinel is a master found through Redis Sentinel: the URL names the sentinels in the
	// same form, and Options.SentinelMaster the master.
	ModeSentinel Mode = "sentinel"
)

// Options configure a Store.
type Options struct {
	// Mode is how Redis is deployed; empty means ModeSingle.
	Mode Mode
	// SentinelMaster is the name the sentinels know the master by (ModeSentinel only).
	SentinelMaster string
	// Now, when set, replaces Redis's clock for the windows (tests only: it makes windows
	// deterministic). Expiry of keys always follows Redis's clock.
	Now func() time.Time
	// Hook, when set, sees every command and pipeline sent (tests count round trips with it).
	Hook redis.Hook
}

// Store is a state.Store in Redis. It is safe for concurrent use.
type Store struct {
	client   redis.UniversalClient
	cluster  bool     // keys of one call may live on different nodes
	tls      bool     // the URL asked for TLS
	sentinel bool     // the URL names sentinels, and its password is theirs
	master   string   // the master's name the sentinels are asked for, for Refused
	db       int      // the database the URL names, for Refused
	addrs    []string // the addresses the URL names, for NotTLS
	now      func() time.Time
}

var _ state.Store = (*Store)(nil)

// New connects to the Redis that url names, deployed as opts.Mode says. It does not wait for Redis:
// an unreachable Redis is reported by each call, so a replica can start while Redis restarts. It
// refuses the options of the query that go-redis would take and then panic on or misread (see
// checkQuery). Errors never repeat url, which may hold a password.
func New(rawURL string, opts Options) (*Store, error) {
	mode := opts.Mode
	if mode == "" {
		mode = ModeSingle
	}
	want, schemes, ok := urlForm(mode)
	if !ok {
		return nil, fmt.Errorf("unknown mode %q: single, cluster or sentinel", opts.Mode)
	}
	if mode == ModeSentinel && opts.SentinelMaster == "" {
		return nil, errors.New("sentinel mode needs the name of the master")
	}
	u, err := url.Parse(rawURL)
	if err != nil || !slices.Contains(schemes, u.Scheme) {
		return nil, errors.New("not " + want)
	}
	// go-redis reads the query with u.Query(), which drops what it cannot read ("pool_size=-1;"):
	// such a URL would start without the options its author wrote.
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("the query after ? cannot be read: write name=value pairs joined by &, and % only in escapes such as %40")
	}
	s := &Store{now: opts.Now, tls: u.Scheme == "rediss"}
	switch mode {
	case ModeSingle:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, parseError(err, mode, want)
		}
		err = checkQuery(q, pool{o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns, o.MaxConcurrentDials, o.Protocol,
			o.MinRetryBackoff, o.MaxRetryBackoff, o.PoolTimeout, o.ConnMaxIdleTime, o.ConnMaxLifetime, o.ConnMaxLifetimeJitter,
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout},
			number{"db", o.DB, 0, unbounded})
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dialTimeout, ioTimeout, ioTimeout
		o.MaxRetries = 1
		// go-redis dials up to 5 times, 100 ms apart, per attempt: half a second and more before a
		// refused connection is reported. Redis is near; a dial that fails once will fail again.
		o.DialerRetries, o.DialerRetryTimeout = 1, 10*time.Millisecond
		if o.Network == "tcp" {
			s.addrs = []string{o.Addr}
		}
		s.db = o.DB
		s.client = redis.NewClient(o)
	case ModeCluster:
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, parseError(err, mode, want)
		}
		// A max_redirects below -1 (none) sends no command at all, and every command succeeds.
		err = checkQuery(q, pool{o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns, o.MaxConcurrentDials, o.Protocol,
			o.MinRetryBackoff, o.MaxRetryBackoff, o.PoolTimeout, o.ConnMaxIdleTime, o.ConnMaxLifetime, o.ConnMaxLifetimeJitter,
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout},
			number{"max_redirects", o.MaxRedirects, -1, unbounded},
			number{"failing_timeout_seconds", o.FailingTimeoutSeconds, 0, unbounded})
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dialTimeout, ioTimeout, ioTimeout
		o.MaxRetries = 1
		o.DialerRetries, o.DialerRetryTimeout = 1, 10*time.Millisecond
		s.addrs, s.cluster = o.Addrs, true
		s.client = redis.NewClusterClient(o)
	case ModeSentinel:
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, parseError(err, mode, want)
		}
		err = checkQuery(q, pool{o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns, o.MaxConcurrentDials, o.Protocol,
			o.MinRetryBackoff, o.MaxRetryBackoff, o.PoolTimeout, o.ConnMaxIdleTime, o.ConnMaxLifetime, o.ConnMaxLifetimeJitter,
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout},
			number{"db", o.DB, 0, unbounded})
		if err != nil {
			return nil, err
		}
		o.MasterName = opts.SentinelMaster
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dialTimeout, ioTimeout, ioTimeout
		o.MaxRetries = 1
		o.DialerRetries, o.DialerRetryTimeout = 1, 10*time.Millisecond
		s.addrs, s.sentinel, s.db, s.master = o.SentinelAddrs, true, o.DB, o.MasterName
		s.client = redis.NewFailoverClient(o)
	}
	if opts.Hook != nil {
		s.client.AddHook(opts.Hook)
	}
	return s, nil
}

// readyScript is the write Ping makes: a key with an expiry, set in a script run by its hash, as
// every call of the store writes. A user without EVALSHA, EVAL or PEXPIRE passes a plain SET.
var readyScript = redis.NewScript(`
redis.call('set', KEYS[1], '1', 'PX', ARGV[1])
return redis.call('pexpire', KEYS[1], ARGV[1])
`)

// readyTTL is how long the key of a Ping lives, in milliseconds.
const readyTTL = 10_000

// Ping reports whether Redis takes a write, as every limit and idempotency key needs: a replica
// that became read-only after a failover, a Redis out of memory or with writes paused answers
// PING but refuses every /request, and so does a user without the commands the scripts run. In a
// cluster every master must take one.
func (s *Store) Ping(ctx context.Context) error {
	if !s.cluster {
		return wrap(readyScript.Run(ctx, s.client, []string{prefix + "ready"}, readyTTL).Err())
	}
	slots, err := s.client.ClusterSlots(ctx).Result()
	if err != nil {
		return wrap(err)
	}
	if len(slots) == 0 {
		return wrap(errors.New("the cluster serves no slots"))
	}
	pinged := map[string]bool{}
	for _, r := range slots {
		if len(r.Nodes) == 0 || pinged[r.Nodes[0].Addr] {
			continue
		}
		pinged[r.Nodes[0].Addr] = true
		key := prefix + "ready:{" + tagOfSlot(r.Start) + "}"
		if err := readyScript.Run(ctx, s.client, []string{key}, readyTTL).Err(); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.client.Close() }

// expiry is ttl as SET takes it: go-redis sends a SET of 0 without any expiry, and every key here
// must expire; a ttl of 0 or less keeps the value a millisecond, as good as not at all.
func expiry(ttl time.Duration) time.Duration { return max(ttl, time.Millisecond) }

// wrap marks every failure of Redis as state.ErrUnavailable for the guard to decide on.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: redis: %w", state.ErrUnavailable, err)
}

// windowLua is the sliding window gateScript counts with: clock(ms) is
// that time, or Redis's when 0; full(key, count, window, now) answers the ms until the window has
// room, or nil when it has.
const windowLua = `
local function clock(now)
  if now ~= 0 then return now end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function full(key, count, window, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local used = redis.call('ZCARD', key)
  if used < count then return nil end
  local oldest = redis.call('ZRANGE', key, used - count, used - count, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
`

func limitKey(k string) string { return prefix + "rl:" + k }

// Take implements state.Limiter. On one Redis (single or sentinel) every rule is decided in one
// script, all or none. In a cluster each rule's window lives on its own slot, so the rules are
// decided one after the other, in their order: the first that refuses names the full rule, and the
// call is taken back from the rules that had admitted it. No rule ever admits more than its count;
// for the moment between a rule admitting a call and giving it back, another call may find that
// rule one fuller than it will be, and be refused where the single-Redis script would not.
func (s *Store) Take(ctx context.Context, rules []state.Rule) (state.Decision, error) {
	if len(rules) == 0 {
		return state.Decision{Allowed: true}, nil
	}
	member := rand.Text() // names this call in every rule's window: two calls in one millisecond both count
	now := s.nowMS()
	if !s.cluster {
		return s.take(ctx, rules, now, member)
	}
	for i := range rules {
		d, err := s.take(ctx, rules[i:i+1], now, member)
		if err == nil && d.Allowed {
			continue
		}
		// Refused here, or unknown: the rules before it give the call back.
		if undo := s.Refund(ctx, rules[:i], member); err == nil && undo != nil {
			err = undo
		}
		if err != nil {
			return state.Decision{}, err
		}
		d.Rule = i
		return d, nil
	}
	return state.Decision{Allowed: true, Token: member}, nil
}

// take runs rules, whose keys share a slot (or a Redis), in gateScript, as the call member. It
// checks every rule before recording in any, so a call refused by one limit costs nothing under
// the others.
func (s *Store) take(ctx context.Context, rules []state.Rule, now int64, member string) (state.Decision, error) {
	tc := &state.TakeCall{Rules: rules}
	g := &gate{now: now}
	g.take(tc, member)
	_ = g.run(ctx, s)
	return tc.Decision, tc.Err
}

// Refund implements state.Limiter: the admitted call is its member in every rule's sorted set.
func (s *Store) Refund(ctx context.Context, rules []state.Rule, token string) error {
	if len(rules) == 0 || token == "" {
		return nil
	}
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range rules {
			p.ZRem(ctx, limitKey(r.Key), token)
		}
		return nil
	})
	return wrap(err)
}

// nowMS is the time windows follow, in ms: 0 for Redis's own clock.
func (s *Store) nowMS() int64 {
	if s.now == nil {
		return 0
	}
	return s.now().UnixMilli()
}

// Reserve implements state.Idempotency.
func (s *Store) Reserve(ctx context.Context, key, fingerprint string, lease time.Duration) (state.Record, bool, error) {
	// go-redis resends a call that timed out (MaxRetries): when Redis was only slow, it runs both,
	// and without an owner the resent call would find the first one's lease and answer 409 to the
	// very request that holds it.
	return s.reserve(ctx, key, state.Record{Fingerprint: fingerprint, Owner: rand.Text()}, lease)
}

func (s *Store) reserve(ctx context.Context, key string, fresh state.Record, lease time.Duration) (state.Record, bool, error) {
	rc := &state.ReserveCall{Key: key, Fingerprint: fresh.Fingerprint, Lease: lease}
	g := &gate{now: s.nowMS()}
	g.reserve(rc, fresh.Owner)
	_ = g.run(ctx, s)
	return rc.Record, rc.Reserved, rc.Err
}

// Complete implements state.Idempotency.
func (s *Store) Complete(ctx context.Context, key string, rec state.Record, ttl time.Duration) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode idempotency record: %w", err)
	}
	return wrap(s.client.Set(ctx, prefix+key, b, expiry(ttl)).Err())
}

// Release implements state.Idempotency.
func (s *Store) Release(ctx context.Context, key string) error {
	return wrap(s.client.Del(ctx, prefix+key).Err())
}

func sessionKey(id string) string { return prefix + "session:" + id }

// StartSession implements state.Sessions: a hash {code, wrong} that expires with the session.
func (s *Store) StartSession(ctx context.Context, id, code string, ttl time.Duration) error {
	key := sessionKey(id)
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "code", code, "wrong", 0)
		p.PExpire(ctx, key, ttl)
		return nil
	})
	return wrap(err)
}

// Session scripts answer a resent call (go-redis resends one whose answer was slow, and a slow
// Redis then runs both) with the first run's answer: each call brings a nonce (its last ARGV), and
// its answer is kept in the session's hash under it. A session that ends keeps only that answer,
// for resendGrace, so that a right code is not answered "unknown" by its own resend.
const resendGrace = 5 * time.Second

// checkScript answers 0 for no session, 1 for the right code (ending it), 2 for a wrong one, 3 for
// the ARGV[2]-th wrong one (ending it).
var checkScript = redis.NewScript(`
local seen = redis.call('HGET', KEYS[1], 'r:' .. ARGV[3])
if seen then return tonumber(seen) end
local code = redis.call('HGET', KEYS[1], 'code')
if not code then return 0 end
local result = 2
if code == ARGV[1] then
  result = 1
elseif redis.call('HINCRBY', KEYS[1], 'wrong', 1) >= tonumber(ARGV[2]) then
  result = 3
end
if result ~= 2 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'r:' .. ARGV[3], result)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return result
end
redis.call('HSET', KEYS[1], 'r:' .. ARGV[3], result)
return result
`)

// endScript ends a live session: 1 if there was one, else 0.
var endScript = redis.NewScript(`
local seen = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
if seen then return tonumber(seen) end
if redis.call('HEXISTS', KEYS[1], 'code') == 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'r:' .. ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// CheckSession implements state.Sessions.
func (s *Store) CheckSession(ctx context.Context, id, code string, maxWrong int) (state.CodeResult, error) {
	n, err := checkScript.Run(ctx, s.client, []string{sessionKey(id)}, code, maxWrong, rand.Text(),
		resendGrace.Milliseconds()).Int()
	if err != nil {
		return state.CodeUnknown, wrap(err)
	}
	switch n {
	case 1:
		return state.CodeRight, nil
	case 2:
		return state.CodeWrong, nil
	case 3:
		return state.CodeExhausted, nil
	}
	return state.CodeUnknown, nil
}

// EndSession implements state.Sessions.
func (s *Store) EndSession(ctx context.Context, id string) (bool, error) {
	n, err := endScript.Run(ctx, s.client, []string{sessionKey(id)}, rand.Text(), resendGrace.Milliseconds()).Int()
	return n > 0, wrap(err)
}

func verificationKey(id string) string { return prefix + "verification:" + id }

// RememberVerification implements state.Verifications.
func (s *Store) RememberVerification(ctx context.Context, id string, v state.Verification, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode verification: %w", err)
	}
	return wrap(s.client.Set(ctx, verificationKey(id), b, expiry(ttl)).Err())
}

// RecallVerification implements state.Verifications.
func (s *Store) RecallVerification(ctx context.Context, id string) (state.Verification, bool, error) {
	return decodeVerification(s.client.Get(ctx, verificationKey(id)).Bytes())
}

// decodeVerification reads a verification record as GET answered it.
func decodeVerification(b []byte, err error) (state.Verification, bool, error) {
	if errors.Is(err, redis.Nil) {
		return state.Verification{}, false, nil
	}
	if err != nil {
		return state.Verification{}, false, wrap(err)
	}
	var v state.Verification
	if err := json.Unmarshal(b, &v); err != nil {
		return state.Verification{}, false, wrap(fmt.Errorf("verification record is not ours: %w", err))
	}
	return v, true, nil
}

// LogLibraryTo sends go-redis's own log lines to logger at Debug level. go-redis writes one line to
// stderr per failed dial, which during an outage means one per request; the guard already logs each
// outage once, so those lines are only for debugging. go-redis has only a process-wide logger, so
// the program calls this once, at start-up.
func LogLibraryTo(logger *slog.Logger) {
	redis.SetLogger(libraryLog{logger})
}

type libraryLog struct{ logger *slog.Logger }

func (l libraryLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
