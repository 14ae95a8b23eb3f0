// Package app owns the verify-proxy process: reading the configuration, wiring every dependency
// (backend, shared state, guard, metrics, HTTP server) in one place, serving the API and the admin
// listener, the graceful shutdown, and the commands an image without a shell needs (healthcheck,
// version). main hands it the build's version and the contract it embeds; tests start it as main does.
package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// Program is the verify-proxy binary as main hands it over.
type Program struct {
	Version  string // the build's version, stamped by scripts/build.sh
	SpecYAML []byte // openapi.yaml as written, served at /openapi.yaml
	// After waits out SHUTDOWN_DELAY; nil means time.After. Tests end the delay when they choose.
	After func(time.Duration) <-chan time.Time
}

// Run is the whole program, its inputs passed in so that tests start it as a user would. Without
// arguments it serves until ctx is cancelled or SIGINT or SIGTERM arrives, then shuts down without
// dropping a request (see App.Run). With arguments it runs that command (see command).
func (p Program) Run(ctx context.Context, args []string, lookupEnv config.LookupFunc, stdout io.Writer) error {
	if len(args) > 0 {
		return p.command(ctx, args, lookupEnv, stdout)
	}
	// Caught from the start, so that a signal while Redis is first asked ends the start-up cleanly.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := loadConfig(lookupEnv)
	if err != nil {
		return err
	}
	a, err := New(ctx, cfg, p, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
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
