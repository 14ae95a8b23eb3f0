package guard_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// TestAFullStoreRefusesStartsAndLetsChecksGoOn: once the store in memory holds as many windows that
// guard spend as its ceiling allows, a start is refused as unavailable (even failing open: nothing
// else would count it), while clients' and checks' windows, which guard no spend, still come and go.
func TestAFullStoreRefusesStartsAndLetsChecksGoOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New()
	store := memstore.New(clock.Now, memstore.MaxKeys(1000))
	logger, logs := logtest.New()
	var failures []string
	g, err := guard.New(guard.Options{
		Store: store, Logger: logger, Now: clock.Now, IdempotencyTTL: time.Hour, VerificationTTL: time.Hour,
		Limits: guard.Limits{IP: state.Limit{Count: 100, Window: time.Minute}, Number: state.Limit{Count: 1, Window: time.Hour},
			Check: state.Limit{Count: 5, Window: time.Minute}, WrongCodes: state.Limit{Count: 10, Window: time.Hour}},
		FailOpen:       true,
		OnStoreFailure: func(outcome string) { failures = append(failures, outcome) },
	})
	if err != nil {
		t.Fatal(err)
	}
	parser := &phone.Parser{}
	var refusal error
	for i := range 2000 {
		num, err := parser.Parse("1415555" + strconv.Itoa(1000+i))
		if err != nil {
			t.Fatal(err)
		}
		if refusal = g.AllowClient(ctx, verify.OpStart, "203.0.113."+strconv.Itoa(i%250)); refusal != nil {
			t.Fatalf("client %d: %v", i, refusal)
		}
		if _, refusal = g.Admit(ctx, num); refusal != nil {
			break
		}
	}
	if ge, ok := guard.AsError(refusal); !ok || ge.Kind != guard.KindUnavailable {
		t.Fatalf("a start into a full store: %v, want %s", refusal, guard.KindUnavailable)
	}
	// Full, not refused: that outcome is a Redis outage's, and pages as one.
	if len(failures) == 0 || failures[len(failures)-1] != guard.StoreFailureFull {
		t.Fatalf("store failures told: %v, want the last full", failures)
	}
	if !strings.Contains(logs.String(), "MEMORY_STORE_MAX_KEYS") {
		t.Fatalf("the log does not name the setting that filled:\n%s", logs)
	}
	for i := range 3000 {
		ip := "198.51.100." + strconv.Itoa(i%250)
		if err := g.AllowClient(ctx, verify.OpCheck, ip); err != nil {
			t.Fatalf("check %d from %s: %v", i, ip, err)
		}
		if _, err := g.BeginCheck(ctx, strconv.Itoa(i)); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
		if keys := store.Stats().Keys; keys > 1000 {
			t.Fatalf("%d keys held past a ceiling of 1000", keys)
		}
	}
}
