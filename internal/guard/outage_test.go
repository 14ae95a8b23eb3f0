package guard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/logtest"
)

// TestAFlappingStoreIsOneOutage: a Redis that fails every other call (out of memory, a lossy link)
// is logged as one outage, not as a pair of lines per request.
func TestAFlappingStoreIsOneOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logger, logs := logtest.New()
	clk := clocktest.New()
	o := &outage{logger: logger, now: clk.Now}
	for range 500 {
		o.failed(ctx, errors.New("OOM command not allowed when used memory > 'maxmemory'"))
		clk.Advance(10 * time.Millisecond)
		o.ok(ctx)
		clk.Advance(10 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "shared state failing"); n != 1 {
		t.Errorf("%d lines for one flapping outage, want 1", n)
	}
	if strings.Contains(logs.String(), "answering again") {
		t.Error("recovery was logged while calls still failed")
	}
	clk.Advance(recoveryQuiet)
	o.ok(ctx)
	o.ok(ctx)
	if n := strings.Count(logs.String(), `"msg":"shared state answering again","failed_calls":500`); n != 1 {
		t.Errorf("the end of the outage was logged %d times with its 500 failures, want once:\n%s", n, logs)
	}
}
