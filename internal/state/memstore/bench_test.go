package memstore_test

import (
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
	"github.com/verify-proxy/verify-proxy/internal/state/storetest"
)

func BenchmarkTake(b *testing.B) { storetest.BenchTake(b, memstore.New(nil)) }
