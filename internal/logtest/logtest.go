// Package logtest owns the log sink that tests read back: a buffer that the server's goroutines may
// write to while a test reads it, so that tests can assert what was (and was never) logged.
package logtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/logging"
)

// Buffer is an io.Writer safe for concurrent writes and reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// New returns a JSON logger at Debug level, so tests see every line production could write, and
// the buffer it writes to. Like production's, it names the request id on every line of a request.
func New() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	h := slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(logging.WithRequestIDs(h)), b
}

// CheckAtEnd fails t when it ends if nothing was written to b, or if b holds any of private: for
// tests that must see a log line about every exchange and never a secret, number or code in one.
func CheckAtEnd(t testing.TB, b *Buffer, private ...string) {
	t.Cleanup(func() {
		out := b.String()
		if out == "" {
			t.Error("nothing was logged")
		}
		for _, p := range private {
			if strings.Contains(out, p) {
				t.Errorf("logs hold %q:\n%s", p, out)
			}
		}
	})
}
