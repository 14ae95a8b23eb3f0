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

// gateScript makes a batch's spending calls in their order, in one script, so that once one is
// refused those after it are not made (state.Batcher). ARGV[1] is now in ms, or 0 for Redis's
// clock; ARGV[2] the calls, JSON, each naming its keys by their index in KEYS:
//
//	{"t":"take","k":[keys],"c":[counts],"w":[windows in ms],"m":member,"u":unless key or 0,
//	 "pb":0 or, for a probation, the country's block key,"ps":its strikes key,"pc":the prefix's
//	 stats key,"pt":converted since, in ms}
//	{"t":"paused","k":block key,"u":unless key or 0}
//	{"t":"reserve","k":key,"v":record,"l":lease in ms}
//	{"t":"recall","k":record key,"p":limit key prefix or "","c":count,"w":window in ms,"m":member}
//
// It answers one entry per call. A take: {0 admitted | 1 refused | 2 skipped | 3 exempt (its
// unless key exists, or its probation does not hold), the 1-based index of the full rule, ms until
// it has room}. A paused: {0 not paused | 1 paused | 2 skipped | 3 exempt}. A reserve: {0
// reserved | 1 the key has a record | 2 skipped, that record}. A recall: {0 taken | 1 refused | 2
// nothing taken, the record or "", ms until room}: it reads the record whatever happened before,
// and takes one call under the window the record names ("w") only if nothing was refused before.
//
// go-redis resends a call whose answer was slow or lost: a resent take finds its member already
// admitted, and a resent reserve its own record, so that neither counts twice nor refuses itself.
// The window a record names is known only once it is read, so it is not among KEYS: this script
// runs on one Redis only, never a cluster.
var gateScript = redis.NewScript(windowLua + `
local now = clock(tonumber(ARGV[1]))
local calls = cjson.decode(ARGV[2])
local out = {}
local stopped = false
local function take(keys, counts, windows, member)
  if redis.call('ZSCORE', keys[1], member) then return 0, 0, 0 end
  for i, key in ipairs(keys) do
    local wait = full(key, counts[i], windows[i], now)
    if wait then return 1, i, wait end
  end
  for i, key in ipairs(keys) do
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, windows[i])
  end
  return 0, 0, 0
end
local function exempt(c)
  if c.u > 0 and redis.call('EXISTS', KEYS[c.u]) == 1 then return true end
  if c.pb == 0 then return false end
  local strikes = tonumber(redis.call('GET', KEYS[c.ps]) or '0') or 0
  if redis.call('EXISTS', KEYS[c.pb]) == 0 and strikes <= 0 then return true end
  local converted = tonumber(redis.call('HGET', KEYS[c.pc], 'c') or '0') or 0
  return converted > 0 and converted >= c.pt
end
for n, c in ipairs(calls) do
  if c.t == 'take' then
    if stopped then
      out[n] = {2, 0, 0}
    elseif exempt(c) then
      out[n] = {3, 0, 0}
    else
      local keys = {}
      for i, k in ipairs(c.k) do keys[i] = KEYS[k] end
      local s, r, w = take(keys, c.c, c.w, c.m)
      out[n] = {s, r, w}
      stopped = s ~= 0
    end
  elseif c.t == 'paused' then
    if stopped then
      out[n] = {2, 0}
    elseif c.u > 0 and redis.call('EXISTS', KEYS[c.u]) == 1 then
      out[n] = {3, 0}
    elseif redis.call('EXISTS', KEYS[c.k]) == 1 then
      out[n] = {1, 0}
      stopped = true
    else
      out[n] = {0, 0}
    end
  elseif c.t == 'reserve' then
    if stopped then
      out[n] = {2, ''}
    else
      local old = redis.call('GET', KEYS[c.k])
      if not old then
        redis.call('SET', KEYS[c.k], c.v, 'PX', c.l)
        out[n] = {0, ''}
      elseif old == c.v then
        out[n] = {0, ''}
      else
        out[n] = {1, old}
        stopped = true
      end
    end
  else
    local v = redis.call('GET', KEYS[c.k])
    if not v then
      out[n] = {2, '', 0}
    elseif stopped or c.p == '' then
      out[n] = {2, v, 0}
    else
      local ok, rec = pcall(cjson.decode, v)
      if not ok or type(rec) ~= 'table' or type(rec['w']) ~= 'string' or rec['w'] == '' then
        out[n] = {2, v, 0}
      else
        local s, r, w = take({c.p .. rec['w']}, {c.c}, {c.w}, c.m)
        out[n] = {s, v, w}
        stopped = s ~= 0
      end
    end
  end
end
return out
`)

// gate collects a batch's spending calls for gateScript.
type gate struct {
	now     int64
	calls   []state.Call
	keys    []string
	wire    []gateCall
	members []string // what names each call in Redis: a take's or recall's member, a reserve's owner
}

// gateCall is one call as gateScript reads it.
type gateCall struct {
	T string  `json:"t"`
	K any     `json:"k"` // []int for a take, int otherwise
	C any     `json:"c,omitempty"`
	W any     `json:"w,omitempty"`
	M string  `json:"m,omitempty"`
	U int     `json:"u"`
	V string  `json:"v,omitempty"`
	L int64   `json:"l,omitempty"`
	P *string `json:"p,omitempty"`
	// A probation's keys (take), 0 for none, and since when a conversion exempts it.
	PB int   `json:"pb"`
	PS int   `json:"ps"`
	PC int   `json:"pc"`
	PT int64 `json:"pt"`
}

