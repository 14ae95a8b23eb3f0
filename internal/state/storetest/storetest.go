// Package storetest owns the conformance tests every state.Store must pass, so that the in-memory
// store and the Redis store are held to one behaviour by the same table tests.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// NewStore makes an empty store whose windows follow now.
type NewStore func(t *testing.T, now func() time.Time) state.Store

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Run("limits", func(t *testing.T) { testLimits(t, newStore) })
	t.Run("limits hold under concurrency", func(t *testing.T) { testLimitConcurrency(t, newStore) })
	t.Run("idempotency", func(t *testing.T) { testIdempotency(t, newStore) })
	t.Run("sessions", func(t *testing.T) { testSessions(t, newStore) })
	t.Run("refunds", func(t *testing.T) { testRefunds(t, newStore) })
	t.Run("refunds hold under concurrency", func(t *testing.T) { testRefundConcurrency(t, newStore) })
	t.Run("verifications", func(t *testing.T) { testVerifications(t, newStore) })
	t.Run("fraud counts", func(t *testing.T) { testFraudCounts(t, newStore) })
	t.Run("fraud blocks", func(t *testing.T) { testFraudBlocks(t, newStore) })
	t.Run("fraud blocks under concurrency", func(t *testing.T) { testFraudBlockConcurrency(t, newStore) })
	t.Run("what may be dropped early counts as the rest", func(t *testing.T) { testEvictable(t, newStore) })
	t.Run("a batch does what its calls do alone", func(t *testing.T) { testBatch(t, newStore) })
}

func rule(key string, count int, window time.Duration) state.Rule {
	return state.Rule{Name: key, Key: key, Limit: state.Limit{Count: count, Window: window}}
}

// step is one Take at a moment, and what it must decide.
type step struct {
	at         time.Duration // since the start of the test
	rules      []state.Rule
	allowed    bool
	rule       int
	retryAfter time.Duration
}

func testLimits(t *testing.T, newStore NewStore) {
	a3 := rule("a", 3, 10*time.Minute)
	b1 := rule("b", 1, time.Minute)
	a5 := rule("a", 5, time.Minute)
	tests := []struct {
		name  string
		steps []step
	}{
		{"admits count calls in a window, then says when the oldest leaves it", []step{
			{at: 0, rules: []state.Rule{a3}, allowed: true},
			{at: time.Minute, rules: []state.Rule{a3}, allowed: true},
			{at: 2 * time.Minute, rules: []state.Rule{a3}, allowed: true},
			{at: 3 * time.Minute, rules: []state.Rule{a3}, retryAfter: 7 * time.Minute},
			{at: 10*time.Minute - time.Millisecond, rules: []state.Rule{a3}, retryAfter: time.Millisecond},
			{at: 10 * time.Minute, rules: []state.Rule{a3}, allowed: true},
			{at: 10 * time.Minute, rules: []state.Rule{a3}, retryAfter: time.Minute},
		}},
		{"refused calls are not counted", []step{
			{at: 0, rules: []state.Rule{b1}, allowed: true},
			{at: 30 * time.Second, rules: []state.Rule{b1}, retryAfter: 30 * time.Second},
			{at: 59 * time.Second, rules: []state.Rule{b1}, retryAfter: time.Second},
			{at: time.Minute, rules: []state.Rule{b1}, allowed: true},
		}},
		{"keys are independent", []step{
			{at: 0, rules: []state.Rule{b1}, allowed: true},
			{at: 0, rules: []state.Rule{rule("c", 1, time.Minute)}, allowed: true},
			{at: 0, rules: []state.Rule{b1}, retryAfter: time.Minute},
		}},
		{"a refusal by one rule records nothing under the others", []step{
			{at: 0, rules: []state.Rule{b1}, allowed: true},
			{at: 0, rules: []state.Rule{a5, b1}, rule: 1, retryAfter: time.Minute},
			{at: 0, rules: []state.Rule{a5, b1}, rule: 1, retryAfter: time.Minute},
			{at: 0, rules: []state.Rule{a5}, allowed: true},
			{at: 0, rules: []state.Rule{a5}, allowed: true},
			{at: 0, rules: []state.Rule{a5}, allowed: true},
			{at: 0, rules: []state.Rule{a5}, allowed: true},
			{at: 0, rules: []state.Rule{a5}, allowed: true},
			{at: 0, rules: []state.Rule{a5}, retryAfter: time.Minute},
		}},
		{"an admitted call counts under every rule", []step{
			{at: 0, rules: []state.Rule{rule("x", 2, time.Minute), rule("y", 1, time.Minute)}, allowed: true},
			{at: 0, rules: []state.Rule{rule("x", 2, time.Minute)}, allowed: true},
			{at: 0, rules: []state.Rule{rule("x", 2, time.Minute)}, retryAfter: time.Minute},
			{at: 0, rules: []state.Rule{rule("y", 1, time.Minute)}, retryAfter: time.Minute},
		}},
		{"the first full rule is named", []step{
			{at: 0, rules: []state.Rule{rule("p", 1, time.Hour), rule("q", 1, time.Minute)}, allowed: true},
			{at: 0, rules: []state.Rule{rule("p", 1, time.Hour), rule("q", 1, time.Minute)}, rule: 0, retryAfter: time.Hour},
			{at: 0, rules: []state.Rule{rule("r", 1, time.Hour), rule("q", 1, time.Minute)}, rule: 1, retryAfter: time.Minute},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New()
			start := clock.Now()
			store := newStore(t, clock.Now)
			for i, s := range tt.steps {
				clock.Advance(start.Add(s.at).Sub(clock.Now()))
				d, err := store.Take(context.Background(), s.rules)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				want := state.Decision{Allowed: s.allowed}
				if !s.allowed {
					want.Rule, want.RetryAfter = s.rule, s.retryAfter
				}
				if d.Allowed && d.Token == "" {
					t.Fatalf("step %d: an admitted call has no token to refund it by", i)
				}
				d.Token = ""
				if d != want {
					t.Fatalf("step %d at %s: got %+v, want %+v", i, s.at, d, want)
				}
			}
		})
	}
}

