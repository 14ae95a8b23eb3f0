package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// The fraud guard's keys: one hash of minute buckets per key ("s:<minute>", "v:<minute>",
// "u:<minute>" and "c", the last conversion in ms), spread over a cluster by key; and, under the one
// hash tag {fraud-blocks}, one string per running block (expiring with it), the repeats of each
// key's blocks, and an index of blocks (a hash of their JSON, and a sorted set by their end) so that
// they can be listed and each end taken once. A block, its repeats and the index change together in
// one script, so they share a slot; they are few and written only when a block begins or ends.
// Every start reads its keys' blocks from that slot, one GET each.
func fraudStatsKey(k string) string   { return prefix + "fraud:stats:" + k }
func fraudBlockKey(k string) string   { return blocksTag + "block:" + k }
func fraudStrikesKey(k string) string { return blocksTag + "strikes:" + k }

const (
	blocksTag     = prefix + "{fraud-blocks}:"
	fraudIndexKey = blocksTag + "index" // hash: key -> block JSON
	fraudEndsKey  = blocksTag + "ends"  // sorted set: key by its end in ms
	// indexGrace is how long the index outlives the end of its last block, waiting for a replica
	// to take the end: it expires on its own once no replica has run for that long.
	indexGrace = 24 * time.Hour
)

// noteScript adds one to ARGV[1] (the field) of KEYS[1], marks it converted at ARGV[2] (ms; 0:
// not) kept ARGV[4] ms, keeps the hash ARGV[3] ms, and drops buckets older than minute ARGV[5]
// once there are more than ARGV[6] fields.
var noteScript = redis.NewScript(`
local key = KEYS[1]
if ARGV[1] ~= '' then redis.call('HINCRBY', key, ARGV[1], 1) end
local ttl = tonumber(ARGV[3])
if ARGV[2] ~= '0' then
  redis.call('HSET', key, 'c', ARGV[2])
  ttl = math.max(ttl, tonumber(ARGV[4]))
end
if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
if redis.call('HLEN', key) > tonumber(ARGV[6]) then
  for _, f in ipairs(redis.call('HKEYS', key)) do
    local m = tonumber(string.sub(f, 3))
    if m and m < tonumber(ARGV[5]) then redis.call('HDEL', key, f) end
  end
end
return 0
`)

// NoteFraud implements state.Fraud.
func (s *Store) NoteFraud(ctx context.Context, keys []string, n state.FraudNote) error {
	if len(keys) == 0 {
		return nil
	}
	redisKeys, args := noteArgs(keys, n)
	return s.runEach(ctx, noteScript, redisKeys, args...)
}

// noteArgs are the keys noteScript runs on, one at a time, and its arguments.
func noteArgs(keys []string, n state.FraudNote) ([]string, []any) {
	minute := n.StartedAt.Unix() / 60
	oldest := n.At.Add(-n.Retain).Unix() / 60
	field := ""
	if minute >= oldest {
		field = map[state.FraudKind]string{state.FraudStarted: "s:", state.FraudVerified: "v:", state.FraudUnverified: "u:"}[n.Kind] +
			strconv.FormatInt(minute, 10)
	}
	var converted int64
	if n.Kind == state.FraudVerified {
		converted = n.At.UnixMilli()
	}
	redisKeys := make([]string, len(keys))
	for i, k := range keys {
		redisKeys[i] = fraudStatsKey(k)
	}
	// Three fields a minute over the kept minutes, and the conversion: past that, old buckets go.
	most := 3*int(n.Retain/time.Minute) + 4
	return redisKeys, []any{field, converted, n.Retain.Milliseconds(), n.RetainConverted.Milliseconds(), oldest, most}
}

// runEach runs script once for each of keys (its KEYS[1]) with the same args, in one pipeline: the
// keys may live on different nodes of a cluster, and a script may touch one slot only. A node that
// does not know the script yet is sent it whole, by the runs it refused alone.
func (s *Store) runEach(ctx context.Context, script *redis.Script, keys []string, args ...any) error {
	cmds := make([]*redis.Cmd, len(keys))
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = script.EvalSha(ctx, p, []string{k}, args...)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	var unknown []string
	for i, c := range cmds {
		switch {
		case c.Err() == nil:
		case redis.HasErrorPrefix(c.Err(), "NOSCRIPT"):
			unknown = append(unknown, keys[i])
		default:
			return wrap(c.Err())
		}
	}
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range unknown {
			script.Eval(ctx, p, []string{k}, args...)
		}
		return nil
	})
	return wrap(err)
}

// forgetScript drops the buckets of KEYS[1], keeping the last conversion ("c").
var forgetScript = redis.NewScript(`
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if f ~= 'c' then redis.call('HDEL', KEYS[1], f) end
end
return 0
`)

