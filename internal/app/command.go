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

// usage is what `verify-proxy help` prints: enough for someone who has only the binary to start it,
// call it, and find the rest.
const usage = `verify-proxy: lets mobile apps verify phone numbers with Vonage Verify without holding its API secret.

Usage:
  verify-proxy [command]

Commands:
  serve        serve the API (the default, when no command is given)
  healthcheck  exit 0 when the server on this machine's PORT answers /healthz, 1 otherwise
  version      print the build's version (also -v, --version)
  help         print this help (also -h, --help)

The API:
  POST /request  start a verification: a code goes to the number; answers a request_id
  POST /check    check the code the user typed, for that request_id
  POST /cancel   cancel a verification that is still running

Swagger UI: /docs on the running server (http://localhost:8080/docs with the default PORT).

Configuration: environment variables, or a .env file in the working directory. Every variable,
its default and allowed values: docs/configuration.md, and .env.example (copy it to .env).
To try it without a Vonage account: VERIFY_BACKEND=sandbox verify-proxy
`

// command runs `verify-proxy NAME`: what an image without a shell or curl needs, and help.
//
//	serve        the server, as without a command
//	healthcheck  exit 0 when the server on PORT answers 200 on /healthz, 1 otherwise
//	version      print the build's version (also -v and --version)
//	help         print usage (also -h and --help)
func (p Program) command(ctx context.Context, args []string, lookupEnv config.LookupFunc, stdout io.Writer) error {
	name := args[0]
	switch name {
	case "-help", "-h", "--help":
		name = "help"
	case "-version", "--version", "-v":
		name = "version"
	}
	switch name {
	case "serve", "help", "healthcheck", "version":
		// A word more is a mistake (a flag this binary does not have, a typo): it is said, not
		// ignored, since a probe or a script would otherwise pass for the wrong reason.
		if len(args) > 1 {
			return fmt.Errorf("%s takes no arguments, got %q; see verify-proxy help", name, args[1:])
		}
	}
	switch name {
	case "serve":
		return p.Run(ctx, nil, lookupEnv, stdout)
	case "help":
		_, err := io.WriteString(stdout, usage)
		return err
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
	return fmt.Errorf("unknown command %q: the commands are serve (the default), healthcheck, version and help; "+
		"run verify-proxy help", args[0])
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