// testLimitConcurrency: 100 calls at once for one key with a limit of 3 let exactly 3 through.
func testLimitConcurrency(t *testing.T, newStore NewStore) {
	clock := clocktest.New()
	store := newStore(t, clock.Now)
	rules := []state.Rule{rule("n", 3, 10*time.Minute), rule("g", 1000, time.Hour)}
	allowed := concurrently(t, 100, func(int) (bool, error) {
		d, err := store.Take(context.Background(), rules)
		return d.Allowed, err
	})
	if allowed != 3 {
		t.Fatalf("%d of 100 concurrent calls admitted under a limit of 3", allowed)
	}
	// The global rule counted exactly the admitted calls.
	for i := range 997 {
		if d, _ := store.Take(context.Background(), rules[1:]); !d.Allowed {
			t.Fatalf("global rule full after %d more calls; it counted refused calls", i)
		}
	}
	if d, _ := store.Take(context.Background(), rules[1:]); d.Allowed {
		t.Fatal("global rule admitted a 1001st call")
	}
}

func testIdempotency(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	store := newStore(t, clocktest.New().Now)
	const lease, ttl = time.Minute, time.Hour

	rec, reserved, err := store.Reserve(ctx, "k1", "fp1", lease)
	if err != nil || !reserved || rec.Fingerprint != "" || rec.Done {
		t.Fatalf("first reserve: %+v %v %v", rec, reserved, err)
	}
	rec, reserved, err = store.Reserve(ctx, "k1", "fp2", lease)
	if err != nil || reserved || rec.Fingerprint != "fp1" || rec.Done {
		t.Fatalf("reserve while in flight must return the in-flight record: %+v %v %v", rec, reserved, err)
	}
	body := []byte(`{"request_id":"abc","status":"0"}`)
	if err := store.Complete(ctx, "k1", state.Record{Fingerprint: "fp1", Done: true, Response: state.Response{Status: 200, Body: body}}, ttl); err != nil {
		t.Fatal(err)
	}
	rec, reserved, err = store.Reserve(ctx, "k1", "fp1", lease)
	if err != nil || reserved || !rec.Done || rec.Status != 200 || string(rec.Body) != string(body) {
		t.Fatalf("reserve after complete must return the response: %+v %v %v", rec, reserved, err)
	}
	if err := store.Release(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, reserved, err = store.Reserve(ctx, "k1", "fp3", lease); err != nil || !reserved {
		t.Fatalf("reserve after release must succeed: %v %v", reserved, err)
	}
	if _, reserved, _ = store.Reserve(ctx, "k2", "fp1", lease); !reserved {
		t.Fatal("keys must be independent")
	}

	// Only one of many concurrent first requests owns the key.
	owners := concurrently(t, 50, func(i int) (bool, error) {
		_, reserved, err := store.Reserve(ctx, "race", fmt.Sprint(i), lease)
		return reserved, err
	})
	if owners != 1 {
		t.Fatalf("%d concurrent reserves of one key succeeded, want 1", owners)
	}
}

func testSessions(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	const ttl = 5 * time.Minute
	tests := []struct {
		name  string
		codes []string
		want  []state.CodeResult
	}{
		{"the right code ends the session", []string{"123456", "123456"}, []state.CodeResult{state.CodeRight, state.CodeUnknown}},
		{"wrong codes, then the right one", []string{"000000", "111111", "123456"}, []state.CodeResult{state.CodeWrong, state.CodeWrong, state.CodeRight}},
		{"the third wrong code ends the session", []string{"1", "2", "3", "123456"},
			[]state.CodeResult{state.CodeWrong, state.CodeWrong, state.CodeExhausted, state.CodeUnknown}},
		{"codes are compared exactly", []string{"123456 ", "12345", "1234567"}, []state.CodeResult{state.CodeWrong, state.CodeWrong, state.CodeExhausted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t, clocktest.New().Now)
			if err := store.StartSession(ctx, "s1", "123456", ttl); err != nil {
				t.Fatal(err)
			}
			for i, code := range tt.codes {
				got, err := store.CheckSession(ctx, "s1", code, 3)
				if err != nil || got != tt.want[i] {
					t.Fatalf("check %d (%q): got %v %v, want %v", i+1, code, got, err, tt.want[i])
				}
			}
		})
	}

	t.Run("end reports whether the session existed", func(t *testing.T) {
		store := newStore(t, clocktest.New().Now)
		if got, err := store.CheckSession(ctx, "never", "1234", 3); err != nil || got != state.CodeUnknown {
			t.Fatalf("unknown session: %v %v", got, err)
		}
		if ended, err := store.EndSession(ctx, "never"); err != nil || ended {
			t.Fatalf("ending an unknown session: %v %v", ended, err)
		}
		if err := store.StartSession(ctx, "s2", "0000", ttl); err != nil {
			t.Fatal(err)
		}
		if ended, err := store.EndSession(ctx, "s2"); err != nil || !ended {
			t.Fatalf("ending a session: %v %v", ended, err)
		}
		if got, _ := store.CheckSession(ctx, "s2", "0000", 3); got != state.CodeUnknown {
			t.Fatalf("an ended session must be unknown, got %v", got)
		}
	})

	t.Run("one right code wins among concurrent checks", func(t *testing.T) {
		store := newStore(t, clocktest.New().Now)
		if err := store.StartSession(ctx, "s3", "4321", ttl); err != nil {
			t.Fatal(err)
		}
		right := concurrently(t, 20, func(int) (bool, error) {
			got, err := store.CheckSession(ctx, "s3", "4321", 3)
			return got == state.CodeRight, err
		})
		if right != 1 {
			t.Fatalf("%d concurrent right codes succeeded, want 1", right)
		}
	})
}

