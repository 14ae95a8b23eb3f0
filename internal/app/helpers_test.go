package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/apiclient"
	"github.com/verify-proxy/verify-proxy/internal/app"
	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/porttest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// testVersion is the build version the program under test reports.
const testVersion = "v1.2.3-test"

// specYAML is openapi.yaml as main embeds it, read once.
var specYAML = sync.OnceValues(func() ([]byte, error) { return os.ReadFile("../../openapi.yaml") })

// program is the binary as main builds it, with the timer of SHUTDOWN_DELAY in the test's hands
// (nil: the real one).
func program(after func(time.Duration) <-chan time.Time) app.Program {
	spec, err := specYAML()
	if err != nil {
		panic(err)
	}
	return app.Program{Version: testVersion, SpecYAML: spec, After: after}
}

func lookupOf(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// start runs the program as a user would and waits until /healthz answers. The admin listener is
// off unless env names an ADMIN_ADDR: its default port would clash between tests.
//
// Most tests that start the program run in parallel. Three kinds do not: those that signal the
// process (every running program would take the signal), those that set REDIS_URL (go-redis has one
// logger per process, and each program sets it at start-up) and those that check that nothing
// answers on a port (a parallel test may be given it). Go runs every test that does not call
// t.Parallel() before any that does resumes, so a parallel test calls it first, before it starts
// anything.
func start(t *testing.T, env map[string]string) (base string, stop context.CancelFunc, done <-chan error, out *logtest.Buffer) {
	t.Helper()
	return startWith(t, env, time.After)
}

// startWith is start with the timer of SHUTDOWN_DELAY in the test's hands.
func startWith(t *testing.T, env map[string]string, after func(time.Duration) <-chan time.Time) (base string, stop context.CancelFunc, done <-chan error, out *logtest.Buffer) {
	t.Helper()
	if _, ok := env["ADMIN_ADDR"]; !ok {
		env["ADMIN_ADDR"] = "off"
	}
	// Between freePort and the program's bind, a fake upstream or a Redis of a parallel test may
	// take the port (the kernel does not know it is promised); a new port then does.
	const attempts = 5
	for attempt := 1; ; attempt++ {
		base, stop, done, out, err := launch(t, env, after)
		if errors.Is(err, syscall.EADDRINUSE) && attempt < attempts {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return base, stop, done, out
	}
}

// launch runs the program on a free port (written to env["PORT"]) and waits until /healthz
// answers; the error says why it did not.
func launch(t *testing.T, env map[string]string, after func(time.Duration) <-chan time.Time) (base string, stop context.CancelFunc, done <-chan error, out *logtest.Buffer, err error) {
	t.Helper()
	port := porttest.Free(t)
	env["PORT"] = port
	ctx, cancel := context.WithCancel(context.Background())
	out = &logtest.Buffer{}
	errc := make(chan error, 1)
	go func() { errc <- program(after).Run(ctx, nil, lookupOf(env), out) }()
	host := "127.0.0.1"
	if h := env["LISTEN_HOST"]; h != "" {
		host = h
	}
	base = "http://" + net.JoinHostPort(host, port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return base, cancel, errc, out, nil
			}
		}
		select {
		case err := <-errc:
			cancel()
			return "", nil, nil, nil, fmt.Errorf("server stopped while starting: %w\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			return "", nil, nil, nil, fmt.Errorf("server never became healthy:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowUpstream is a fake Verify API whose start call waits until the test releases it.
func slowUpstream(t *testing.T) (env map[string]string, arrived, release chan struct{}) {
	t.Helper()
	fake := v1test.NewServer(t)
	arrived, release = make(chan struct{}), make(chan struct{})
	fake.Respond(v1test.PathStart, func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"request_id":"abcdef0123456789abcdef0123456789","status":"0"}`)
	})
	return map[string]string{
		"VONAGE_API_KEY": v1test.APIKey, "VONAGE_API_SECRET": v1test.APISecret,
		"VERIFY_BRAND": "Acme", "VONAGE_BASE_URL": fake.URL(),
	}, arrived, release
}

type result struct {
	status int
	body   string
	err    error
}

// postInBackground starts a /request whose answer arrives on the channel.
func postInBackground(base string) <-chan result {
	got := make(chan result, 1)
	go func() {
		res, err := http.Post(base+"/request", "application/json", strings.NewReader(`{"number":"14155550100"}`))
		if err != nil {
			got <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- result{status: res.StatusCode, body: string(b)}
	}()
	return got
}

// fresh asks path on a new connection, as a load balancer's probe or a new client would; err is
// set when the connection is refused.
func fresh(base, path string) (int, string, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get(base + path)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

// waitFor polls cond until it holds or five seconds have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// postJSON posts body to base+path and returns the status and body.
func postJSON(t *testing.T, base, path, body string) (int, string) {
	t.Helper()
	res, err := http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// checkBody is the JSON body of POST /check, built as the generated client builds it.
func checkBody(t *testing.T, requestID, code string) string {
	t.Helper()
	b, err := json.Marshal(apiclient.CheckRequest{RequestId: requestID, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
