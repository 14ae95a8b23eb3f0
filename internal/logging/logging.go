// Package logging owns how verify-proxy writes its log: the slog handler that LOG_FORMAT and
// LOG_LEVEL choose, and the request id that travels in a request's context so that every line written
// while serving that request names it, whichever package writes the line.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Formats a log can be written in.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// RequestIDKey is the attribute that carries the request id (X-Request-ID) on every line of a
// request. It is not "request_id": that name is the Verify request id in the API and in the log.
const RequestIDKey = "req_id"

// levels are the LOG_LEVEL values: the four slog levels, by the names operators type.
var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// ParseLevel reads a LOG_LEVEL value: debug, info, warn or error, in any case.
func ParseLevel(s string) (slog.Level, error) {
	level, ok := levels[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return 0, fmt.Errorf("log level %q is not debug, info, warn or error", s)
	}
	return level, nil
}

// ParseFormat reads a LOG_FORMAT value: json or text, in any case.
func ParseFormat(s string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case FormatJSON, FormatText:
		return f, nil
	}
	return "", fmt.Errorf("log format %q is not %s or %s", s, FormatJSON, FormatText)
}

// New returns a logger that writes lines of format at level and above to w, each naming the
// request id of the context it was written with (the *Context methods of slog.Logger).
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	f, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	l, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if f == FormatText {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(WithRequestIDs(h)), nil
}

// WithRequestIDs wraps h so that each record written with a context that carries a request id gets
// it as RequestIDKey. Handlers built by New are already wrapped.
func WithRequestIDs(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String(RequestIDKey, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

type requestIDContextKey struct{}

// WithRequestID returns ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDContextKey{}, id)
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDContextKey{}).(string)
	return id
}
