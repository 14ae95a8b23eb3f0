package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
)

// adminServer serves /metrics on ADMIN_ADDR, apart from the API port so that metrics are public only
// when an operator says so. A nil *adminServer is the disabled one (ADMIN_ADDR=off): its methods do
// nothing.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

func newAdmin(addr string, m *metrics.Metrics, logger *slog.Logger) (*adminServer, error) {
	if addr == config.AdminOff {
		logger.Info("ADMIN_ADDR=off: no metrics are served")
		return nil, nil
	}
	ln, err := bind("ADMIN_ADDR "+addr, addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("admin listening", "addr", ln.Addr().String(), "metrics", "http://"+ln.Addr().String()+"/metrics")
	return &adminServer{srv: srv, ln: ln}, nil
}

// serve starts serving; the channel gets an error only if serving fails, never on shutdown.
func (a *adminServer) serve() <-chan error {
	failed := make(chan error, 1)
	if a == nil {
		return failed
	}
	go func() {
		if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- err
		}
	}()
	return failed
}

// shutdown lets a scrape in progress finish within ctx.
func (a *adminServer) shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	return a.srv.Shutdown(ctx)
}

// close stops at once, for when the program is failing anyway.
func (a *adminServer) close() {
	if a != nil {
		_ = a.srv.Close()
	}
}
