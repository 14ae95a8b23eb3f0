package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	gate := &gate{now: s.nowMS()}
	for _, c := range calls {
		if gate.add(c) {
			continue
		}
		st, err := s.step(c)
		if err != nil {
			st = failedStep(c, err)
		}
		steps = append(steps, st)
	}
	if len(gate.calls) > 0 {
		steps = append(steps, gate.step())
	}
	return s.send(ctx, steps)
}

// send runs steps in one pipeline, and again whole those whose script Redis did not know, then
// reads their answers; it answers the first failure.
func (s *Store) send(ctx context.Context, steps []*step) error {
	pending := steps
	for _, eval := range []bool{false, true} {
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range pending {
				pending[i].queue(ctx, p, eval)
			}
			return nil
		})
		if err != nil && !isReply(err) {
			// The connection failed: go-redis leaves some commands without an error of their own,
			// and none of them is known to have run.
			for _, st := range pending {
				st.failed = err
			}
			break
		}
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
		err := wrap(st.failed)
		if err == nil {
			err = st.finish()
		} else {
			st.fail(err)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// isReply says whether err is an error Redis answered (to one command; the others ran), rather
// than a failure to reach it.
func isReply(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// step is one call of a batch in the pipeline: queue adds its commands (scripts sent whole when
// eval, else by their hash), script is its script's command, if any, and finish reads the answers
// into the call, answering its error.
type step struct {
	queue  func(ctx context.Context, p redis.Pipeliner, eval bool)
	finish func() error
	script *redis.Cmd
	failed error           // the pipeline failed before its commands were answered
	fail   func(err error) // sets err as the answer of the step's calls
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
	st := &step{fail: func(err error) { setErr(c, err) }}
	switch c := c.(type) {
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
	case *state.RecallCall: // one that takes nothing: the gate has the others
		var cmd *redis.StringCmd
		st.queue = func(ctx context.Context, p redis.Pipeliner, _ bool) { cmd = p.Get(ctx, verificationKey(c.ID)) }
		st.finish = func() error {
			c.Verification, c.Found, c.Err = decodeVerification(cmd.Bytes())
			return c.Err
		}
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
	if c != nil {
		setErr(c, err)
	}
	return &step{queue: func(context.Context, redis.Pipeliner, bool) {}, finish: func() error { return err },
		fail: func(error) {}}
}

// setErr sets err as c's answer.
func setErr(c state.Call, err error) {
	switch c := c.(type) {
	case *state.TakeCall:
		c.Err = err
	case *state.PausedCall:
		c.Err = err
	case *state.RefundCall:
		c.Err = err
	case *state.ReserveCall:
		c.Err = err
	case *state.CompleteCall:
		c.Err = err
	case *state.ReleaseCall:
		c.Err = err
	case *state.RememberCall:
		c.Err = err
	case *state.RecallCall:
		c.Err = err
	case *state.ReadFraudCall:
		c.Err = err
	case *state.NoteFraudCall:
		c.Err = err
	case *state.EndBlocksCall:
		c.Err = err
	}
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

// firstErr is the first failure of cmds, wrapped.
func firstErr[C redis.Cmder](cmds ...C) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return wrap(err)
		}
	}
	return nil
}