// forgetEvidence drops key's buckets, which are the evidence of a block.
func (s *Store) forgetEvidence(ctx context.Context, key string) error {
	return wrap(forgetScript.Run(ctx, s.client, []string{fraudStatsKey(key)}).Err())
}

// ReadFraud implements state.Fraud: one round trip for every key's buckets and block.
func (s *Store) ReadFraud(ctx context.Context, keys []string) ([]state.FraudRecord, error) {
	var read fraudReads
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		read = queueReadFraud(ctx, p, keys)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap(err)
	}
	return read.decode(keys)
}

// fraudReads are the commands that read keys' fraud records, in a pipeline.
type fraudReads struct {
	stats           []*redis.MapStringStringCmd
	blocks, repeats []*redis.StringCmd
}

func queueReadFraud(ctx context.Context, p redis.Pipeliner, keys []string) fraudReads {
	r := fraudReads{make([]*redis.MapStringStringCmd, len(keys)), make([]*redis.StringCmd, len(keys)), make([]*redis.StringCmd, len(keys))}
	for i, k := range keys {
		r.stats[i] = p.HGetAll(ctx, fraudStatsKey(k))
		r.blocks[i] = p.Get(ctx, fraudBlockKey(k))
		r.repeats[i] = p.Get(ctx, fraudStrikesKey(k))
	}
	return r
}

// decode reads the answers, once the pipeline ran.
func (r fraudReads) decode(keys []string) ([]state.FraudRecord, error) {
	out := make([]state.FraudRecord, len(keys))
	for i := range keys {
		for _, c := range []redis.Cmder{r.stats[i], r.blocks[i], r.repeats[i]} {
			if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
				return nil, wrap(err)
			}
		}
		rec, err := fraudRecord(r.stats[i].Val())
		if err != nil {
			return nil, wrap(err)
		}
		if raw, err := r.blocks[i].Bytes(); err == nil {
			var b state.Block
			if err := json.Unmarshal(raw, &b); err != nil {
				return nil, wrap(fmt.Errorf("fraud block is not ours: %w", err))
			}
			b.Key = keys[i]
			rec.Block = &b
		}
		if n, err := r.repeats[i].Int(); err == nil {
			rec.Repeats = n
		}
		out[i] = rec
	}
	return out, nil
}

// fraudRecord reads a stats hash.
func fraudRecord(h map[string]string) (state.FraudRecord, error) {
	var rec state.FraudRecord
	byMinute := map[int64]*state.FraudBucket{}
	for f, v := range h {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return rec, fmt.Errorf("fraud field %s is not a number", f)
		}
		if f == "c" {
			rec.LastConverted = time.UnixMilli(n)
			continue
		}
		kind, minuteText, ok := strings.Cut(f, ":")
		minute, err := strconv.ParseInt(minuteText, 10, 64)
		if !ok || err != nil {
			return rec, fmt.Errorf("fraud field %s is not ours", f)
		}
		b := byMinute[minute]
		if b == nil {
			b = &state.FraudBucket{Minute: minute}
			byMinute[minute] = b
		}
		switch kind {
		case "s":
			b.Started = int(n)
		case "v":
			b.Verified = int(n)
		case "u":
			b.Unverified = int(n)
		}
	}
	for _, b := range byMinute {
		rec.Buckets = append(rec.Buckets, *b)
	}
	return rec, nil
}

// blockScript starts a block (ARGV[1], its JSON without until and repeat) of KEYS[1] unless one is
// running, and answers {1, the new block} or {0, the running one}. The block lasts ARGV[2] ms
// doubled per repeat (KEYS[2]) within ARGV[4] ms, at most ARGV[3] ms, from its since (ARGV[5], ms).
// It is listed in the index (KEYS[3], KEYS[4]) under ARGV[6], which is kept ARGV[7] ms past its end.
var blockScript = redis.NewScript(`
local running = redis.call('GET', KEYS[1])
if running then return {0, running} end
local n = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local d = tonumber(ARGV[2])
for i = 2, n do
  if d >= tonumber(ARGV[3]) then break end
  d = d * 2
end
d = math.min(d, tonumber(ARGV[3]))
local until_ms = tonumber(ARGV[5]) + d
local b = cjson.decode(ARGV[1])
b['repeat'] = n
b['until_ms'] = until_ms
local out = cjson.encode(b)
redis.call('SET', KEYS[1], out, 'PX', d)
redis.call('HSET', KEYS[3], ARGV[6], out)
redis.call('ZADD', KEYS[4], until_ms, ARGV[6])
local keep = d + tonumber(ARGV[7])
for _, k in ipairs({KEYS[3], KEYS[4]}) do
  if redis.call('PTTL', k) < keep then redis.call('PEXPIRE', k, keep) end
end
return {1, out}
`)

// wireBlock is a block as Redis keeps it: the script sets its end in ms, which JSON time cannot.
type wireBlock struct {
	state.Block
	UntilMS int64 `json:"until_ms"`
}

