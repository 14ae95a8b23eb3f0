package guard

import (
	"context"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state"
)

// Sessions returns the store's test-number sessions behind the guard's outage handling: a store
// failure is logged once per burst and comes back as KindUnavailable, whatever the call, because a
// test-number session cannot be served without its state.
func (g *Guard) Sessions() state.Sessions { return guardedSessions{g} }

type guardedSessions struct{ g *Guard }

func (s guardedSessions) StartSession(ctx context.Context, id, code string, ttl time.Duration) error {
	return s.g.settle(ctx, s.g.store.StartSession(ctx, id, code, ttl))
}

func (s guardedSessions) CheckSession(ctx context.Context, id, code string, maxWrong int) (state.CodeResult, error) {
	res, err := s.g.store.CheckSession(ctx, id, code, maxWrong)
	return res, s.g.settle(ctx, err)
}

func (s guardedSessions) EndSession(ctx context.Context, id string) (bool, error) {
	ended, err := s.g.store.EndSession(ctx, id)
	return ended, s.g.settle(ctx, err)
}

// settle records the outcome of a store call that cannot go on without the store.
func (g *Guard) settle(ctx context.Context, err error) error {
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the client left; the store is fine
		}
		g.failure(ctx, err, StoreFailureRefused)
		return unavailable(err)
	}
	g.outage.ok(ctx)
	return nil
}
