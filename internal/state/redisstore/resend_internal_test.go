package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
)

// TestAResentReserveKeepsItsLease: go-redis resends a call that timed out, and a slow Redis then
// runs it twice. The second run must find its own lease, not another request in flight.
func TestAResentReserveKeepsItsLease(t *testing.T) {
	t.Parallel()
	s := newInternalStore(t)
	ctx := context.Background()
	first := state.Record{Fingerprint: "f1", Owner: "call-1"}
	for try := range 2 {
		if _, reserved, err := s.reserve(ctx, "idem:k", first, time.Minute); err != nil || !reserved {
			t.Fatalf("try %d of one call: reserved %v, err %v", try+1, reserved, err)
		}
	}
	rec, reserved, err := s.reserve(ctx, "idem:k", state.Record{Fingerprint: "f1", Owner: "call-2"}, time.Minute)
	if err != nil || reserved || rec.Fingerprint != "f1" || rec.Done {
		t.Fatalf("another call: reserved %v, record %+v, err %v; want the first call's lease in flight", reserved, rec, err)
	}
}

func newInternalStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(redistest.Start(t).URL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestResentScriptsAnswerAsTheFirstRun: each script run twice for one call (same member or nonce),
// as a slow Redis does when go-redis resends, gives the first run's answer and counts once.
func TestResentScriptsAnswerAsTheFirstRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newInternalStore(t)

	t.Run("a limit of one admits the call, resent or not, and no other", func(t *testing.T) {
		t.Parallel()
		rules := []state.Rule{{Name: "resend", Key: "resend", Limit: state.Limit{Count: 1, Window: time.Minute}}}
		take := func(member string) state.Decision {
			d, err := s.take(ctx, rules, 0, member)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		if first, again := take("call-1"), take("call-1"); !first.Allowed || !again.Allowed {
			t.Fatalf("the call and its resend: %+v, %+v; want both admitted", first, again)
		}
		if other := take("call-2"); other.Allowed || other.Rule != 0 {
			t.Fatalf("another call: %+v; want refused by the first rule", other)
		}
	})
	t.Run("a right test code, resent, is still right; then the session is over", func(t *testing.T) {
		t.Parallel()
		if err := s.StartSession(ctx, "testresend1", "123456", time.Minute); err != nil {
			t.Fatal(err)
		}
		check := func(nonce string) int {
			n, err := checkScript.Run(ctx, s.client, []string{sessionKey("testresend1")}, "123456", 3, nonce,
				resendGrace.Milliseconds()).Int()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if first, again, other := check("n1"), check("n1"), check("n2"); first != 1 || again != 1 || other != 0 {
			t.Fatalf("right code %d, its resend %d, another check %d; want 1, 1, 0", first, again, other)
		}
		if ended, err := s.EndSession(ctx, "testresend1"); err != nil || ended {
			t.Fatalf("cancel after the right code: ended %v, err %v; want nothing to end", ended, err)
		}
	})
	t.Run("a wrong code, resent, counts once", func(t *testing.T) {
		t.Parallel()
		if err := s.StartSession(ctx, "testresend2", "123456", time.Minute); err != nil {
			t.Fatal(err)
		}
		for _, nonce := range []string{"w1", "w1", "w2", "w2"} {
			if n, err := checkScript.Run(ctx, s.client, []string{sessionKey("testresend2")}, "000000", 3, nonce,
				resendGrace.Milliseconds()).Int(); err != nil || n != 2 {
				t.Fatalf("wrong code (nonce %s): %d, %v; want 2 (two wrong codes, not four)", nonce, n, err)
			}
		}
	})
	t.Run("a cancel, resent, still ended it", func(t *testing.T) {
		t.Parallel()
		if err := s.StartSession(ctx, "testresend3", "123456", time.Minute); err != nil {
			t.Fatal(err)
		}
		end := func(nonce string) int {
			n, err := endScript.Run(ctx, s.client, []string{sessionKey("testresend3")}, nonce, resendGrace.Milliseconds()).Int()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if first, again, other := end("e1"), end("e1"), end("e2"); first != 1 || again != 1 || other != 0 {
			t.Fatalf("cancel %d, its resend %d, another cancel %d; want 1, 1, 0", first, again, other)
		}
	})
}

// TestATakeResentToTheNewMasterCountsOnce: a Take whose answer was lost when the master died is
// resent (by go-redis, with the same member) to the replica the sentinels promote. The write had
// reached the replica, so the resent call finds itself there and is not counted a second time.
func TestATakeResentToTheNewMasterCountsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := redistest.StartSentinel(t)
	s, err := New(g.URL(), Options{Mode: ModeSentinel, SentinelMaster: redistest.MasterName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	rules := []state.Rule{{Name: "resent", Key: "number:resent", Limit: state.Limit{Count: 2, Window: time.Hour}}}
	take := func(member string) (state.Decision, error) { return s.take(ctx, rules, 0, member) }
	if d, err := take("call-1"); err != nil || !d.Allowed {
		t.Fatalf("the call before the failover: %+v %v", d, err)
	}
	g.Synced()
	g.WaitForFailover(g.KillMaster())
	var d state.Decision
	deadline := time.Now().Add(10 * time.Second)
	for d, err = take("call-1"); err != nil; d, err = take("call-1") {
		if time.Now().After(deadline) {
			t.Fatalf("the resent call did not reach the new master: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !d.Allowed {
		t.Fatalf("the resent call: %+v, want admitted", d)
	}
	if d, err := take("call-2"); err != nil || !d.Allowed {
		t.Fatalf("a second call under a limit of 2: %+v %v; the resend was counted twice", d, err)
	}
	if d, err := take("call-3"); err != nil || d.Allowed {
		t.Fatalf("a third call under a limit of 2: %+v %v, want refused", d, err)
	}
}
