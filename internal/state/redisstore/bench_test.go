package redisstore_test

import (
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/state/storetest"
)

// BenchmarkTake is one limiter round trip to a local Redis.
func BenchmarkTake(b *testing.B) {
	s, err := redisstore.New(redistest.Start(b).URL(), redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchTake(b, s)
}
