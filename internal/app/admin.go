package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/metrics"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// adminServer serves /metrics and the fraud guard's blocks on ADMIN_ADDR, apart from the API port
// so that they are reachable only when an operator says so. A nil *adminServer is the disabled one (ADMIN_ADDR=off): its methods do
// nothing.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

func newAdmin(addr string, m *metrics.Metrics, g *guard.Guard, logger *slog.Logger) (*adminServer, error) {
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
	blocks := fraudBlocks{guard: g, logger: logger}
	mux.HandleFunc("GET /fraud/blocks", blocks.list)
	mux.HandleFunc("DELETE /fraud/blocks/{scope}/{key}", blocks.lift)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("admin listening", "addr", ln.Addr().String(), "metrics", "http://"+ln.Addr().String()+"/metrics",
		"fraud_blocks", "http://"+ln.Addr().String()+"/fraud/blocks")
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

// fraudBlocks lets an operator see the fraud guard's blocks and lift one.
type fraudBlocks struct {
	guard  *guard.Guard
	logger *slog.Logger
}

// blockList is the answer to GET /fraud/blocks.
type blockList struct {
	Blocks []state.Block `json:"blocks"`
}

func (f fraudBlocks) list(w http.ResponseWriter, r *http.Request) {
	blocks, err := f.guard.FraudBlocks(r.Context())
	if err != nil {
		f.logger.ErrorContext(r.Context(), "list fraud blocks", "err", err)
		adminError(w, http.StatusServiceUnavailable, "unavailable", "the shared state cannot be read right now")
		return
	}
	slices.SortFunc(blocks, func(a, b state.Block) int { return a.Since.Compare(b.Since) })
	writeJSON(w, http.StatusOK, blockList{Blocks: append([]state.Block{}, blocks...)})
}

func (f fraudBlocks) lift(w http.ResponseWriter, r *http.Request) {
	scope, key := r.PathValue("scope"), r.PathValue("key")
	if scope != guard.ScopePrefix && scope != guard.ScopeCountry {
		adminError(w, http.StatusNotFound, "unknown_route", "the scope is prefix or country")
		return
	}
	lifted, err := f.guard.LiftFraudBlock(r.Context(), scope, key)
	switch {
	case err != nil:
		f.logger.ErrorContext(r.Context(), "lift fraud block", "err", err)
		adminError(w, http.StatusServiceUnavailable, "unavailable", "the shared state cannot be written right now")
	case !lifted:
		adminError(w, http.StatusNotFound, "not_found", "no block of this "+scope+" is running")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// adminError answers in the API's ErrorBody shape, so that one client reads both listeners.
func adminError(w http.ResponseWriter, status int, code, text string) {
	writeJSON(w, status, map[string]string{"error": code, "error_text": text})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
