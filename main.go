// Command verify-proxy is the server a mobile app talks to instead of carrying a Vonage API key and
// secret: it starts, checks and cancels phone-number verifications through the Vonage Verify API,
// or through an embedded sandbox with no Vonage account.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/guard/memstore"
	"github.com/verify-proxy/verify-proxy/internal/guard/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/server"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/verify/sandbox"
	"github.com/verify-proxy/verify-proxy/internal/verify/testnumbers"
	"github.com/verify-proxy/verify-proxy/internal/verify/vonage"
)

// specYAML is the contract as written, served at /openapi.yaml; api/ embeds the same file for validation.
//
//go:embed openapi.yaml
var specYAML []byte

func main() {
	if err := run(context.Background(), os.Args, os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "verify-proxy:", err)
		os.Exit(1)
	}
}

// shutdownTimeout bounds how long in-flight requests may take to drain after SIGINT or SIGTERM.
const shutdownTimeout = 15 * time.Second

// run is the whole program, with its inputs passed in so tests can start it like a user would.
// It returns when ctx is cancelled or a signal arrives, after in-flight requests have drained.
func run(ctx context.Context, _ []string, lookupEnv config.LookupFunc, stdout, _ io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	lookup, err := config.WithDotEnv(lookupEnv, ".env")
	if err != nil {
		return err
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil))

	provider, err := newProvider(cfg, logger)
	if err != nil {
		return err
	}
	phones, err := phone.NewParser(cfg.DefaultCountry)
	if err != nil {
		return fmt.Errorf("DEFAULT_COUNTRY: %w", err)
	}
	store, closeStore, err := newStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeStore()
	tests := testnumbers.Numbers(cfg.TestNumbers)
	g, err := guard.New(guard.Options{
		Store:  store,
		Phones: phones,
		Logger: logger,
		Limits: guard.Limits{
			IP: cfg.RateLimitIP, Number: cfg.RateLimitNumber, Check: cfg.RateLimitCheck,
			Country: cfg.RateLimitCountry, Global: cfg.RateLimitGlobal,
		},
		Destinations: guard.Destinations{
			AllowedCountries: cfg.AllowedCountries, BlockedCountries: cfg.BlockedCountries,
			AllowedTypes: cfg.AllowedNumberTypes,
		},
		IsTestNumber:   tests.Has,
		IdempotencyTTL: cfg.IdempotencyTTL,
		// A first request stays "in flight" at most as long as its upstream call can take.
		IdempotencyLease: cfg.UpstreamTimeout + 30*time.Second,
		FailOpen:         cfg.RedisFailOpen,
	})
	if err != nil {
		return err
	}
	if len(tests) > 0 {
		logger.Warn("TEST_NUMBERS: these numbers verify with their fixed codes and are never sent to the backend",
			"count", len(tests))
	}
	provider = testnumbers.New(provider, tests, g.Sessions(), cfg.PinExpiry.Duration(), logger)
	handler, err := server.New(server.Deps{
		Logger: logger, Provider: provider, Guard: g, SpecYAML: specYAML, TrustedProxies: cfg.TrustedProxies,
	})
	if err != nil {
		return err
	}

	srv := &http.Server{
		Handler: handler,
		// Slow clients cannot hold connections: headers and bodies (16 KiB at most) arrive quickly or
		// not at all; writes wait for the upstream call at most.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      cfg.UpstreamTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on PORT %d: %w", cfg.Port, err)
	}
	logger.Info("verify-proxy listening", "addr", ln.Addr().String(), "backend", cfg.Backend, "verify_api", cfg.VerifyAPI,
		"docs", fmt.Sprintf("http://localhost:%d/docs", cfg.Port))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down; draining in-flight requests", "timeout", shutdownTimeout.String())
	// A fresh deadline: ctx is already cancelled and would abort the drain at once.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// newProvider builds the backend named by VERIFY_BACKEND.
func newProvider(cfg config.Config, logger *slog.Logger) (verify.Provider, error) {
	switch cfg.Backend {
	case config.BackendSandbox:
		logger.Warn("VERIFY_BACKEND=sandbox: no SMS is sent; codes are written to this log")
		return sandbox.New(sandbox.Options{
			CodeLength: cfg.CodeLength,
			PinExpiry:  sandboxPinExpiry(cfg),
		}, logger), nil
	case config.BackendVonage:
		if cfg.VerifyAPI == config.APIv2 {
			return newVonageV2(cfg, logger)
		}
		client, err := vonage.New(vonage.Options{
			BaseURL:       cfg.VonageBaseURL,
			APIKey:        cfg.VonageAPIKey,
			APISecret:     cfg.VonageAPISecret,
			Brand:         cfg.Brand,
			CodeLength:    cfg.CodeLength,
			Locale:        cfg.Locale,
			WorkflowID:    cfg.WorkflowID,
			PinExpiry:     cfg.PinExpiry.Whole(),
			NextEventWait: cfg.NextEventWait.Whole(),
			SenderID:      cfg.SenderID,
			Timeout:       cfg.UpstreamTimeout,
		}, vonage.NewHTTPClient(cfg.UpstreamTimeout), logger)
		if err != nil {
			return nil, fmt.Errorf("vonage backend: %w", err)
		}
		return client, nil
	}
	return nil, fmt.Errorf("unknown VERIFY_BACKEND %q", cfg.Backend)
}

// newStore keeps the guard's state in Redis when REDIS_URL is set (every replica then shares one
// budget), else in this process.
func newStore(ctx context.Context, cfg config.Config, logger *slog.Logger) (guard.Store, func(), error) {
	if cfg.RedisURL == "" {
		logger.Info("rate limits, idempotency keys and test sessions are kept in memory; set REDIS_URL when running several replicas")
		return memstore.New(nil), func() {}, nil
	}
	redisstore.LogLibraryTo(logger)
	store, err := redisstore.New(cfg.RedisURL, redisstore.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	closeStore := func() {
		if err := store.Close(); err != nil {
			logger.Warn("close redis", "err", err)
		}
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// A replica starts even while Redis restarts: the guard refuses starts until it answers.
	if err := store.Ping(pingCtx); err != nil {
		logger.Warn("redis does not answer yet; POST /request is refused until it does", "err", err,
			"fail_open", cfg.RedisFailOpen)
	} else {
		logger.Info("rate limits, idempotency keys and test sessions are kept in redis", "fail_open", cfg.RedisFailOpen)
	}
	return store, closeStore, nil
}
