package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// Batch implements state.Batcher: on one Redis (single or sentinel) every call goes in one
// pipeline, one round trip. A script Redis does not know yet (it restarted, or failed over) is
// sent whole by a second round trip, for the calls it refused only: a refused script ran nothing.
// In a cluster each call's keys may live on another node and a multi-rule take is decided rule by
// rule, so the calls are made one after the other.
func (s *Store) Batch(ctx context.Context, calls ...state.Call) error {
	if s.cluster {
		return state.BatchEach(ctx, s, calls...)
	}
	steps := make([]*step, 0, len(calls))
	for _, c := range calls {
		st, err := s.step(c)
		if err != nil {
			st = failedStep(c, err)
		}
		steps = append(steps, st)
	}
	pending := steps
	for _, eval := range []bool{false, true} {
		_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range pending {
				pending[i].queue(ctx, p, eval)
			}
			return nil
		})
		var again []*step
		for _, st := range pending {
			if !eval && st.script != nil && redis.HasErrorPrefix(st.script.Err(), "NOSCRIPT") {
				again = append(again, st)
			}
		}
		if len(again) == 0 {
			break
		}
		pending = again
	}
	var first error
	for _, st := range steps {
		if err := st.finish(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// step is one call of a batch in the pipeline: queue adds its commands (scripts sent whole when
// eval, else by their hash), script is its script's command, if any, and finish reads the answers
// into the call, answering its error.
type step struct {
	queue  func(ctx context.Context, p redis.Pipeliner, eval bool)
	finish func() error
	script *redis.Cmd
}

// run queues script by hash, or whole when eval.
func run(ctx context.Context, p redis.Pipeliner, script *redis.Script, eval bool, keys []string, args ...any) *redis.Cmd {
	if eval {
		return script.Eval(ctx, p, keys, args...)
	}
	return script.EvalSha(ctx, p, keys, args...)
}

// step turns a call into its commands.
func (s *Store) step(c state.Call) (*step, error) {
	st := &step{}
	switch c := c.(type) {
	case *state.TakeCall:
		if len(c.Rules) == 0 {
			c.Decision = state.Decision{Allowed: true}
			st.queue = func(context.Context, redis.Pipeliner, bool) {}
			st.finish = func() error { return nil }
			return st, nil
		}
		member, err := uniqueMember()
		if err != nil {
			return st, err
		}
		keys, args := takeArgs(c.Rules, s.nowMS(), member)
		st.queue = func(ctx context.Context, p redis.Pipeliner, eval bool) {
			st.script = run(ctx, p, takeScript, eval, keys, args...)
		}
		st.finish = func() error {
			c.Decision, c.Err = decodeTake(st.script, member)
			return c.Err
		}
	case *state.RefundCall:
		var cmds []*redis.IntCmd
		st.queue = func(ctx context.Context, p redis.Pipeliner, _ bool) {
			if c.Token == "" {
				return
			}
			for _, r := range c.Rules {
				cmds = append(cmds, p.ZRem(ctx, limitKey(r.Key), c.Token))
			}
		}
		st.finish = func() error {
			c.Err = firstErr(cmds...)
			return c.Err
		}
	case *state.ReserveCall:
		fresh := state.Record{Fingerprint: c.Fingerprint, Owner: rand.Text()}
		b, err := json.Marshal(fresh)
		if err != nil {
			return st, fmt.Errorf("encode idempotency record: %w", err)
		}
		st.queue = func(ctx context.Context, p redis.Pipeliner, eval bool) {
			st.script = run(ctx, p, reserveScript, eval, []string{prefix + c.Key}, b, c.Lease.Milliseconds())
		}
		st.finish = func() error {
			c.Record, c.Reserved, c.Err = decodeReserve(st.script, fresh.Owner)
			return c.Err
		}
	case *state.CompleteCall:
		b, err := json.Marshal(c.Record)
		if err != nil {
			return st, fmt.Errorf("encode idempotency record: %w", err)
		}
		st.setting(func(ctx context.Context, p redis.Pipeliner) redis.Cmder {
			return p.Set(ctx, prefix+c.Key, b, expiry(c.TTL))
		}, &c.Err)
	case *state.ReleaseCall:
		st.setting(func(ctx context.Context, p redis.Pipeliner) redis.Cmder { return p.Del(ctx, prefix+c.Key) }, &c.Err)
	case *state.RememberCall:
		b, err := json.Marshal(c.Verification)
		if err != nil {
			return st, fmt.Errorf("encode verification: %w", err)
		}
		st.setting(func(ctx context.Context, p redis.Pipeliner) redis.Cmder {
			return p.Set(ctx, verificationKey(c.ID), b, expiry(c.TTL))
		}, &c.Err)
	case *state.RecallCall:
		s.recallStep(st, c)
	case *state.ReadFraudCall:
		var reads fraudReads
		st.queue = func(ctx context.Context, p redis.Pipeliner, _ bool) { reads = queueReadFraud(ctx, p, c.Keys) }
		st.finish = func() error {
			c.Records, c.Err = reads.decode(c.Keys)
			return c.Err
		}
	case *state.NoteFraudCall:
		keys, args := noteArgs(c.Keys, c.Note)
		cmds := make([]*redis.Cmd, len(keys))
		// One run per key: noteScript touches one key, as it must on a cluster. Its NOSCRIPT
		// answer is the first run's; the runs stand or fall together.
		st.queue = func(ctx context.Context, p redis.Pipeliner, eval bool) {
			for i, k := range keys {
				cmds[i] = run(ctx, p, noteScript, eval, []string{k}, args...)
			}
			if len(cmds) > 0 {
				st.script = cmds[0]
			}
		}
		st.finish = func() error {
			c.Err = firstErr(cmds...)
			return c.Err
		}
	case *state.EndBlocksCall:
		keys, args := endBlocksArgs(c.Now)
		st.queue = func(ctx context.Context, p redis.Pipeliner, eval bool) {
			st.script = run(ctx, p, endBlocksScript, eval, keys, args...)
		}
		st.finish = func() error {
			c.Ended, c.Err = decodeEnded(st.script)
			return c.Err
		}
	default:
		return st, fmt.Errorf("redisstore: a batch cannot make a %T", c)
	}
	return st, nil
}

// failedStep is a call that could not be put in the pipeline: it fails with err, sending nothing.
func failedStep(c state.Call, err error) *step {
	var into *error
	switch c := c.(type) {
	case *state.TakeCall:
		into = &c.Err
	case *state.RefundCall:
		into = &c.Err
	case *state.ReserveCall:
		into = &c.Err
	case *state.CompleteCall:
		into = &c.Err
	case *state.ReleaseCall:
		into = &c.Err
	case *state.RememberCall:
		into = &c.Err
	case *state.RecallCall:
		into = &c.Err
	case *state.ReadFraudCall:
		into = &c.Err
	case *state.NoteFraudCall:
		into = &c.Err
	case *state.EndBlocksCall:
		into = &c.Err
	default:
		into = new(error)
	}
	*into = err
	return &step{queue: func(context.Context, redis.Pipeliner, bool) {}, finish: func() error { return err }}
}

// setting is a step of one command whose only answer is its error.
func (st *step) setting(queue func(context.Context, redis.Pipeliner) redis.Cmder, err *error) {
	var cmd redis.Cmder
	st.queue = func(ctx context.Context, p redis.Pipeliner, _ bool) { cmd = queue(ctx, p) }
	st.finish = func() error {
		*err = wrap(cmd.Err())
		return *err
	}
}

// recallTakeScript answers the verification record KEYS[1], or nothing when there is none. When
// ARGV[1] (a key prefix) is set and the record names a window ("w"), it then takes one call under
// ARGV[1] .. that window, as takeScript would with count ARGV[2], window ARGV[3] ms, now ARGV[4]
// and member ARGV[5], and answers {record, 0, 0} when admitted, else {record, 1, ms until room};
// {record} when it took nothing. The window's key is known only once the record is read, so it
// is not among KEYS: this script runs on one Redis only, never a cluster.
var recallTakeScript = redis.NewScript(windowLua + `
local v = redis.call('GET', KEYS[1])
if not v then return {} end
if ARGV[1] == '' then return {v} end
local ok, rec = pcall(cjson.decode, v)
if not ok or type(rec) ~= 'table' or type(rec['w']) ~= 'string' or rec['w'] == '' then return {v} end
local key = ARGV[1] .. rec['w']
if redis.call('ZSCORE', key, ARGV[5]) then return {v, 0, 0} end
local window = tonumber(ARGV[3])
local now = clock(tonumber(ARGV[4]))
local wait = full(key, tonumber(ARGV[2]), window, now)
if wait then return {v, 1, wait} end
redis.call('ZADD', key, now, ARGV[5])
redis.call('PEXPIRE', key, window)
return {v, 0, 0}
`)

func (s *Store) recallStep(st *step, c *state.RecallCall) {
	args := []any{"", 0, 0, 0, ""}
	var member string
	if c.Take != nil {
		var err error
		if member, err = uniqueMember(); err != nil {
			c.Take = nil // no member, no take: the caller takes the rule itself
		} else {
			args = []any{limitKey(""), c.Take.Limit.Count, c.Take.Limit.Window.Milliseconds(), s.nowMS(), member}
		}
	}
	st.queue = func(ctx context.Context, p redis.Pipeliner, eval bool) {
		st.script = run(ctx, p, recallTakeScript, eval, []string{verificationKey(c.ID)}, args...)
	}
	st.finish = func() error {
		c.Err = decodeRecallTake(st.script, member, c)
		return c.Err
	}
}

// firstErr is the first failure of cmds, wrapped.
func firstErr[C redis.Cmder](cmds ...C) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// decodeRecallTake reads recallTakeScript's answer into c.
func decodeRecallTake(cmd *redis.Cmd, member string, c *state.RecallCall) error {
	res, err := cmd.Slice()
	if err != nil {
		return wrap(err)
	}
	if len(res) == 0 {
		return nil
	}
	raw, ok := res[0].(string)
	if !ok || (len(res) != 1 && len(res) != 3) {
		return wrap(fmt.Errorf("recall script answered %v", res))
	}
	if c.Verification, c.Found, err = decodeVerification([]byte(raw), nil); err != nil || len(res) == 1 {
		return err
	}
	refused, _ := res[1].(int64)
	wait, _ := res[2].(int64)
	c.Taken = true
	c.Decision = state.Decision{Allowed: true, Token: member}
	if refused != 0 {
		c.Decision = state.Decision{RetryAfter: time.Duration(wait) * time.Millisecond}
	}
	return nil
}
