package guard

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// recoveryQuiet is how long a failing store must go without a failure before it counts as back.
// A store that fails only some calls (out of memory, a lossy link) is one outage, not a flood of
// "down" and "back" lines, one pair per request.
const recoveryQuiet = 10 * time.Second

// outage logs a failing store once when the failures begin and once when it has answered for
// recoveryQuiet without a failure, whatever the number of requests in between: a Redis restart
// under load, or a Redis that fails every other call, must not flood the log.
type outage struct {
	logger   *slog.Logger
	now      func() time.Time
	failOpen bool
	fallback bool // limits are counted in this replica's memory meanwhile

	down        atomic.Bool // read on every call; the mutex is taken only while the store fails
	mu          sync.Mutex
	since       time.Time
	lastFailure time.Time
	failures    int
}

// failed records one failed store call.
func (o *outage) failed(ctx context.Context, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	o.lastFailure = o.now()
	if o.down.Load() {
		return
	}
	o.down.Store(true)
	o.since = o.lastFailure
	if errors.Is(err, state.ErrFull) {
		o.logger.ErrorContext(ctx, "in-memory state full of what guards spend (MEMORY_STORE_MAX_KEYS): "+
			"POST /request is refused with 503 until some of it expires; /check and /cancel go on", "err", err)
		return
	}
	effect := "POST /request is refused with 503 until it answers (fail closed); /check and /cancel go on"
	if o.failOpen {
		effect = "requests go on without idempotency until it answers (REDIS_FAIL_OPEN=true)"
	}
	if o.fallback {
		effect += ", their rate limits counted in this replica's memory"
	} else {
		effect += " without rate limits"
	}
	o.logger.ErrorContext(ctx, "shared state failing: "+effect, "err", err)
}

// ok records one successful store call.
func (o *outage) ok(ctx context.Context) {
	if !o.down.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	if !o.down.Load() || now.Sub(o.lastFailure) < recoveryQuiet {
		return
	}
	o.down.Store(false)
	o.logger.WarnContext(ctx, "shared state answering again",
		"failed_calls", o.failures, "outage", o.lastFailure.Sub(o.since).Round(time.Millisecond).String())
	o.failures = 0
}
