package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/logging"
)

func TestFormatsAndLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, level string
		wantLines           int
		wantJSON            bool
	}{
		{"json at info drops debug", "json", "info", 3, true},
		{"text at debug keeps everything", "TEXT", "Debug", 4, false},
		{"warn keeps warn and error", "json", "warn", 2, true},
		{"error keeps only errors", "json", "error", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger, err := logging.New(&buf, tt.format, tt.level)
			if err != nil {
				t.Fatal(err)
			}
			logger.Debug("d")
			logger.Info("i")
			logger.Warn("w")
			logger.Error("e")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != tt.wantLines {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), tt.wantLines, buf.String())
			}
			var v map[string]any
			isJSON := json.Unmarshal([]byte(lines[0]), &v) == nil
			if isJSON != tt.wantJSON {
				t.Errorf("line %q: JSON %v, want %v", lines[0], isJSON, tt.wantJSON)
			}
		})
	}
}

func TestUnknownFormatOrLevelIsRefused(t *testing.T) {
	t.Parallel()
	for _, c := range [][2]string{{"xml", "info"}, {"json", "verbose"}, {"", "info"}, {"json", ""}, {"json", "warn+2"}} {
		if _, err := logging.New(&bytes.Buffer{}, c[0], c[1]); err == nil {
			t.Errorf("format %q level %q accepted", c[0], c[1])
		}
	}
}

func TestEveryLineOfARequestNamesItsRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := logging.New(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := logging.WithRequestID(context.Background(), "abc-123")
	logger.InfoContext(ctx, "direct")
	logger.With("component", "x").InfoContext(ctx, "through With")
	logger.WithGroup("g").InfoContext(ctx, "through a group", "k", "v")
	logger.Info("no context")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	for _, l := range lines[:2] {
		if l[logging.RequestIDKey] != "abc-123" {
			t.Errorf("line %v lacks the request id", l)
		}
	}
	if g, _ := lines[2]["g"].(map[string]any); g[logging.RequestIDKey] != "abc-123" {
		t.Errorf("grouped line %v lacks the request id", lines[2])
	}
	if _, ok := lines[3][logging.RequestIDKey]; ok {
		t.Errorf("a line without a request context names a request id: %v", lines[3])
	}
}
