package server_test

import (
	"log/slog"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
)

// TestMain quiets go-redis once, before any test runs. go-redis has one process-wide logger; setting
// it from each test that connects would race with the tests already running in parallel, whose
// failed dials read it. It logs every failed dial to stderr; the outage tests read the guard's own
// log instead.
func TestMain(m *testing.M) {
	redisstore.LogLibraryTo(slog.New(slog.DiscardHandler))
	m.Run()
}
