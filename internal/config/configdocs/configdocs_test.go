package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// root is the repository's root, where go.mod is.
const root = "../../.."

// TestGeneratedFilesAreCurrent: the committed reference and .env.example are what the generator
// makes from the code now, so that `go test` catches a change to a variable without `make docs`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	t.Parallel()
	sections := config.Sections()
	for path, want := range map[string][]byte{
		"docs/configuration.md": reference(sections),
		".env.example":          envExample(sections),
	} {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatalf("%v: run make docs", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what internal/config's tags make now: run make docs and commit it", path)
		}
	}
}

// TestEveryVariableIsInBothFiles: each variable the binary reads has its row in the reference and
// its line in .env.example; the original proxy's names and what is read outside internal/config
// are in the reference too.
func TestEveryVariableIsInBothFiles(t *testing.T) {
	t.Parallel()
	ref, err := os.ReadFile(filepath.Join(root, "docs/configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Variables() {
		if !bytes.Contains(ref, []byte("\n| `"+v.Name+"` | ")) {
			t.Errorf("docs/configuration.md has no row for %s", v.Name)
		}
		line := regexp.MustCompile(`(?m)^# ` + v.Name + `=(.*)$`).FindSubmatch(example)
		if line == nil {
			t.Errorf(".env.example has no line for %s", v.Name)
			continue
		}
		if v.Secret && len(line[1]) > 0 {
			t.Errorf(".env.example shows a value for the secret %s", v.Name)
		}
		if v.Fallback != "" && !bytes.Contains(ref, []byte("`"+v.Fallback+"`")) {
			t.Errorf("docs/configuration.md does not name %s, the original proxy's name for %s", v.Fallback, v.Name)
		}
	}
	for _, e := range elsewhere {
		for _, name := range e.Names {
			if !bytes.Contains(ref, []byte("`"+name+"`")) {
				t.Errorf("docs/configuration.md does not name %s, which %s reads", name, e.Reader)
			}
		}
	}
}

// TestEnvExampleChangesNothing: .env.example copied to .env changes nothing, and so does every line
// with a value uncommented, since each shows its default.
func TestEnvExampleChangesNothing(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	uncommented := regexp.MustCompile(`(?m)^# ([A-Z0-9_]+=.+)$`).ReplaceAll(example, []byte("$1"))
	if bytes.Equal(uncommented, example) {
		t.Fatal("no line of .env.example has a value to uncomment")
	}
	// The real environment names the sandbox: the default backend needs credentials.
	real := func(key string) (string, bool) {
		if key == "VERIFY_BACKEND" {
			return config.BackendSandbox, true
		}
		return "", false
	}
	want, err := config.Load(real)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"as it is": example, "with every value uncommented": uncommented} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			lookup, err := config.WithDotEnv(real, path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := config.Load(lookup)
			if err != nil {
				t.Fatalf("the server would refuse it: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("it changes the configuration:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestReferenceWritesNamesAsCode: variable names and the server's paths read as code, values that
// are a list of literals too, and other capitals (SMS, JWT) are left alone.
func TestReferenceWritesNamesAsCode(t *testing.T) {
	t.Parallel()
	names := map[string]bool{"VERIFY_BACKEND": true, "REDIS_URL": true}
	for _, tt := range []struct{ in, want string }{
		{"required with VERIFY_BACKEND=vonage.", "required with `VERIFY_BACKEND=vonage`."},
		{"without REDIS_URL each", "without `REDIS_URL` each"},
		{"an SMS or a JWT", "an SMS or a JWT"},
		{"/request per number (IPv6: per /64).", "`/request` per number (IPv6: per /64)."},
		{"the keys at /.well-known/jwks.json.", "the keys at `/.well-known/jwks.json`."},
		{`with \n for each line break`, "with `\\n` for each line break"},
	} {
		if got := markdown(tt.in, names); got != tt.want {
			t.Errorf("markdown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := values("single, cluster, sentinel", names); got != "`single`, `cluster`, `sentinel`" {
		t.Errorf("a list of values: %q", got)
	}
	if got := values("1 to 65535", names); got != "1 to 65535" {
		t.Errorf("a range: %q", got)
	}
}

// TestWrapKeepsCommentsNarrow: no comment line of .env.example is wider than width, and no word is lost.
func TestWrapKeepsCommentsNarrow(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("word ", 60) + "end"
	lines := wrap(text, 40)
	for _, l := range lines {
		if len(l) > 40 {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
	if got := strings.Join(lines, " "); got != strings.TrimSpace(text) {
		t.Errorf("wrapped text changed: %q", got)
	}
}
