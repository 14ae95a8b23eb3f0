package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/porttest"
)

// TestHealthcheckCommand: `verify-proxy healthcheck` is what the image's HEALTHCHECK runs, with the
// server's own environment. Not parallel: once the server has stopped, nothing may answer on its
// port, which a parallel test's fake could be given.
func TestHealthcheckCommand(t *testing.T) {
	for _, listenHost := range []string{"", "127.0.0.2"} {
		t.Run("LISTEN_HOST="+listenHost, func(t *testing.T) { testHealthcheckCommand(t, listenHost) })
	}
}

func testHealthcheckCommand(t *testing.T, listenHost string) {
	env := map[string]string{"VERIFY_BACKEND": "sandbox"}
	if listenHost != "" {
		env["LISTEN_HOST"] = listenHost
	}
	_, stop, done, _ := start(t, env)

	var out bytes.Buffer
	if err := program(nil).Run(context.Background(), []string{"healthcheck"}, lookupOf(env), &out); err != nil {
		t.Fatalf("healthcheck against a serving server: %v", err)
	}
	if strings.TrimSpace(out.String()) != "ok" {
		t.Errorf("healthcheck printed %q", out.String())
	}

	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err := program(nil).Run(context.Background(), []string{"healthcheck"}, lookupOf(env), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "healthcheck") {
		t.Fatalf("healthcheck with nothing serving: %v, want a failure", err)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantOut string
		wantErr string
	}{
		{"version prints the stamped version", []string{"version"}, nil, testVersion + "\n", ""},
		{"an unknown command names the known ones and help", []string{"start"}, nil, "",
			`unknown command "start": the commands are serve (the default), healthcheck, version and help; run verify-proxy help`},
		{"--version is version", []string{"--version"}, nil, testVersion + "\n", ""},
		{"-v is version", []string{"-v"}, nil, testVersion + "\n", ""},
		{"a flag this binary does not have is an unknown command", []string{"--port=80"}, nil, "", "verify-proxy help"},
		{"serve with an argument says serve takes none", []string{"serve", "now"}, nil, "", "serve takes no arguments"},
		{"help with an argument says help takes none", []string{"help", "serve"}, nil, "", "help takes no arguments"},
		{"version with an argument says version takes none", []string{"version", "--short"}, nil, "", "version takes no arguments"},
		{"healthcheck with an argument says it takes none", []string{"healthcheck", "--port=80"}, nil, "", "healthcheck takes no arguments"},
		{"serve with a bad configuration names it, as without a command", []string{"serve"},
			map[string]string{"VERIFY_BACKEND": "sandbox", "PORT": "eighty"}, "", "PORT"},
		{"healthcheck with a bad configuration names it", []string{"healthcheck"},
			map[string]string{"VERIFY_BACKEND": "sandbox", "PORT": "eighty"}, "", "PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := program(nil).Run(context.Background(), tt.args, lookupOf(tt.env), &out)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
			}
			if out.String() != tt.wantOut {
				t.Errorf("printed %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

// TestHelp: `verify-proxy help`, -h and --help print the same usage and succeed, with no
// configuration at all: what the program is, its commands, the three calls, where the Swagger UI and
// the configuration reference are.
func TestHelp(t *testing.T) {
	t.Parallel()
	var first string
	for _, arg := range []string{"help", "-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			var out bytes.Buffer
			if err := program(nil).Run(context.Background(), []string{arg}, lookupOf(nil), &out); err != nil {
				t.Fatalf("exit with %v, want 0", err)
			}
			if first == "" {
				first = out.String()
			}
			if out.String() != first {
				t.Errorf("%s prints other text than help:\n%s", arg, out.String())
			}
			for _, want := range []string{
				"verify-proxy: ", "Usage:\n  verify-proxy [command]",
				"serve ", "(the default, when no command is given)", "healthcheck ", "version ", "help ",
				"POST /request ", "POST /check ", "POST /cancel ",
				"/docs on the running server", "docs/configuration.md", ".env.example",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("help does not say %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestHelpTellsTheTruth: each command help lists is one the program runs, each call it lists is a
// POST in the contract, and the files it points at are in the repository.
func TestHelpTellsTheTruth(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := program(nil).Run(context.Background(), []string{"help"}, lookupOf(nil), &out); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	commands, _, _ := strings.Cut(help[strings.Index(help, "Commands:"):], "\n\n")
	names := regexp.MustCompile(`(?m)^  ([a-z]+) `).FindAllStringSubmatch(commands, -1)
	if len(names) != 4 {
		t.Fatalf("help lists %d commands, want serve, healthcheck, version and help:\n%s", len(names), commands)
	}
	for _, m := range names {
		// A configuration it refuses keeps serve and healthcheck from doing anything.
		bad := map[string]string{"VERIFY_BACKEND": "sandbox", "PORT": "eighty"}
		err := program(nil).Run(context.Background(), []string{m[1]}, lookupOf(bad), io.Discard)
		if err != nil && strings.Contains(err.Error(), "unknown command") {
			t.Errorf("help lists %s, which the program does not know: %v", m[1], err)
		}
	}
	spec, err := specYAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^  POST (/[a-z]+) `).FindAllStringSubmatch(help, -1) {
		if !strings.Contains(string(spec), "\n  "+m[1]+":\n    post:") {
			t.Errorf("help lists POST %s, which openapi.yaml does not have", m[1])
		}
	}
	for _, file := range []string{"docs/configuration.md", ".env.example"} {
		if _, err := os.Stat(filepath.Join("..", "..", file)); err != nil {
			t.Errorf("help points at %s: %v", file, err)
		}
	}
}

// TestServeCommandServes: `verify-proxy serve` is the server, as without a command. Not parallel: it
// binds a port of freePort's without start's retries, so no parallel test's fake may be given it.
func TestServeCommandServes(t *testing.T) {
	env := map[string]string{"VERIFY_BACKEND": "sandbox", "ADMIN_ADDR": "off", "PORT": porttest.Free(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- program(nil).Run(ctx, []string{"serve"}, lookupOf(env), io.Discard) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://127.0.0.1:" + env["PORT"] + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped while starting: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("serve never answered /healthz")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve ended with %v", err)
	}
}
