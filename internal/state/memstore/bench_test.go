package memstore_test

import (
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/guard/memstore"
	"github.com/verify-proxy/verify-proxy/internal/guard/storetest"
)

func BenchmarkTake(b *testing.B) { storetest.BenchTake(b, memstore.New(nil)) }
