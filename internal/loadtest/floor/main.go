// Command floor is the floor the load benchmark measures verify-proxy against: a bare
// httputil.ReverseProxy that forwards every request, as it came, to one upstream. It does nothing
// verify-proxy does (no validation, limits, metrics, logs or translation), so the difference between
// the two is the price of those.
//
//	PORT=8081 UPSTREAM=http://127.0.0.1:9000 floor
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run() error {
	upstream, err := url.Parse(os.Getenv("UPSTREAM"))
	if err != nil || upstream.Host == "" {
		return fmt.Errorf("UPSTREAM must be the upstream's base URL, got %q", os.Getenv("UPSTREAM"))
	}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	// Keep as many idle connections as the load has callers, as verify-proxy's own pool does: the
	// default of 2 per host would make the floor pay for new connections and flatter the server.
	proxy.Transport = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: proxy, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
