package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/porttest"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
)

// These tests start the program on a Redis Cluster and behind Redis Sentinel, as an operator would
// with REDIS_MODE. None runs in parallel: each sets REDIS_URL (see start).

// twoReplicasShareOneBudget starts the program twice on env, and checks that the per-number budget
// (3 per 10 minutes) holds across both, and that a test number started on one is checked on the
// other. It answers the two base URLs and the first one's log.
func twoReplicasShareOneBudget(t *testing.T, env func() map[string]string) (a, b string, outA *logtest.Buffer) {
	t.Helper()
	a, _, _, logA := start(t, env())
	b, _, _, _ = start(t, env())
	for i, base := range []string{a, b, a} {
		// The sandbox refuses a second verification to one number while the first runs (400); the
		// budget counts it all the same.
		if status, body := postJSON(t, base, "/request", `{"number":"14155550100"}`); status == http.StatusTooManyRequests {
			t.Fatalf("start %d limited: %s", i+1, body)
		}
	}
	if status, body := postJSON(t, b, "/request", `{"number":"14155550100"}`); status != http.StatusTooManyRequests || !strings.Contains(body, "rate_limited") {
		t.Fatalf("4th start on the other instance: %d %s", status, body)
	}
	_, body := postJSON(t, a, "/request", `{"number":"+1 555 555 0100"}`)
	var started struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &started); err != nil || !strings.HasPrefix(started.RequestID, "test") {
		t.Fatalf("test number start: %s", body)
	}
	if status, body := postJSON(t, b, "/check", checkBody(t, started.RequestID, "123456")); status != http.StatusOK {
		t.Fatalf("test number check on the other instance: %d %s", status, body)
	}
	if !strings.Contains(logA.String(), "kept in redis") {
		t.Errorf("start-up log should say where the state is:\n%s", logA)
	}
	return a, b, logA
}

func TestTwoInstancesShareOneRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	twoReplicasShareOneBudget(t, func() map[string]string {
		return map[string]string{"VERIFY_BACKEND": "sandbox", "REDIS_MODE": "cluster", "REDIS_URL": c.URL(),
			"TEST_NUMBERS": "15555550100:123456"}
	})
}

// TestTwoInstancesBehindSentinelSurviveAFailover: two instances share one budget behind Redis
// Sentinel. Then the master dies with a number range's budget (3) two-thirds used: the sentinels
// promote the replica, /request answers again within 10 s, and the budget admits exactly one more
// start over both instances: no start is lost in the failover, none counted twice.
func TestTwoInstancesBehindSentinelSurviveAFailover(t *testing.T) {
	g := redistest.StartSentinel(t)
	a, b, out := twoReplicasShareOneBudget(t, func() map[string]string {
		return map[string]string{"VERIFY_BACKEND": "sandbox", "REDIS_MODE": "sentinel", "REDIS_URL": g.URL(),
			"REDIS_SENTINEL_MASTER": redistest.MasterName, "TEST_NUMBERS": "15555550100:123456", "RATE_LIMIT_PREFIX": "3/1h"}
	})
	numbers := []string{"442071838750", "442071838751", "442071838752", "442071838753"} // one prefix
	for i, base := range []string{a, b} {
		if status, body := postJSON(t, base, "/request", `{"number":"`+numbers[i]+`"}`); status != http.StatusOK {
			t.Fatalf("start %d before the failover: %d %s", i+1, status, body)
		}
	}
	g.Synced()
	g.KillMaster()
	killed := time.Now()
	for {
		status, body := postJSON(t, a, "/request", `{"number":"`+numbers[2]+`"}`)
		if status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
			t.Fatalf("a start during the failover: %d %s, want 200 or 503 unavailable", status, body)
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("/request did not answer within 10s of the master's death: %d %s\n%s", status, body, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("/request answered %s after the master died", time.Since(killed).Round(10*time.Millisecond))
	if status, body := postJSON(t, b, "/request", `{"number":"`+numbers[3]+`"}`); status != http.StatusTooManyRequests ||
		!strings.Contains(body, "rate_limited") {
		t.Fatalf("a 4th start to one prefix over the failover: %d %s, want 429", status, body)
	}
}

// TestReadinessWithRedisDown: by default a Redis outage keeps the replica ready, and /readyz says
// Redis is failing; with READY_REQUIRES_REDIS=true it answers 503 naming redis, as it did before.
func TestReadinessWithRedisDown(t *testing.T) {
	for _, tt := range []struct {
		requires   string
		wantStatus int
		wantBody   string
	}{
		{"", http.StatusOK, `"redis":"failing"`},
		{"true", http.StatusServiceUnavailable, `"error_text":"not ready: redis"`},
	} {
		t.Run("READY_REQUIRES_REDIS="+tt.requires, func(t *testing.T) {
			redis := redistest.Start(t)
			env := map[string]string{"VERIFY_BACKEND": "sandbox", "REDIS_URL": redis.URL()}
			if tt.requires != "" {
				env["READY_REQUIRES_REDIS"] = tt.requires
			}
			base, _, _, out := start(t, env)
			if status, body, err := fresh(base, "/readyz"); err != nil || status != 200 || !strings.Contains(body, `"redis":"ok"`) {
				t.Fatalf("/readyz with Redis up: %d %s %v", status, body, err)
			}
			redis.Stop()
			waitFor(t, "/readyz says redis is failing", func() bool {
				status, body, err := fresh(base, "/readyz")
				return err == nil && status == tt.wantStatus && strings.Contains(body, tt.wantBody)
			})
			redis.Restart()
			waitFor(t, "/readyz is 200 again once Redis answers", func() bool {
				status, body, err := fresh(base, "/readyz")
				return err == nil && status == 200 && strings.Contains(body, `"redis":"ok"`)
			})
			if n := strings.Count(out.String(), `"level":"WARN"`); n < 1 || !strings.Contains(out.String(), "redis") {
				t.Errorf("the outage was not logged:\n%s", out)
			}
		})
	}
}

// TestRedissToAPlainRedisFailsAtStart: a rediss:// URL to a Redis that does not speak TLS stops the
// start at once, saying so, rather than as a start-up that waits on Redis and then times out on
// every request.
func TestRedissToAPlainRedisFailsAtStart(t *testing.T) {
	redis := redistest.Start(t)
	env := map[string]string{"VERIFY_BACKEND": "sandbox", "REDIS_URL": "rediss://:secretpw@" + redis.Addr() + "/0",
		"PORT": porttest.Free(t), "ADMIN_ADDR": "off"}
	began := time.Now()
	err := program(nil).Run(context.Background(), nil, lookupOf(env), io.Discard)
	want := "REDIS_URL is rediss:// (TLS) but " + redis.Addr() + " does not speak TLS"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run: %v, want %q", err, want)
	}
	if strings.Contains(err.Error(), "secretpw") {
		t.Errorf("the error repeats the password: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the mistake took %s to find", took)
	}
}
