package app_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/apiclient"
	"github.com/verify-proxy/verify-proxy/internal/app"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
)

func TestRunRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"vonage without credentials", map[string]string{}, []string{"VONAGE_API_KEY", "VONAGE_API_SECRET", "VERIFY_BRAND", "VERIFY_BACKEND=sandbox"}},
		{"bad port", map[string]string{"VERIFY_BACKEND": "sandbox", "PORT": "eighty"}, []string{"PORT"}},
		{"unsupported default country", map[string]string{"VERIFY_BACKEND": "sandbox", "DEFAULT_COUNTRY": "ZZ"}, []string{"DEFAULT_COUNTRY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := program(nil).Run(context.Background(), nil, lookupOf(tt.env), io.Discard)
			if err == nil {
				t.Fatal("run started with a bad configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestAnUnconfiguredServerLimitsStartsPerNumber: the defaults a deployment gets without setting
// any RATE_LIMIT_*: three starts per number in ten minutes.
func TestAnUnconfiguredServerLimitsStartsPerNumber(t *testing.T) {
	t.Parallel()
	base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox"})
	for i := range 3 {
		if status, body := postJSON(t, base, "/request", `{"number":"14155550100"}`); status == http.StatusTooManyRequests {
			t.Fatalf("start %d limited: %s", i+1, body)
		}
	}
	if status, body := postJSON(t, base, "/request", `{"number":"14155550100"}`); status != http.StatusTooManyRequests {
		t.Fatalf("the 4th start to one number within 10 minutes: %d %s", status, body)
	}
}

func TestRunServesTheSandbox(t *testing.T) {
	t.Parallel()
	base, stop, done, out := start(t, map[string]string{"VERIFY_BACKEND": "sandbox"})
	res, err := http.Post(base+"/request", "application/json", strings.NewReader(`{"number":"14155550100"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"status":"0"`) {
		t.Fatalf("request: %d %s", res.StatusCode, body)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run after stop: %v", err)
	}
	if !strings.Contains(out.String(), "/docs") {
		t.Errorf("start-up log should say where the docs are:\n%s", out)
	}
}

// TestShutdownDrainsInFlightRequests: with no SHUTDOWN_DELAY, a SIGTERM stops new connections at
// once, and a request waiting on a slow upstream when it arrived still completes with 200. Not
// parallel: it signals the process.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	env, arrived, release := slowUpstream(t)
	base, _, done, _ := start(t, env)
	got := postInBackground(base)

	<-arrived
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new connections are refused", func() bool {
		_, _, err := fresh(base, "/healthz")
		return err != nil
	})
	close(release)

	r := <-got
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, "abcdef0123456789abcdef0123456789") {
		t.Fatalf("in-flight request: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run after drain: %v", err)
	}
}

// TestTwoInstancesShareOneRedis starts the program twice, as two replicas with one REDIS_URL and
// the default limits: the per-number budget (3 per 10 minutes) holds across both, and a test
// number started on one is checked on the other. Not parallel: it sets REDIS_URL.
func TestTwoInstancesShareOneRedis(t *testing.T) {
	redis := redistest.Start(t)
	twoReplicasShareOneBudget(t, func() map[string]string {
		return map[string]string{"VERIFY_BACKEND": "sandbox", "REDIS_URL": redis.URL(), "TEST_NUMBERS": "15555550100:123456"}
	})
}

// TestShutdownDelayKeepsServingWhileNotReady walks the whole sequence: on SIGTERM /readyz turns 503
// at once while the server still takes new connections for SHUTDOWN_DELAY; then it stops accepting,
// drains the request in flight (200), and returns cleanly. The delay is the test's to end. Not
// parallel: it signals the process.
func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	env, arrived, release := slowUpstream(t)
	env["SHUTDOWN_DELAY"] = "10m" // the longest allowed: the test, not the clock, ends it
	delays := make(chan time.Duration, 1)
	endDelay := make(chan time.Time)
	after := func(d time.Duration) <-chan time.Time {
		delays <- d
		return endDelay
	}
	base, _, done, out := startWith(t, env, after)
	if status, _, err := fresh(base, "/readyz"); err != nil || status != 200 {
		t.Fatalf("/readyz before the signal: %d %v", status, err)
	}
	got := postInBackground(base)
	<-arrived

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if d := <-delays; d != 10*time.Minute {
		t.Fatalf("waited %s, want SHUTDOWN_DELAY 10m", d)
	}
	// The delay has begun: not ready, yet serving new connections, the API included.
	status, body, err := fresh(base, "/readyz")
	if err != nil || status != 503 || !strings.Contains(body, `"error":"not_ready"`) || !strings.Contains(body, "shutdown") {
		t.Fatalf("/readyz during SHUTDOWN_DELAY: %d %s %v", status, body, err)
	}
	if status, _, err := fresh(base, "/healthz"); err != nil || status != 200 {
		t.Fatalf("/healthz during SHUTDOWN_DELAY: %d %v", status, err)
	}
	res, err := http.Post(base+"/check", "application/json",
		strings.NewReader(`{"request_id":"0123456789abcdef0123456789abcdef","code":"1234"}`))
	if err != nil {
		t.Fatalf("a new API call during SHUTDOWN_DELAY was refused: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 400 { // the fake Verify API's "not found": it was asked, and answered
		t.Fatalf("a new API call during SHUTDOWN_DELAY answered %d, want Verify's answer", res.StatusCode)
	}
	if !res.Close {
		t.Error("answers during SHUTDOWN_DELAY must close the connection, so clients reconnect elsewhere")
	}
	select {
	case err := <-done:
		t.Fatalf("run returned during SHUTDOWN_DELAY: %v", err)
	default:
	}

	close(endDelay)
	waitFor(t, "new connections are refused after SHUTDOWN_DELAY", func() bool {
		_, _, err := fresh(base, "/healthz")
		return err != nil
	})
	close(release)
	if r := <-got; r.err != nil || r.status != 200 {
		t.Fatalf("in-flight request: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run after drain: %v", err)
	}
	logs := out.String()
	for _, step := range []string{"/readyz answers 503", "draining in-flight requests", `"msg":"stopped"`} {
		if !strings.Contains(logs, step) {
			t.Errorf("the log does not tell the step %q:\n%s", step, logs)
		}
	}
}

// TestShutdownTimeoutCutsOffWhatIsLeft: a request that outlives SHUTDOWN_TIMEOUT does not keep the
// process alive; run says what happened. The request is one whose body never finishes arriving: a
// call to Vonage cannot outlive the drain, since start-up refuses a SHUTDOWN_TIMEOUT that is not
// longer than UPSTREAM_TIMEOUT.
func TestShutdownTimeoutCutsOffWhatIsLeft(t *testing.T) {
	t.Parallel()
	env := map[string]string{"VERIFY_BACKEND": "sandbox", "SHUTDOWN_TIMEOUT": "50ms"}
	base, stop, done, _ := start(t, env)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /request HTTP/1.1\r\nHost: verify-proxy\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	// The server asks for the body when its handler first reads it: the request is in flight.
	answers := bufio.NewReader(conn)
	if line, err := answers.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("the server did not ask for the body: %q %v", line, err)
	}
	if _, err := io.WriteString(conn, `{"number":`); err != nil { // and the rest never comes
		t.Fatal(err)
	}
	stop()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("run: %v, want an error naming SHUTDOWN_TIMEOUT", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := io.ReadAll(answers)
	if status := strings.TrimSpace(string(rest)); strings.Contains(status, "HTTP/1.1 ") {
		t.Errorf("the stuck request was answered after it was cut off: %q", status)
	}
}

// TestListenHostBindsThatAddressOnly: with LISTEN_HOST the server answers there and nowhere else
// (127.0.0.2 is loopback on Linux too, so the test needs no second interface). Not parallel: the
// fake upstream of a parallel test may be given the same port on 127.0.0.1.
func TestListenHostBindsThatAddressOnly(t *testing.T) {
	env := map[string]string{"VERIFY_BACKEND": "sandbox", "LISTEN_HOST": "127.0.0.2"}
	base, _, _, out := start(t, env)
	if status, _, err := fresh(base, "/healthz"); err != nil || status != 200 {
		t.Fatalf("on LISTEN_HOST: %d %v", status, err)
	}
	if _, _, err := fresh("http://127.0.0.1:"+env["PORT"], "/healthz"); err == nil {
		t.Error("the server answers on 127.0.0.1 as well as on LISTEN_HOST 127.0.0.2")
	}
	if !strings.Contains(out.String(), `"docs":"http://127.0.0.2:`+env["PORT"]+`/docs"`) {
		t.Errorf("the start-up line does not point at the docs where the server listens:\n%s", out)
	}
}

// TestSecondSignalEndsTheShutdownAtOnce: an operator who signals again, during SHUTDOWN_DELAY or
// while requests drain, does not wait out SHUTDOWN_TIMEOUT; run returns at once and says why. Not
// parallel: it signals the process.
func TestSecondSignalEndsTheShutdownAtOnce(t *testing.T) {
	for _, phase := range []string{"during SHUTDOWN_DELAY", "while draining"} {
		t.Run(phase, func(t *testing.T) {
			env, arrived, release := slowUpstream(t)
			defer close(release)
			env["SHUTDOWN_TIMEOUT"] = "10m" // the longest allowed: only the second signal can end it early
			delaying := make(chan struct{})
			after := func(time.Duration) <-chan time.Time {
				close(delaying)
				return nil // a delay that never ends by itself
			}
			if phase == "during SHUTDOWN_DELAY" {
				env["SHUTDOWN_DELAY"] = "10m"
			}
			base, _, done, _ := startWith(t, env, after)
			got := postInBackground(base)
			<-arrived

			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if phase == "during SHUTDOWN_DELAY" {
				<-delaying
			} else {
				waitFor(t, "new connections are refused", func() bool {
					_, _, err := fresh(base, "/healthz")
					return err != nil
				})
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, app.ErrSecondSignal) {
					t.Fatalf("run: %v, want %v", err, app.ErrSecondSignal)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the second signal did not end the shutdown")
			}
			if r := <-got; r.err == nil {
				t.Errorf("the request in flight was answered %d after the shutdown was cut short", r.status)
			}
		})
	}
}

// TestGeneratedClientDrivesTheProgram is the component test: the program started as a user starts
// it, driven through the Go client that oapi-codegen generates from openapi.yaml, with the code read
// from the log as a developer reads it.
func TestGeneratedClientDrivesTheProgram(t *testing.T) {
	t.Parallel()
	base, _, _, out := start(t, map[string]string{"VERIFY_BACKEND": "sandbox"})
	c, err := apiclient.NewClientWithResponses(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	codeFor := func(id string) string {
		t.Helper()
		code, ok := out.Find(map[string]string{"msg": "sandbox verification code", "request_id": id}, "code")
		if !ok {
			t.Fatalf("no code logged for %s:\n%s", id, out)
		}
		return code
	}

	started, err := c.RequestVerificationWithResponse(ctx, nil, apiclient.VerificationRequest{Number: "14155550100"})
	if err != nil || started.JSON200 == nil {
		t.Fatalf("request: %v %s", err, started.Body)
	}
	id := started.JSON200.RequestId
	code := codeFor(id)
	wrong := "0000"
	if code == wrong {
		wrong = "1111"
	}
	mismatch, err := c.CheckVerificationWithResponse(ctx, apiclient.CheckRequest{RequestId: id, Code: wrong})
	if err != nil || mismatch.JSON400 == nil || mismatch.JSON400.Error != "code_mismatch" || mismatch.JSON400.ErrorText == "" {
		t.Fatalf("wrong code: %v %d %s", err, mismatch.StatusCode(), mismatch.Body)
	}
	verified, err := c.CheckVerificationWithResponse(ctx, apiclient.CheckRequest{RequestId: id, Code: code})
	if err != nil || verified.JSON200 == nil || verified.JSON200.RequestId != id {
		t.Fatalf("right code: %v %d %s", err, verified.StatusCode(), verified.Body)
	}

	again, err := c.RequestVerificationWithResponse(ctx, nil, apiclient.VerificationRequest{Number: "14155550100"})
	if err != nil || again.JSON200 == nil {
		t.Fatalf("second request: %v %s", err, again.Body)
	}
	cancelled, err := c.CancelVerificationWithResponse(ctx, apiclient.CancelRequest{RequestId: again.JSON200.RequestId})
	if err != nil || cancelled.JSON200 == nil || cancelled.JSON200.Command != apiclient.Cancel {
		t.Fatalf("cancel: %v %d %s", err, cancelled.StatusCode(), cancelled.Body)
	}
}

// TestReadinessFollowsRedis: with READY_REQUIRES_REDIS=true (the behaviour before it existed),
// /readyz answers 503 naming redis while Redis is down (so an orchestrator routes elsewhere) and 200
// again once it is back; /healthz stays 200. Not parallel: it sets REDIS_URL.
func TestReadinessFollowsRedis(t *testing.T) {
	redis := redistest.Start(t)
	base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "REDIS_URL": redis.URL(), "READY_REQUIRES_REDIS": "true"})
	if status, body, err := fresh(base, "/readyz"); err != nil || status != 200 {
		t.Fatalf("/readyz with Redis up: %d %s %v", status, body, err)
	}

	redis.Stop()
	waitFor(t, "/readyz turns 503 naming redis", func() bool {
		status, body, err := fresh(base, "/readyz")
		return err == nil && status == 503 && strings.Contains(body, "redis")
	})
	if status, _, err := fresh(base, "/healthz"); err != nil || status != 200 {
		t.Fatalf("/healthz must stay 200 while Redis is down: %d %v", status, err)
	}

	redis.Restart()
	waitFor(t, "/readyz is 200 again once Redis answers", func() bool {
		status, _, err := fresh(base, "/readyz")
		return err == nil && status == 200
	})
}
