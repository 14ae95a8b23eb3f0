package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// testBatch holds a batch to what its calls do alone: the store under test answers one batch of
// every kind of call, then the same calls are checked one by one.
func testBatch(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	clock := clocktest.New()
	store := newStore(t, clock.Now)
	wrong := rule("wrong:n1", 2, time.Hour)
	if err := store.RememberVerification(ctx, "v1", state.Verification{Number: "14155550100", Window: wrong.Key}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := store.RememberVerification(ctx, "old", state.Verification{Number: "14155550101"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Reserve(ctx, "taken", "f0", time.Minute); err != nil {
		t.Fatal(err)
	}
	full := rule("full", 1, time.Hour)
	if d, err := store.Take(ctx, []state.Rule{full}); err != nil || !d.Allowed {
		t.Fatalf("fill: %+v %v", d, err)
	}
	start := clock.Now()
	if err := store.NoteFraud(ctx, []string{"prefix:1415555"}, state.FraudNote{Kind: state.FraudStarted, StartedAt: start,
		At: start, Retain: time.Hour, RetainConverted: time.Hour}); err != nil {
		t.Fatal(err)
	}

	take := &state.TakeCall{Rules: []state.Rule{rule("a", 1, time.Hour), rule("b", 5, time.Hour)}}
	reserve := &state.ReserveCall{Key: "fresh", Fingerprint: "f1", Lease: time.Minute}
	recall := &state.RecallCall{ID: "v1", Take: &wrong}
	recallOld := &state.RecallCall{ID: "old", Take: &wrong}
	recallNone := &state.RecallCall{ID: "none", Take: &wrong}
	remember := &state.RememberCall{ID: "v2", Verification: state.Verification{Number: "447700900123"}, TTL: time.Hour}
	read := &state.ReadFraudCall{Keys: []string{"prefix:1415555", "country:US"}}
	note := &state.NoteFraudCall{Keys: []string{"country:US"}, Note: state.FraudNote{Kind: state.FraudStarted, StartedAt: start,
		At: start, Retain: time.Hour, RetainConverted: time.Hour}}
	end := &state.EndBlocksCall{Now: start}
	if err := store.Batch(ctx, take, reserve, recall, recallOld, recallNone, remember, read, note, end); err != nil {
		t.Fatalf("batch: %v", err)
	}
	if !take.Decision.Allowed || take.Decision.Token == "" || take.Skipped || take.Exempt {
		t.Errorf("take: %+v", take)
	}
	if !reserve.Reserved || reserve.Skipped {
		t.Errorf("reserve: %+v", reserve)
	}
	if !recall.Found || recall.Verification.Number != "14155550100" || !recall.Taken || !recall.Decision.Allowed {
		t.Errorf("recall with its window: %+v", recall)
	}
	if !recallOld.Found || recallOld.Taken || recallNone.Found || recallNone.Taken {
		t.Errorf("a record naming no window takes nothing: %+v; nor does no record: %+v", recallOld, recallNone)
	}
	if len(read.Records) != 2 || len(read.Records[0].Buckets) != 1 || read.Records[0].Buckets[0].Started != 1 || len(read.Records[1].Buckets) != 0 {
		t.Errorf("read: %+v", read.Records)
	}
	if end.Err != nil || len(end.Ended) != 0 {
		t.Errorf("end blocks: %+v", end)
	}

	// Once a spending call is refused, those after it spend nothing; the others are made.
	refused := &state.TakeCall{Rules: []state.Rule{rule("a2", 1, time.Hour), full}}
	after := &state.TakeCall{Rules: []state.Rule{rule("after", 1, time.Hour)}}
	reserveAfter := &state.ReserveCall{Key: "after", Fingerprint: "f3", Lease: time.Minute}
	recallAfter := &state.RecallCall{ID: "v1", Take: &wrong}
	rememberAfter := &state.RememberCall{ID: "v3", Verification: state.Verification{Number: "447700900124"}, TTL: time.Hour}
	if err := store.Batch(ctx, refused, after, reserveAfter, recallAfter, rememberAfter); err != nil {
		t.Fatalf("batch: %v", err)
	}
	if refused.Decision.Allowed || refused.Decision.Rule != 1 || refused.Decision.RetryAfter != time.Hour || refused.Skipped {
		t.Errorf("a take over a full rule: %+v", refused)
	}
	if !after.Skipped || after.Decision.Allowed || !reserveAfter.Skipped || reserveAfter.Reserved {
		t.Errorf("spending calls after a refusal: %+v %+v", after, reserveAfter)
	}
	if !recallAfter.Found || recallAfter.Taken {
		t.Errorf("a recall after a refusal reads, and takes nothing: %+v", recallAfter)
	}
	if _, found, _ := store.RecallVerification(ctx, "v3"); !found {
		t.Error("a record after a refusal was not kept")
	}
	taken := &state.ReserveCall{Key: "taken", Fingerprint: "f2", Lease: time.Minute}
	afterTaken := &state.TakeCall{Rules: []state.Rule{rule("after", 1, time.Hour)}}
	if err := store.Batch(ctx, taken, afterTaken); err != nil {
		t.Fatal(err)
	}
	if taken.Reserved || taken.Skipped || taken.Record.Fingerprint != "f0" || !afterTaken.Skipped {
		t.Errorf("a key already reserved stops the takes after it: %+v %+v", taken, afterTaken)
	}
	for _, r := range []state.Rule{rule("a2", 1, time.Hour), rule("after", 1, time.Hour)} {
		if d, _ := store.Take(ctx, []state.Rule{r}); !d.Allowed {
			t.Errorf("%s counted a call that was refused or skipped", r.Key)
		}
	}
	if _, ok, _ := store.Reserve(ctx, "after", "f3", time.Minute); !ok {
		t.Error("a skipped reservation was kept")
	}

	// A take exempted by a remembered verification takes nothing.
	exempt := &state.TakeCall{Rules: []state.Rule{rule("exempt", 1, time.Hour)}, Unless: "v1"}
	notExempt := &state.TakeCall{Rules: []state.Rule{rule("exempt", 1, time.Hour)}, Unless: "none"}
	if err := store.Batch(ctx, exempt, notExempt); err != nil {
		t.Fatal(err)
	}
	if !exempt.Exempt || exempt.Decision.Allowed || notExempt.Exempt || !notExempt.Decision.Allowed {
		t.Errorf("exempt: %+v; not: %+v", exempt, notExempt)
	}

	// A start to a paused destination spends nothing after the pause; a remembered verification
	// exempts it.
	if _, _, err := store.Block(ctx, state.Block{Key: "prefix:3361234", Scope: "prefix", Value: "+3361234", Since: start},
		time.Hour, 24*time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	pausedCall := &state.PausedCall{Key: "prefix:3361234", Unless: "none"}
	afterPause := &state.TakeCall{Rules: []state.Rule{rule("after pause", 1, time.Hour)}}
	openCall := &state.PausedCall{Key: "prefix:3369999"}
	trustedCall := &state.PausedCall{Key: "prefix:3361234", Unless: "v1"}
	if err := store.Batch(ctx, openCall, trustedCall, pausedCall, afterPause); err != nil {
		t.Fatal(err)
	}
	if openCall.Paused || trustedCall.Paused || !pausedCall.Paused || !afterPause.Skipped {
		t.Errorf("paused: open %+v, trusted %+v, paused %+v, after it %+v", openCall, trustedCall, pausedCall, afterPause)
	}

	// A probation holds while the country is under suspicion and the prefix has not converted.
	if _, _, err := store.Block(ctx, state.Block{Key: "country:FR", Scope: "country", Value: "FR", Since: start},
		time.Hour, 24*time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := store.NoteFraud(ctx, []string{"prefix:3365555"}, state.FraudNote{Kind: state.FraudVerified, StartedAt: start,
		At: start, Retain: time.Hour, RetainConverted: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	probation := func(country, prefix string) *state.TakeCall {
		return &state.TakeCall{Rules: []state.Rule{rule("probation:"+prefix, 1, 24*time.Hour)},
			Probation: &state.Probation{Country: country, Prefix: prefix, ConvertedSince: start.Add(-time.Hour)}}
	}
	suspect, converted, calm := probation("country:FR", "prefix:3364444"), probation("country:FR", "prefix:3365555"),
		probation("country:DE", "prefix:4915111")
	if err := store.Batch(ctx, suspect, converted, calm); err != nil {
		t.Fatal(err)
	}
	if suspect.Exempt || !suspect.Decision.Allowed || !converted.Exempt || !calm.Exempt {
		t.Errorf("probation: suspect %+v, converted %+v, calm %+v", suspect, converted, calm)
	}
	secondStart := probation("country:FR", "prefix:3364444")
	if err := store.Batch(ctx, secondStart); err != nil || secondStart.Exempt || secondStart.Decision.Allowed {
		t.Errorf("a second start on probation the same day: %+v %v", secondStart, err)
	}

	// Each call did what it does alone.
	if d, _ := store.Take(ctx, take.Rules[:1]); d.Allowed {
		t.Error("the batch's take was not counted")
	}
	if _, ok, _ := store.Reserve(ctx, "fresh", "f1", time.Minute); ok {
		t.Error("the batch's reservation was not kept")
	}
	if v, found, _ := store.RecallVerification(ctx, "v2"); !found || v.Number != "447700900123" {
		t.Errorf("the batch's record: %+v %v", v, found)
	}
	if recs, _ := store.ReadFraud(ctx, []string{"country:US"}); len(recs[0].Buckets) != 1 || recs[0].Buckets[0].Started != 1 {
		t.Errorf("the batch's note: %+v", recs)
	}
	// The window the record named counted the recall's take: one more fills it, then refunds free it.
	again := &state.RecallCall{ID: "v1", Take: &wrong}
	over := &state.RecallCall{ID: "v1", Take: &wrong}
	if err := store.Batch(ctx, again); err != nil || !again.Decision.Allowed {
		t.Fatalf("second take of the record's window: %+v %v", again, err)
	}
	if err := store.Batch(ctx, over); err != nil || over.Decision.Allowed || over.Decision.RetryAfter <= 0 {
		t.Fatalf("third take of a window of 2: %+v %v", over, err)
	}
	refund := &state.RefundCall{Rules: []state.Rule{wrong}, Token: again.Decision.Token}
	release := &state.ReleaseCall{Key: "fresh"}
	if err := store.Batch(ctx, refund, release); err != nil {
		t.Fatal(err)
	}
	if d, _ := store.Take(ctx, []state.Rule{wrong}); !d.Allowed {
		t.Error("a refunded take still counts")
	}
	if _, ok, _ := store.Reserve(ctx, "fresh", "f1", time.Minute); !ok {
		t.Error("a released key is still reserved")
	}
	complete := &state.CompleteCall{Key: "fresh", Record: state.Record{Fingerprint: "f1", Done: true,
		Response: state.Response{Status: 200, Body: []byte(`{}`)}}, TTL: time.Hour}
	if err := store.Batch(ctx, complete); err != nil {
		t.Fatal(err)
	}
	if rec, ok, _ := store.Reserve(ctx, "fresh", "f1", time.Minute); ok || !rec.Done || rec.Status != 200 {
		t.Errorf("completed: %+v %v", rec, ok)
	}
}
