package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// healthcheckTimeout bounds the healthcheck command: a container runtime kills a probe that hangs,
// and a clear failure is better than a kill.
const healthcheckTimeout = 3 * time.Second

// command runs `verify-proxy NAME`: what an image without a shell or curl needs.
//
//	healthcheck  exit 0 when the server on PORT answers 200 on /healthz, 1 otherwise
//	version      print the build's version
func (p Program) command(ctx context.Context, args []string, lookupEnv config.LookupFunc, stdout io.Writer) error {
	switch args[0] {
	case "healthcheck":
		if err := healthcheck(ctx, lookupEnv); err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		_, err := fmt.Fprintln(stdout, "ok")
		return err
	case "version":
		_, err := fmt.Fprintln(stdout, p.Version)
		return err
	}
	return fmt.Errorf("unknown command %q: the commands are healthcheck and version; without one, the server starts", args[0])
}

// healthcheck asks the server on this machine's LISTEN_HOST and PORT, read as the server reads them,
// for /healthz.
func healthcheck(ctx context.Context, lookupEnv config.LookupFunc) error {
	cfg, err := loadConfig(lookupEnv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	url := localURL(cfg) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment: the server is on this machine.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %d", url, res.StatusCode)
	}
	return nil
}
