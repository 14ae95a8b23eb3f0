package server_test

import (
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
)

// stores are the two places the guard's state can live, for tests that must hold for both. The
// in-memory store is the harness's default (nil); the Redis one is a real redis-server of its own.
func stores() map[string]func(t *testing.T) state.Store {
	return map[string]func(t *testing.T) state.Store{
		"memory": func(*testing.T) state.Store { return nil },
		"redis":  func(t *testing.T) state.Store { return redisStore(t, redistest.Start(t)) },
	}
}

// redisStore connects to srv as a replica would (windows on Redis's clock). go-redis's own log is
// quieted once, in TestMain.
func redisStore(t *testing.T, srv *redistest.Server) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(srv.URL(), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
