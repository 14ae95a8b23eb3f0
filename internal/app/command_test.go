package app_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
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
		{"an unknown command names the known ones", []string{"serve"}, nil, "", "healthcheck and version"},
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
