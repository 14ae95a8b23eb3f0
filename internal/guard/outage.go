package guard

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outage logs an unreachable store once when the failures begin and once when it answers again,
// whatever the number of requests in between: a Redis restart under load must not flood the log.
type outage struct {
	logger   *slog.Logger
	now      func() time.Time
	failOpen bool

	down     atomic.Bool // read on every call; the mutex is taken only around a change
	mu       sync.Mutex
	since    time.Time
	failures int
}

// failed records one failed store call.
func (o *outage) failed(ctx context.Context, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	if o.down.Load() {
		return
	}
	o.down.Store(true)
	o.since = o.now()
	effect := "POST /request is refused with 503 until it answers (fail closed); /check and /cancel go on"
	if o.failOpen {
		effect = "requests go on without limits or idempotency until it answers (REDIS_FAIL_OPEN=true)"
	}
	o.logger.ErrorContext(ctx, "shared state unreachable: "+effect, "err", err)
}

// ok records one successful store call.
func (o *outage) ok(ctx context.Context) {
	if !o.down.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down.Load() {
		return
	}
	o.down.Store(false)
	o.logger.WarnContext(ctx, "shared state reachable again",
		"failed_calls", o.failures, "outage", o.now().Sub(o.since).Round(time.Millisecond).String())
	o.failures = 0
}
