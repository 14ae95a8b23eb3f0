package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/server"
	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
	"github.com/verify-proxy/verify-proxy/internal/verify/sandbox"
)

// BenchmarkServer measures the whole in-process stack (middleware, validation, handler, sandbox)
// per request, without a network in the way: what one request costs the server in time and memory.
func BenchmarkServer(b *testing.B) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	phones, err := phone.NewParser("")
	if err != nil {
		b.Fatal(err)
	}
	specYAML, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		b.Fatal(err)
	}
	// Limits off: the benchmark measures the request path, not how soon a limit refuses it.
	g, err := guard.New(guard.Options{Store: memstore.New(time.Now), Logger: logger, IdempotencyTTL: time.Hour, VerificationTTL: 5 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	handler, err := server.New(server.Deps{Logger: logger, Provider: sandbox.New(sandbox.Options{PinExpiry: 5 * time.Minute}, logger), Phones: phones, Guard: g, SpecYAML: specYAML})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name, path, body string
		want             int
	}{
		{"request with an invalid number", "/request", `{"number":"12345"}`, 400},
		{"request with a JSON-number number (legacy rewrite)", "/request", `{"number":1234}`, 400},
		{"check of an unknown verification", "/check", `{"request_id":"abcdef0123456789abcdef0123456789","code":"1234"}`, 400},
		{"malformed body", "/cancel", `{"request_id":`, 400},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != c.want {
					b.Fatalf("got %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
