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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/guard/memstore"
	"github.com/verify-proxy/verify-proxy/internal/guard/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/logging"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
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

// version is the build's version, stamped by scripts/build.sh (-ldflags "-X main.version=...").
// It is a variable only because the linker can set nothing else; nothing assigns it at run time.
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args, os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "verify-proxy:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its inputs passed in so tests can start it like a user would.
// Without arguments it serves until ctx is cancelled or SIGINT or SIGTERM arrives, then shuts down
// without dropping a request (see shutdown). With one, it runs that command (see command).
func run(ctx context.Context, args []string, lookupEnv config.LookupFunc, stdout, stderr io.Writer) error {
	return runWith(ctx, args, lookupEnv, stdout, stderr, time.After)
}

// runWith is run with the timer of SHUTDOWN_DELAY passed in, so that tests end the delay when they
// choose instead of waiting for it.
func runWith(ctx context.Context, args []string, lookupEnv config.LookupFunc, stdout, _ io.Writer,
	after func(time.Duration) <-chan time.Time) error {
	if len(args) > 1 {
		return command(ctx, args[1:], lookupEnv, stdout)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := loadConfig(lookupEnv)
	if err != nil {
		return err
	}
	logger, err := logging.New(stdout, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return fmt.Errorf("LOG_FORMAT or LOG_LEVEL: %w", err)
	}
	meter := metrics.New(version)

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
		OnStoreFailure:   meter.StoreFailed,
	})
	if err != nil {
		return err
	}
	if len(tests) > 0 {
		logger.Warn("TEST_NUMBERS: these numbers verify with their fixed codes and are never sent to the backend",
			"count", len(tests))
	}
	// The meter wraps the real backend only: test numbers are neither upstream calls nor real
	// verifications, and would skew the funnel.
	provider = testnumbers.New(meter.Instrument(provider), tests, g.Sessions(), cfg.PinExpiry.Duration(), logger)

	var stopping atomic.Bool
	ready := []server.Check{
		{Name: "shutdown", Run: func(context.Context) error {
			if stopping.Load() {
				return errors.New("the server is shutting down")
			}
			return nil
		}},
	}
	if pinger, ok := store.(interface{ Ping(context.Context) error }); ok {
		ready = append(ready, server.Check{Name: "redis", Run: pinger.Ping})
	}
	handler, err := server.New(server.Deps{
		Logger: logger, Provider: provider, Guard: g, SpecYAML: specYAML, TrustedProxies: cfg.TrustedProxies,
		ClientIPHeader: cfg.ClientIPHeader,
		Metrics:        meter, Ready: ready,
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
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.ListenHost, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on PORT %d: %w", cfg.Port, err)
	}
	admin, err := newAdmin(cfg.AdminAddr, meter, logger)
	if err != nil {
		ln.Close()
		return err
	}
	logger.Info("verify-proxy listening", "addr", ln.Addr().String(), "backend", cfg.Backend, "verify_api", cfg.VerifyAPI,
		"version", version, "docs", localURL(cfg)+"/docs")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	adminServed := admin.serve()

	select {
	case err := <-served:
		admin.close()
		return fmt.Errorf("serve: %w", err)
	case err := <-adminServed:
		srv.Close()
		return fmt.Errorf("serve ADMIN_ADDR: %w", err)
	case <-ctx.Done():
	}
	// From here a second SIGINT or SIGTERM ends the shutdown at once. The signals stay caught rather
	// than handed back by stop(): that would restore what the parent set, and a process started with
	// SIGINT ignored (nohup, a script's `cmd &`) could then not be interrupted at all.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	stop()
	stopping.Store(true)
	return shutdown(ctx, cfg, logger, srv, served, admin, after, again)
}

// errSecondSignal is run's answer when a second signal cut the shutdown short.
var errSecondSignal = errors.New("a second signal ended the shutdown; requests still in flight were cut off")

// shutdown takes the server out of service without dropping a request. /readyz already fails, so
// load balancers stop routing here; the server keeps serving for SHUTDOWN_DELAY while they notice,
// then stops accepting and gives in-flight requests up to SHUTDOWN_TIMEOUT to finish.
func shutdown(ctx context.Context, cfg config.Config, logger *slog.Logger, srv *http.Server, served <-chan error,
	admin *adminServer, after func(time.Duration) <-chan time.Time, again <-chan os.Signal) error {
	logger.Info("shutting down: /readyz answers 503; serving on for SHUTDOWN_DELAY",
		"shutdown_delay", cfg.ShutdownDelay.String(), "shutdown_timeout", cfg.ShutdownTimeout.String())
	// Answers now say "Connection: close", so clients and proxies holding a pooled connection to
	// this server open their next one elsewhere.
	srv.SetKeepAlivesEnabled(false)
	if cfg.ShutdownDelay > 0 {
		select {
		case <-after(cfg.ShutdownDelay):
		case err := <-served:
			admin.close()
			return fmt.Errorf("serve: %w", err)
		case <-again:
			srv.Close()
			admin.close()
			return errSecondSignal
		}
	}
	logger.Info("no longer accepting connections; draining in-flight requests",
		"shutdown_timeout", cfg.ShutdownTimeout.String())
	// A fresh deadline: ctx is already cancelled and would abort the drain at once.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	forced := make(chan struct{})
	go func() {
		select {
		case <-again:
			close(forced)
			cancel()
		case <-drainCtx.Done():
		}
	}()
	if err := srv.Shutdown(drainCtx); err != nil {
		srv.Close() // cut what is left rather than leave it running past the deadline
		admin.close()
		select {
		case <-forced:
			return errSecondSignal
		default:
		}
		return fmt.Errorf("shutdown: requests still in flight after SHUTDOWN_TIMEOUT %s were cut off: %w",
			cfg.ShutdownTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		admin.close()
		return fmt.Errorf("serve: %w", err)
	}
	// The admin listener goes last, so the drain itself can be watched in the metrics.
	if err := admin.shutdown(drainCtx); err != nil {
		return fmt.Errorf("shutdown ADMIN_ADDR: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// loadConfig reads the configuration from the environment and a .env file in the working directory.
func loadConfig(lookupEnv config.LookupFunc) (config.Config, error) {
	lookup, err := config.WithDotEnv(lookupEnv, ".env")
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		return config.Config{}, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

// newProvider builds the backend named by VERIFY_BACKEND.
func newProvider(cfg config.Config, logger *slog.Logger) (verify.Provider, error) {
	switch cfg.Backend {
	case config.BackendSandbox:
		logger.Warn("VERIFY_BACKEND=sandbox: no SMS is sent; codes are written to this log")
		return sandbox.New(sandbox.Options{
			CodeLength: cfg.CodeLength,
			PinExpiry:  sandboxPinExpiry(cfg),
			V2:         cfg.VerifyAPI == config.APIv2,
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
		effect := "POST /request is refused until it does"
		if cfg.RedisFailOpen {
			effect = "requests go on without limits or idempotency until it does (REDIS_FAIL_OPEN=true)"
		}
		logger.Warn("redis does not answer yet; "+effect, "err", err, "fail_open", cfg.RedisFailOpen)
	} else {
		logger.Info("rate limits, idempotency keys and test sessions are kept in redis", "fail_open", cfg.RedisFailOpen)
	}
	return store, closeStore, nil
}