func decodeBlock(key, raw string) (state.Block, error) {
	var w wireBlock
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return state.Block{}, fmt.Errorf("fraud block is not ours: %w", err)
	}
	w.Block.Key = key
	if w.UntilMS != 0 {
		w.Until = time.UnixMilli(w.UntilMS).UTC()
	}
	return w.Block, nil
}

// Block implements state.Fraud.
func (s *Store) Block(ctx context.Context, b state.Block, base, limit, memory time.Duration) (state.Block, bool, error) {
	b.Until, b.Repeat = time.Time{}, 0
	raw, err := json.Marshal(b)
	if err != nil {
		return state.Block{}, false, fmt.Errorf("encode fraud block: %w", err)
	}
	res, err := blockScript.Run(ctx, s.client,
		[]string{fraudBlockKey(b.Key), fraudStrikesKey(b.Key), fraudIndexKey, fraudEndsKey},
		raw, base.Milliseconds(), limit.Milliseconds(), memory.Milliseconds(), b.Since.UnixMilli(), b.Key,
		indexGrace.Milliseconds()).Slice()
	if err != nil {
		return state.Block{}, false, wrap(err)
	}
	if len(res) != 2 {
		return state.Block{}, false, wrap(fmt.Errorf("block script answered %v", res))
	}
	created, _ := res[0].(int64)
	text, _ := res[1].(string)
	got, err := decodeBlock(b.Key, text)
	if err != nil {
		return state.Block{}, false, wrap(err)
	}
	if created == 1 {
		// The evidence lives on the key's own slot, so it is forgotten in a second step. If that
		// fails the block stands all the same: evidence left behind can only make the key's next
		// block come sooner, the safe side against pumping.
		_ = s.forgetEvidence(ctx, b.Key)
	}
	return got, created == 1, nil
}

// Blocks implements state.Fraud.
func (s *Store) Blocks(ctx context.Context) ([]state.Block, error) {
	all, err := s.client.HGetAll(ctx, fraudIndexKey).Result()
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]state.Block, 0, len(all))
	for k, raw := range all {
		b, err := decodeBlock(k, raw)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, b)
	}
	return out, nil
}

// liftScript ends KEYS' block at once, forgets its repeats, and answers its JSON, or false when
// there was none.
var liftScript = redis.NewScript(`
local b = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return b
`)

// Lift implements state.Fraud. The evidence goes first, on the key's own slot: should the lift
// then fail, the block still runs and the operator tries again, and the key was never judged again
// on what caused it.
func (s *Store) Lift(ctx context.Context, key string) (state.Block, bool, error) {
	if err := s.forgetEvidence(ctx, key); err != nil {
		return state.Block{}, false, err
	}
	raw, err := liftScript.Run(ctx, s.client,
		[]string{fraudBlockKey(key), fraudStrikesKey(key), fraudIndexKey, fraudEndsKey}, key).Text()
	if errors.Is(err, redis.Nil) {
		return state.Block{}, false, nil
	}
	if err != nil {
		return state.Block{}, false, wrap(err)
	}
	b, err := decodeBlock(key, raw)
	return b, err == nil, wrap(err)
}

// endBlocksScript takes the blocks that ended by ARGV[1] (ms) out of the index (and their running
// key, named by ARGV[2] and the key: under the same hash tag, so on the same slot), answering key
// and JSON of each: only the call that takes one answers it.
var endBlocksScript = redis.NewScript(`
local out = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  if redis.call('ZREM', KEYS[2], k) == 1 then
    local b = redis.call('HGET', KEYS[1], k)
    redis.call('HDEL', KEYS[1], k)
    redis.call('DEL', ARGV[2] .. k)
    if b then
      table.insert(out, k)
      table.insert(out, b)
    end
  end
end
return out
`)

// EndBlocks implements state.Fraud.
func (s *Store) EndBlocks(ctx context.Context, now time.Time) ([]state.Block, error) {
	keys, args := endBlocksArgs(now)
	return decodeEnded(endBlocksScript.Run(ctx, s.client, keys, args...))
}

func endBlocksArgs(now time.Time) ([]string, []any) {
	return []string{fraudIndexKey, fraudEndsKey}, []any{now.UnixMilli(), fraudBlockKey("")}
}

// decodeEnded reads endBlocksScript's answer.
func decodeEnded(cmd *redis.Cmd) ([]state.Block, error) {
	res, err := cmd.StringSlice()
	if err != nil {
		return nil, wrap(err)
	}
	var ended []state.Block
	for i := 0; i+1 < len(res); i += 2 {
		b, err := decodeBlock(res[i], res[i+1])
		if err != nil {
			return nil, wrap(err)
		}
		ended = append(ended, b)
	}
	return ended, nil
}
