package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/apiclient"
	"github.com/verify-proxy/verify-proxy/internal/logtest"

	"github.com/verify-proxy/verify-proxy/internal/verify/vonage/vonagetest"
)

// freePort asks the kernel for a port nobody uses.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func lookupOf(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// start runs the program as a user would and waits until /healthz answers.
func start(t *testing.T, env map[string]string) (base string, stop context.CancelFunc, done <-chan error, out *logtest.Buffer) {
	t.Helper()
	port := freePort(t)
	env["PORT"] = port
	ctx, cancel := context.WithCancel(context.Background())
	out = &logtest.Buffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, nil, lookupOf(env), out, io.Discard) }()
	base = "http://127.0.0.1:" + port
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("server stopped while starting: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never became healthy:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(cancel)
	return base, cancel, errc, out
}

func TestRunRefusesBadConfiguration(t *testing.T) {
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
			err := run(context.Background(), nil, lookupOf(tt.env), io.Discard, io.Discard)
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

func TestRunServesTheSandbox(t *testing.T) {
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

// TestShutdownDrainsInFlightRequests: a request waiting on a slow upstream when the signal arrives
// completes with 200, and run then returns cleanly.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	fake := vonagetest.NewServer(t)
	arrived := make(chan struct{})
	release := make(chan struct{})
	fake.Respond(vonagetest.PathStart, func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"request_id":"abcdef0123456789abcdef0123456789","status":"0"}`)
	})
	base, stop, done, _ := start(t, map[string]string{
		"VONAGE_API_KEY": vonagetest.APIKey, "VONAGE_API_SECRET": vonagetest.APISecret,
		"VERIFY_BRAND": "Acme", "VONAGE_BASE_URL": fake.URL(),
	})

	type result struct {
		status int
		body   string
		err    error
	}
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

	<-arrived
	stop() // what SIGTERM does
	// New connections are refused once shutdown began; the in-flight request is still served.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := http.Get(base + "/healthz"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server kept accepting new connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)

	r := <-got
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, "abcdef0123456789abcdef0123456789") {
		t.Fatalf("in-flight request: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run after drain: %v", err)
	}
}

// TestGeneratedClientDrivesTheProgram is the component test: the program started as a user starts
// it, driven through the Go client that oapi-codegen generates from openapi.yaml, with the code read
// from the log as a developer reads it.
func TestGeneratedClientDrivesTheProgram(t *testing.T) {
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

	started, err := c.RequestVerificationWithResponse(ctx, apiclient.VerificationRequest{Number: "14155550100"})
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

	again, err := c.RequestVerificationWithResponse(ctx, apiclient.VerificationRequest{Number: "14155550100"})
	if err != nil || again.JSON200 == nil {
		t.Fatalf("second request: %v %s", err, again.Body)
	}
	cancelled, err := c.CancelVerificationWithResponse(ctx, apiclient.CancelRequest{RequestId: again.JSON200.RequestId})
	if err != nil || cancelled.JSON200 == nil || cancelled.JSON200.Command != apiclient.Cancel {
		t.Fatalf("cancel: %v %d %s", err, cancelled.StatusCode(), cancelled.Body)
	}
}