// testRefunds: a refunded call leaves every window it was counted in, and only that call does.
func testRefunds(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	clock := clocktest.New()
	store := newStore(t, clock.Now)
	both := []state.Rule{rule("w", 2, time.Hour), rule("v", 5, time.Hour)}
	take := func() state.Decision {
		t.Helper()
		d, err := store.Take(ctx, both)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := take()
	clock.Advance(time.Minute)
	second := take()
	if !first.Allowed || !second.Allowed || first.Token == second.Token {
		t.Fatalf("two calls under a limit of 2: %+v %+v", first, second)
	}
	if d := take(); d.Allowed {
		t.Fatal("a third call was admitted under a limit of 2")
	}
	if err := store.Refund(ctx, both, second.Token); err != nil {
		t.Fatal(err)
	}
	third := take()
	if !third.Allowed {
		t.Fatal("the refunded call still counts")
	}
	// The window is full again, and its oldest call is still the first: it was not refunded.
	if d := take(); d.Allowed || d.RetryAfter != time.Hour-time.Minute {
		t.Fatalf("after the refund and one more call: %+v, want refused for 59m", d)
	}
	// Refunding twice, or a token this store never gave, takes nothing more back.
	for _, token := range []string{second.Token, "not-a-token", ""} {
		if err := store.Refund(ctx, both, token); err != nil {
			t.Fatal(err)
		}
		if d := take(); d.Allowed {
			t.Fatalf("refunding %q freed a call that was not refunded", token)
		}
	}
	// The other rule counted the refund too: 2 calls left in it (first, third) of 5.
	for range 3 {
		if d, _ := store.Take(ctx, both[1:]); !d.Allowed {
			t.Fatal("the second rule still counts the refunded call")
		}
	}
	if d, _ := store.Take(ctx, both[1:]); d.Allowed {
		t.Fatal("the second rule admitted a sixth call")
	}
}

// testRefundConcurrency: calls that take and give back at once never let more than the limit be
// held, and leave the window as they found it.
func testRefundConcurrency(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	store := newStore(t, clocktest.New().Now)
	rules := []state.Rule{rule("held", 4, time.Hour)}
	var mu sync.Mutex
	held, most := 0, 0
	concurrently(t, 100, func(int) (bool, error) {
		d, err := store.Take(ctx, rules)
		if err != nil || !d.Allowed {
			return false, err
		}
		mu.Lock()
		held++
		most = max(most, held)
		held--
		mu.Unlock()
		return true, store.Refund(ctx, rules, d.Token)
	})
	if most > 4 {
		t.Fatalf("%d calls held at once under a limit of 4", most)
	}
	for i := range 4 {
		if d, err := store.Take(ctx, rules); err != nil || !d.Allowed {
			t.Fatalf("call %d after every refund: %+v %v", i+1, d, err)
		}
	}
}

func testVerifications(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	clock := clocktest.New()
	store := newStore(t, clock.Now)
	if _, found, err := store.RecallVerification(ctx, "never"); err != nil || found {
		t.Fatalf("an id never remembered: found %v, %v", found, err)
	}
	v := state.Verification{Number: "447700900123", Client: "2001:db8::/64", Test: true}
	if err := store.RememberVerification(ctx, "id1", v, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := store.RememberVerification(ctx, "id2", state.Verification{Number: "14155550100"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, found, err := store.RecallVerification(ctx, "id1")
	if err != nil || !found || got != v {
		t.Fatalf("recall: %+v %v %v, want %+v", got, found, err, v)
	}
	if got, _, _ := store.RecallVerification(ctx, "id2"); got.Number != "14155550100" || got.Test || got.Client != "" {
		t.Fatalf("ids are independent: %+v", got)
	}

	// As the guard keeps them: request_ids as Verify v1 and v2 answer them, every field set, and a
	// second write to an id replacing the first. The same bytes in the other form are another id.
	v1 := "0123456789abcdef0123456789abcdef"
	v2 := "01234567-89ab-cdef-0123-456789abcdef"
	full := state.Verification{Number: "14155550100", Client: "203.0.113.7", Country: "US", Started: 1764806400123,
		Window: "wrong:0123456789abcdef0123456789abcdef"}
	other := state.Verification{Number: "447700900123", Client: "2001:db8:1:2::/64", Country: "GB", Test: true}
	again := state.Verification{Number: "33123456789", Client: "198.51.100.1", Country: "FR"}
	for _, w := range []struct {
		id string
		v  state.Verification
	}{{v1, full}, {v2, other}, {v1, again}} {
		if err := store.RememberVerification(ctx, w.id, w.v, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]state.Verification{v1: again, v2: other} {
		if got, found, err := store.RecallVerification(ctx, id); err != nil || !found || got != want {
			t.Fatalf("recall %s: %+v %v %v, want %+v", id, got, found, err, want)
		}
	}
	if _, found, _ := store.RecallVerification(ctx, "0123456789abcdef0123456789abcde0"); found {
		t.Fatal("an id never remembered was found")
	}
}

func testFraudCounts(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	clock := clocktest.New()
	store := newStore(t, clock.Now)
	now := clock.Now()
	note := func(keys []string, kind state.FraudKind, startedAt time.Time) {
		t.Helper()
		err := store.NoteFraud(ctx, keys, state.FraudNote{Kind: kind, StartedAt: startedAt, At: now,
			Retain: time.Hour, RetainConverted: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
	}
	both := []string{"prefix:4477009001", "country:GB"}
	earlier := now.Add(-10 * time.Minute)
	for range 3 {
		note(both, state.FraudStarted, earlier)
	}
	note(both[:1], state.FraudStarted, now)
	note(both, state.FraudVerified, earlier)
	note(both[1:], state.FraudUnverified, earlier)
	note(both, state.FraudStarted, now.Add(-2*time.Hour)) // older than kept: not counted

	recs, err := store.ReadFraud(ctx, append(both, "prefix:never"))
	if err != nil {
		t.Fatal(err)
	}
	want := []map[int64]state.FraudBucket{
		{earlier.Unix() / 60: {Minute: earlier.Unix() / 60, Started: 3, Verified: 1}, now.Unix() / 60: {Minute: now.Unix() / 60, Started: 1}},
		{earlier.Unix() / 60: {Minute: earlier.Unix() / 60, Started: 3, Verified: 1, Unverified: 1}},
		{},
	}
	for i, rec := range recs {
		got := map[int64]state.FraudBucket{}
		for _, b := range rec.Buckets {
			got[b.Minute] = b
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("key %d: buckets %v, want %v", i, got, want[i])
		}
		if converted := !rec.LastConverted.IsZero(); converted != (i < 2) {
			t.Errorf("key %d: last converted %v", i, rec.LastConverted)
		}
		if i < 2 && !rec.LastConverted.Equal(now.Truncate(time.Millisecond)) {
			t.Errorf("key %d: last converted %v, want %v", i, rec.LastConverted, now)
		}
		if rec.Block != nil {
			t.Errorf("key %d: a block nobody started: %+v", i, rec.Block)
		}
	}
}

func testFraudBlocks(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	clock := clocktest.New()
	store := newStore(t, clock.Now)
	const base, most, memory = time.Hour, 4 * time.Hour, 24 * time.Hour
	block := func(key string) (state.Block, bool) {
		t.Helper()
		b, created, err := store.Block(ctx, state.Block{Key: key, Scope: "prefix", Value: "+" + key, Since: clock.Now().UTC(),
			Settled: 20, Conversion: 0}, base, most, memory)
		if err != nil {
			t.Fatal(err)
		}
		return b, created
	}
	end := func() []state.Block {
		t.Helper()
		ended, err := store.EndBlocks(ctx, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return ended
	}
	running := func(key string) bool {
		t.Helper()
		recs, err := store.ReadFraud(ctx, []string{key})
		if err != nil {
			t.Fatal(err)
		}
		return recs[0].Block != nil
	}

	start := clock.Now().UTC()
	evidence := state.FraudNote{Kind: state.FraudStarted, StartedAt: start, At: start, Retain: time.Hour, RetainConverted: time.Hour}
	if err := store.NoteFraud(ctx, []string{"k"}, evidence); err != nil {
		t.Fatal(err)
	}
	evidence.Kind = state.FraudVerified
	if err := store.NoteFraud(ctx, []string{"k"}, evidence); err != nil {
		t.Fatal(err)
	}
	first, created := block("k")
	// The block forgets the evidence that caused it, and keeps the last conversion.
	if recs, _ := store.ReadFraud(ctx, []string{"k"}); len(recs[0].Buckets) != 0 || recs[0].LastConverted.IsZero() {
		t.Fatalf("after a block: buckets %+v, last converted %v", recs[0].Buckets, recs[0].LastConverted)
	}
	if !created || first.Repeat != 1 || !first.Until.Equal(start.Add(base)) || first.Value != "+k" || first.Settled != 20 {
		t.Fatalf("first block: %+v created %v", first, created)
	}
	if again, created := block("k"); created || !again.Until.Equal(first.Until) {
		t.Fatalf("a block while one runs: %+v created %v", again, created)
	}
	if !running("k") || running("other") {
		t.Fatal("ReadFraud does not tell the running block")
	}
	if recs, _ := store.ReadFraud(ctx, []string{"k", "other"}); recs[0].Repeats != 1 || recs[1].Repeats != 0 {
		t.Fatalf("repeats read %d and %d, want 1 and 0", recs[0].Repeats, recs[1].Repeats)
	}
	clock.Advance(30 * time.Minute)
	if ended := end(); len(ended) != 0 {
		t.Fatalf("ended early: %+v", ended)
	}
	clock.Advance(30 * time.Minute)
	if ended := end(); len(ended) != 1 || ended[0].Key != "k" || ended[0].Value != "+k" {
		t.Fatalf("ended at its time: %+v", ended)
	}
	if ended := end(); len(ended) != 0 || running("k") {
		t.Fatalf("an end is answered once: %+v", ended)
	}
	// Each repeat within the memory lasts twice as long, at most most.
	for _, want := range []time.Duration{2 * time.Hour, 4 * time.Hour, 4 * time.Hour} {
		b, created := block("k")
		if !created || b.Until.Sub(b.Since) != want {
			t.Fatalf("repeat %d lasts %s, want %s", b.Repeat, b.Until.Sub(b.Since), want)
		}
		clock.Advance(want)
		if ended := end(); len(ended) != 1 {
			t.Fatalf("repeat %d did not end: %+v", b.Repeat, ended)
		}
	}
	// Lifting ends a block at once and forgets its repeats.
	block("k")
	block("j")
	listed, err := store.Blocks(ctx)
	if err != nil || len(listed) != 2 {
		t.Fatalf("blocks listed: %+v %v", listed, err)
	}
	if err := store.NoteFraud(ctx, []string{"k"}, evidence); err != nil {
		t.Fatal(err)
	}
	lifted, found, err := store.Lift(ctx, "k")
	if err != nil || !found || lifted.Value != "+k" || running("k") {
		t.Fatalf("lift: %+v %v %v", lifted, found, err)
	}
	if recs, _ := store.ReadFraud(ctx, []string{"k"}); len(recs[0].Buckets) != 0 {
		t.Fatalf("a lift keeps the evidence: %+v", recs[0].Buckets)
	}
	if _, found, _ := store.Lift(ctx, "k"); found {
		t.Fatal("lifted twice")
	}
	if b, created := block("k"); !created || b.Repeat != 1 {
		t.Fatalf("after a lift the repeats start again: %+v", b)
	}
}

// testFraudBlockConcurrency: replicas that decide at once start one block, not several.
func testFraudBlockConcurrency(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	clock := clocktest.New()
	store := newStore(t, clock.Now)
	created := concurrently(t, 30, func(int) (bool, error) {
		_, created, err := store.Block(ctx, state.Block{Key: "c", Scope: "country", Value: "XX", Since: clock.Now()},
			time.Hour, 24*time.Hour, 24*time.Hour)
		return created, err
	})
	if created != 1 {
		t.Fatalf("%d of 30 concurrent blocks were started", created)
	}
	b, created2, err := store.Block(ctx, state.Block{Key: "c", Since: clock.Now()}, time.Hour, 24*time.Hour, 24*time.Hour)
	if err != nil || created2 || b.Repeat != 1 {
		t.Fatalf("the running block counts one repeat: %+v %v %v", b, created2, err)
	}
}

// testEvictable: Rule.Evictable and Verification.Evictable only let a store bounded in size drop a
// key early to make room; a store with room counts and remembers such keys as any other.
func testEvictable(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	store := newStore(t, clocktest.New().Now)
	client := state.Rule{Name: "per client IP", Key: "ip:e", Limit: state.Limit{Count: 2, Window: time.Minute}, Evictable: true}
	for i, want := range []bool{true, true, false} {
		d, err := store.Take(ctx, []state.Rule{client, rule("global:e", 10, time.Minute)})
		if err != nil || d.Allowed != want {
			t.Fatalf("call %d under an evictable limit of 2: %+v %v", i+1, d, err)
		}
	}
	if err := store.RememberVerification(ctx, "trusted:e", state.Verification{Number: "1", Evictable: true}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, found, err := store.RecallVerification(ctx, "trusted:e"); err != nil || !found || v.Number != "1" || v.Evictable {
		t.Fatalf("an evictable verification: %+v %v %v, want it recalled without the hint", v, found, err)
	}
}

// concurrently runs call n times at once and counts the calls that returned true.
func concurrently(t *testing.T, n int, call func(i int) (bool, error)) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := 0
	for i := range n {
		wg.Go(func() {
			ok, err := call(i)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				count++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return count
}

// BenchTake measures the cost the limits add to a start: three rules (number, country, client IP)
// on the keys of many clients, from parallel goroutines.
func BenchTake(b *testing.B, store state.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			rules := []state.Rule{
				{Key: fmt.Sprint("number:", i%10000), Limit: state.Limit{Count: 3, Window: 10 * time.Minute}},
				{Key: "country:US", Limit: state.Limit{Count: 100_000, Window: time.Hour}},
				{Key: fmt.Sprint("ip:", i%5000), Limit: state.Limit{Count: 30, Window: time.Minute}},
			}
			if _, err := store.Take(ctx, rules); err != nil {
				b.Fatal(err)
			}
		}
	})
}
