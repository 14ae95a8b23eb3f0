package app

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/logging"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/server"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/token"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/verify/sandbox"
	"github.com/verify-proxy/verify-proxy/internal/verify/testnumbers"
	"github.com/verify-proxy/verify-proxy/internal/vonage"
)

// New wires every dependency from cfg, in one place, and binds the API and admin listeners, so that
// a port in use is an error here rather than in Run.
func New(ctx context.Context, cfg config.Config, p Program, stdout io.Writer) (_ *App, err error) {
	logger, err := logging.New(stdout, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return nil, fmt.Errorf("LOG_FORMAT or LOG_LEVEL: %w", err)
	}
	a := &App{cfg: cfg, version: p.Version, logger: logger, after: p.After}
	if a.after == nil {
		a.after = time.After
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	meter := metrics.New(p.Version)

	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	backend, silent, err := newProvider(cfg, logger)
	if err != nil {
		return nil, err
	}
	phones, err := phone.NewParser(cfg.Verify.DefaultCountry)
	if err != nil {
		return nil, fmt.Errorf("DEFAULT_COUNTRY: %w", err)
	}
	store, fallback, err := a.newStore(ctx)
	if err != nil {
		return nil, err
	}
	tokens, err := newTokens(cfg, logger)
	if err != nil {
		return nil, err
	}
	tests := testnumbers.Numbers(cfg.Verify.TestNumbers)
	g, err := guard.New(guard.Options{
		Store:    store,
		Fallback: fallback,
		Logger:   logger,
		Limits: guard.Limits{
			IP: cfg.Protection.RateLimitIP, Number: cfg.Protection.RateLimitNumber, Check: cfg.Protection.RateLimitCheck,
			Country: cfg.Protection.RateLimitCountry, Global: cfg.Protection.RateLimitGlobal,
			WrongCodes: cfg.Protection.RateLimitWrongCodes, Prefix: cfg.Protection.RateLimitPrefix,
		},
		Fraud: cfg.FraudOptions(meter),
		Destinations: guard.Destinations{
			AllowedCountries: cfg.Protection.AllowedCountries, BlockedCountries: cfg.Protection.BlockedCountries,
			AllowedTypes: cfg.Protection.AllowedNumberTypes,
		},
		IdempotencyTTL: cfg.Protection.IdempotencyTTL,
		// A first request stays "in flight" at most as long as its upstream call can take.
		IdempotencyLease: cfg.Vonage.UpstreamTimeout + 30*time.Second,
		FailOpen:         cfg.Redis.FailOpen,
		OnStoreFailure:   meter.StoreFailed,
		// A verification is remembered as long as its code can be checked.
		VerificationTTL: cfg.CodeLifetime(),
		Disclosure:      cfg.Protection.ConcurrentRequestID,
	})
	if err != nil {
		return nil, err
	}
	if len(tests) > 0 {
		logger.Warn("TEST_NUMBERS: these numbers verify with their fixed codes and are never sent to the backend",
			"count", len(tests))
	}
	// The meter wraps the real backend only: test numbers are neither upstream calls nor real
	// verifications, and would skew the funnel.
	provider := testnumbers.New(meter.Instrument(backend), tests, g.Sessions(), cfg.CodeLifetime(), logger)

	handler, err := server.New(server.Deps{
		Logger: logger, Provider: provider, Phones: phones, Tests: tests, Guard: g, Tokens: tokens, SpecYAML: p.SpecYAML,
		TrustedProxies: cfg.HTTP.TrustedProxies, ClientIPHeader: cfg.HTTP.ClientIPHeader,
		Metrics: meter, Ready: a.readiness(store), SilentAuth: silent,
	})
	if err != nil {
		return nil, err
	}
	a.api = &http.Server{
		Handler: handler,
		// Slow clients cannot hold connections: headers and bodies (16 KiB at most) arrive quickly or
		// not at all; writes wait for the upstream call at most.
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      cfg.Vonage.UpstreamTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if a.listener, err = listen(cfg.HTTP); err != nil {
		return nil, err
	}
	a.admin, err = newAdmin(cfg.Admin.Addr, meter, g, logger)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// readiness are the checks /readyz runs: not shutting down, and the shared state taking writes.
func (a *App) readiness(store state.Store) []server.Check {
	checks := []server.Check{
		{Name: "shutdown", Run: func(context.Context) error {
			if a.stopping.Load() {
				return errors.New("the server is shutting down")
			}
			return nil
		}},
	}
	// Redis is one dependency every replica shares: unless READY_REQUIRES_REDIS, its outage shows
	// in the body, the log and the metrics, but does not take every replica out of rotation at
	// once (/check and /cancel work without it; the guard decides about /request).
	if pinger, ok := store.(interface{ Ping(context.Context) error }); ok {
		checks = append(checks, server.Check{Name: "redis", Run: pinger.Ping, Store: true,
			Advisory: !a.cfg.Redis.ReadyRequiresRedis})
	}
	return checks
}

// newProvider builds the backend named by VERIFY_BACKEND, and, for the sandbox standing in for a
// workflow that begins with silent authentication, what serves its check_url.
func newProvider(cfg config.Config, logger *slog.Logger) (verify.Provider, verify.SilentAuthenticator, error) {
	switch cfg.Verify.Backend {
	case config.BackendSandbox:
		logger.Warn("VERIFY_BACKEND=sandbox: no SMS is sent; codes are written to this log")
		opts := sandbox.Options{
			CodeLength: cfg.Verify.CodeLength,
			PinExpiry:  cfg.CodeLifetime(),
			V2:         cfg.Verify.API == config.APIv2,
		}
		if opts.V2 && cfg.VonageV2.SilentAuth() {
			opts.CheckPath, opts.RedirectURL, opts.SilentFor = server.SilentAuthPath, cfg.VonageV2.SilentAuthRedirectURL, config.SilentAuthStep
			logger.Info("sandbox silent authentication: each start answers a check_url on this server that yields its code",
				"path", server.SilentAuthPath+"{request_id}")
		}
		p := sandbox.New(opts, logger)
		if opts.CheckPath == "" {
			return p, nil, nil
		}
		return p, p, nil
	case config.BackendVonage:
		p, err := vonage.New(cfg, logger)
		return p, nil, err
	}
	return nil, nil, fmt.Errorf("unknown VERIFY_BACKEND %q", cfg.Verify.Backend)
}

// newStore keeps the guard's state in Redis when REDIS_URL is set (every replica then shares one
// budget), else in this process. With Redis, the fallback is this process's memory, where the limits
// are counted while Redis fails.
func (a *App) newStore(ctx context.Context) (state.Store, guard.Fallback, error) {
	cfg, logger := a.cfg, a.logger
	if cfg.Redis.URL == "" {
		logger.Info("rate limits, idempotency keys and test sessions are kept in memory; set REDIS_URL when running several replicas")
		return memstore.New(nil, memstore.MaxKeys(cfg.Memory.MaxKeys)), nil, nil
	}
	redisstore.LogLibraryTo(logger)
	store, err := redisstore.New(cfg.Redis.URL, redisstore.Options{
		Mode: redisstore.Mode(cfg.Redis.Topology), SentinelMaster: cfg.Redis.SentinelMaster,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	a.closers = append(a.closers, func() {
		if err := store.Close(); err != nil {
			logger.Warn("close redis", "err", err)
		}
	})
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// A replica starts even while Redis restarts: the guard refuses starts until it answers. A
	// rediss:// URL to a Redis without TLS is a mistake, not an outage, and would only ever time out;
	// so are a password or a database Redis refuses, which would fail every request.
	if err := store.Ping(pingCtx); err != nil {
		if mistake := store.Refused(err); mistake != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", mistake)
		}
		if addr, found := store.NotTLS(ctx); found {
			return nil, nil, fmt.Errorf("REDIS_URL is rediss:// (TLS) but %s does not speak TLS: use redis://, or turn TLS on in Redis", addr)
		}
		effect := "POST /request is refused until it does"
		if cfg.Redis.FailOpen {
			effect = "requests go on without idempotency, their limits counted in this replica's memory, until it does (REDIS_FAIL_OPEN=true)"
		}
		logger.Warn("redis does not answer yet; "+effect, "err", err, "mode", cfg.Redis.Topology,
			"fail_open", cfg.Redis.FailOpen, "ready_requires_redis", cfg.Redis.ReadyRequiresRedis)
	} else {
		logger.Info("rate limits, idempotency keys and test sessions are kept in redis", "mode", cfg.Redis.Topology,
			"fail_open", cfg.Redis.FailOpen, "ready_requires_redis", cfg.Redis.ReadyRequiresRedis)
	}
	return store, memstore.New(nil, memstore.MaxKeys(cfg.Memory.MaxKeys)), nil
}

// newTokens loads the key that signs verification tokens, and the retired ones still published.
// Without a key, the sandbox makes one for this run, so that `make run` shows the whole flow; the
// Vonage backends issue no token. Errors name the variable, never the key.
func newTokens(cfg config.Config, logger *slog.Logger) (*token.Issuer, error) {
	var current crypto.Signer
	var err error
	switch {
	case cfg.Token.Key != "":
		if current, err = token.ParsePrivateKey([]byte(cfg.Token.Key)); err != nil {
			return nil, fmt.Errorf("VERIFICATION_TOKEN_KEY: %w", err)
		}
	case cfg.Token.KeyPath != "":
		if current, err = readKey(cfg.Token.KeyPath, token.ParsePrivateKey); err != nil {
			return nil, fmt.Errorf("VERIFICATION_TOKEN_KEY_PATH: %w", err)
		}
	case cfg.Verify.Backend == config.BackendSandbox:
		if current, err = token.Generate(); err != nil {
			return nil, err
		}
		logger.Warn("VERIFICATION_TOKEN_KEY is not set: verification tokens are signed with an ephemeral P-256 key made " +
			"for this run (sandbox only); tokens stop verifying when the server restarts")
	default:
		logger.Warn("VERIFICATION_TOKEN_KEY is not set: a successful /check carries no verification_token")
	}
	var previous []crypto.PublicKey
	if cfg.Token.PreviousKeysPath != "" {
		if previous, err = readKey(cfg.Token.PreviousKeysPath, token.ParsePublicKeys); err != nil {
			return nil, fmt.Errorf("VERIFICATION_TOKEN_PREVIOUS_KEYS_PATH: %w", err)
		}
	}
	tokens, err := token.New(current, previous, token.Options{
		Issuer: cfg.Token.Issuer, Audience: cfg.Token.Audience, TTL: cfg.Token.TTL,
	})
	if err != nil {
		return nil, fmt.Errorf("verification tokens: %w", err)
	}
	if tokens.Signs() {
		logger.Info("verification tokens are signed", "alg", tokens.Algorithm(), "kid", tokens.KeyID(),
			"issuer", cfg.Token.Issuer, "previous_keys", len(previous))
	}
	return tokens, nil
}

// readKey reads the PEM file at path with parse.
func readKey[K any](path string, parse func([]byte) (K, error)) (K, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var none K
		return none, err
	}
	return parse(b)
}
