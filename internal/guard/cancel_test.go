package guard_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// TestAClientThatLeftIsNotAStoreOutage: a store call given up because the client hung up says
// nothing about Redis. Counting it as a failure would let phones leaving coverage (or anyone who
// resets connections) fake outages, page operators and fill the 5xx figures.
func TestAClientThatLeftIsNotAStoreOutage(t *testing.T) {
	t.Parallel()
	store, err := redisstore.New(redistest.Start(t).URL(), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	logger, logs := logtest.New()
	var failures []string
	g, err := guard.New(guard.Options{
		Store: store, Logger: logger, IdempotencyTTL: time.Hour, VerificationTTL: time.Minute,
		Limits:         guard.Limits{IP: state.Limit{Count: 5, Window: time.Minute}, Number: state.Limit{Count: 3, Window: time.Minute}, Check: state.Limit{Count: 5, Window: time.Minute}},
		OnStoreFailure: func(outcome string) { failures = append(failures, outcome) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	number, err := (&phone.Parser{}).Parse("14155550100")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(ctx, number); !errors.Is(err, context.Canceled) {
		t.Errorf("Admit: %v, want context.Canceled", err)
	}
	if err := g.AllowClient(ctx, verify.OpStart, "203.0.113.7"); !errors.Is(err, context.Canceled) {
		t.Errorf("AllowClient: %v, want context.Canceled", err)
	}
	if _, err := g.BeginCheck(ctx, "abcdef0123456789abcdef0123456789"); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("BeginCheck: %v", err)
	}
	if len(failures) != 0 || strings.Contains(logs.String(), "shared state failing") {
		t.Errorf("a client that left was taken for a store failure: %v\n%s", failures, logs)
	}
}
