// Package logtest owns the log sink that tests read back: a buffer that the server's goroutines may
// write to while a test reads it, so that tests can assert what was (and was never) logged.
package logtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
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

// Find returns the value of key in the first JSON record whose attributes include all of match, as a
// developer reads a value (say, a sandbox code) from the log, a number written as Go prints it; ok is
// false when no record matches or it has no such key.
func (b *Buffer) Find(match map[string]string, key string) (value string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader([]byte(b.String())))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if matches(rec, match) {
			switch v := rec[key].(type) {
			case nil:
				return "", false
			case string:
				return v, true
			default: // a number or a boolean, as JSON wrote it
				return fmt.Sprint(v), true
			}
		}
	}
	return "", false
}

// Holds reports whether any record's key or value contains s. Timestamps and numeric values (latencies,
// durations, HTTP statuses) are digits that change on every run, so a short code could turn up in
// them by chance: a number counts only when it is s itself. Lines that are not JSON are searched whole.
func (b *Buffer) Holds(s string) bool {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var rec map[string]any
		if dec.Decode(&rec) != nil {
			if strings.Contains(sc.Text(), s) {
				return true
			}
			continue
		}
		delete(rec, slog.TimeKey)
		if holds(rec, s) {
			return true
		}
	}
	return false
}

func holds(v any, s string) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, s)
	case json.Number:
		return v.String() == s
	case map[string]any:
		for k, e := range v {
			if strings.Contains(k, s) || holds(e, s) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if holds(e, s) {
				return true
			}
		}
	}
	return false
}

func matches(rec map[string]any, match map[string]string) bool {
	for k, v := range match {
		if s, _ := rec[k].(string); s != v {
			return false
		}
	}
	return true
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
			if b.Holds(p) {
				t.Errorf("logs hold %q:\n%s", p, out)
			}
		}
	})
}