// add takes c into the gate when it is a spending call, and says so.
func (g *gate) add(c state.Call) bool {
	switch c := c.(type) {
	case *state.TakeCall:
		g.take(c, rand.Text())
	case *state.PausedCall:
		w := gateCall{T: "paused", K: g.key(fraudBlockKey(c.Key))}
		if c.Unless != "" {
			w.U = g.key(verificationKey(c.Unless))
		}
		g.push(c, w, "")
	case *state.ReserveCall:
		g.reserve(c, rand.Text())
	case *state.RecallCall:
		if c.Take == nil {
			return false
		}
		limits := limitKey("")
		w := gateCall{T: "recall", K: g.key(verificationKey(c.ID)), P: &limits, C: c.Take.Limit.Count,
			W: c.Take.Limit.Window.Milliseconds(), M: rand.Text()}
		g.push(c, w, w.M)
	default:
		return false
	}
	return true
}

// take adds a take whose admitted call is member: a call's own name, which a resent run finds.
func (g *gate) take(c *state.TakeCall, member string) {
	if len(c.Rules) == 0 {
		c.Decision = state.Decision{Allowed: true}
		return
	}
	w := gateCall{T: "take", M: member}
	keys := make([]int, len(c.Rules))
	counts := make([]int, len(c.Rules))
	windows := make([]int64, len(c.Rules))
	for i, r := range c.Rules {
		keys[i] = g.key(limitKey(r.Key))
		counts[i], windows[i] = r.Limit.Count, r.Limit.Window.Milliseconds()
	}
	w.K, w.C, w.W = keys, counts, windows
	if c.Unless != "" {
		w.U = g.key(verificationKey(c.Unless))
	}
	if p := c.Probation; p != nil {
		w.PB, w.PS, w.PC = g.key(fraudBlockKey(p.Country)), g.key(fraudStrikesKey(p.Country)), g.key(fraudStatsKey(p.Prefix))
		w.PT = p.ConvertedSince.UnixMilli()
	}
	g.push(c, w, w.M)
}

// reserve adds a reservation by owner: a call's own name, which a resent run finds.
func (g *gate) reserve(c *state.ReserveCall, owner string) {
	b, err := json.Marshal(state.Record{Fingerprint: c.Fingerprint, Owner: owner})
	if err != nil {
		c.Err = fmt.Errorf("encode idempotency record: %w", err)
		return
	}
	g.push(c, gateCall{T: "reserve", K: g.key(prefix + c.Key), V: string(b), L: c.Lease.Milliseconds()}, owner)
}

func (g *gate) key(k string) int {
	g.keys = append(g.keys, k)
	return len(g.keys)
}

func (g *gate) push(c state.Call, w gateCall, member string) {
	g.calls = append(g.calls, c)
	g.wire = append(g.wire, w)
	g.members = append(g.members, member)
}

// step is the gate as one step of the batch's pipeline.
func (g *gate) step() *step {
	st := &step{fail: func(err error) {
		for _, c := range g.calls {
			setErr(c, err)
		}
	}}
	calls, err := json.Marshal(g.wire)
	if err != nil {
		err = fmt.Errorf("encode a batch: %w", err)
		st.fail(err)
		st.queue = func(context.Context, redis.Pipeliner, bool) {}
		st.finish = func() error { return err }
		return st
	}
	st.queue = func(ctx context.Context, p redis.Pipeliner, eval bool) {
		st.script = run(ctx, p, gateScript, eval, g.keys, g.now, calls)
	}
	st.finish = func() error {
		err := g.decode(st.script)
		if err != nil {
			st.fail(err)
		}
		return err
	}
	return st
}

// run sends the gate alone: a Take or Reserve made on its own.
func (g *gate) run(ctx context.Context, s *Store) error {
	if len(g.calls) == 0 {
		return nil
	}
	return s.send(ctx, []*step{g.step()})
}

// decode reads gateScript's answer into the calls.
func (g *gate) decode(cmd *redis.Cmd) error {
	res, err := cmd.Slice()
	if err != nil {
		return wrap(err)
	}
	if len(res) != len(g.calls) {
		return wrap(fmt.Errorf("batch script answered %d of %d calls", len(res), len(g.calls)))
	}
	for i, c := range g.calls {
		a, ok := res[i].([]any)
		if !ok || len(a) < 2 {
			return wrap(fmt.Errorf("batch script answered %v", res[i]))
		}
		status, _ := a[0].(int64)
		switch c := c.(type) {
		case *state.TakeCall:
			rule, _ := a[1].(int64)
			wait, _ := a[2].(int64)
			switch status {
			case 0:
				c.Decision = state.Decision{Allowed: true, Token: g.members[i]}
			case 1:
				c.Decision = state.Decision{Rule: int(rule) - 1, RetryAfter: time.Duration(wait) * time.Millisecond}
			case 2:
				c.Skipped = true
			case 3:
				c.Exempt = true
			}
		case *state.PausedCall:
			switch status {
			case 1:
				c.Paused = true
			case 2:
				c.Skipped = true
			}
		case *state.ReserveCall:
			old, _ := a[1].(string)
			switch status {
			case 0:
				c.Reserved = true
			case 2:
				c.Skipped = true
			default:
				if err := json.Unmarshal([]byte(old), &c.Record); err != nil {
					return wrap(fmt.Errorf("idempotency record is not ours: %w", err))
				}
			}
		case *state.RecallCall:
			raw, _ := a[1].(string)
			wait, _ := a[2].(int64)
			if raw != "" {
				if c.Verification, c.Found, err = decodeVerification([]byte(raw), nil); err != nil {
					return err
				}
			}
			switch status {
			case 0:
				c.Taken, c.Decision = true, state.Decision{Allowed: true, Token: g.members[i]}
			case 1:
				c.Taken, c.Decision = true, state.Decision{RetryAfter: time.Duration(wait) * time.Millisecond}
			}
		}
	}
	return nil
}
