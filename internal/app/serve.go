package app

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// App is one running verify-proxy: its listeners are bound and its dependencies wired. Run serves
// it; Close releases what Run did not.
type App struct {
	cfg      config.Config
	version  string
	logger   *slog.Logger
	after    func(time.Duration) <-chan time.Time
	api      *http.Server
	listener net.Listener
	admin    *adminServer // nil with ADMIN_ADDR=off
	stopping atomic.Bool  // set on the first signal: /readyz fails from then on
	closers  []func()
}

// ErrSecondSignal is Run's answer when a second signal cut the shutdown short.
var ErrSecondSignal = errors.New("a second signal ended the shutdown; requests still in flight were cut off")

// Run serves the API and the admin listener until ctx is cancelled (main's signal handling cancels
// it on SIGINT or SIGTERM), then shuts down without dropping a request (see shutdown).
func (a *App) Run(ctx context.Context) error {
	a.logger.Info("verify-proxy listening", "addr", a.listener.Addr().String(), "backend", a.cfg.Verify.Backend,
		"verify_api", a.cfg.Verify.API, "version", a.version, "docs", localURL(a.cfg)+"/docs")
	served := make(chan error, 1)
	conns := limitConns(a.listener, a.cfg.HTTP.MaxConnections, a.cfg.HTTP.MaxIdleConnections)
	a.api.ConnState = conns.track
	go func() { served <- a.api.Serve(conns) }()
	adminServed := a.admin.serve()

	select {
	case err := <-served:
		a.admin.close()
		return fmt.Errorf("serve: %w", err)
	case err := <-adminServed:
		a.api.Close()
		return fmt.Errorf("serve ADMIN_ADDR: %w", err)
	case <-ctx.Done():
	}
	// From here a second SIGINT or SIGTERM ends the shutdown at once. The signals stay caught until
	// Run returns rather than handed back: that would restore what the parent set, and a process
	// started with SIGINT ignored (nohup, a script's `cmd &`) could then not be interrupted at all.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	a.stopping.Store(true)
	return a.shutdown(ctx, served, again)
}

// shutdown takes the server out of service without dropping a request. /readyz already fails, so
// load balancers stop routing here; the server keeps serving for SHUTDOWN_DELAY while they notice,
// then stops accepting and gives in-flight requests up to SHUTDOWN_TIMEOUT to finish.
func (a *App) shutdown(ctx context.Context, served <-chan error, again <-chan os.Signal) error {
	delay, timeout := a.cfg.Shutdown.Delay, a.cfg.Shutdown.Timeout
	a.logger.Info("shutting down: /readyz answers 503; serving on for SHUTDOWN_DELAY",
		"shutdown_delay", delay.String(), "shutdown_timeout", timeout.String())
	// Answers now say "Connection: close", so clients and proxies holding a pooled connection to
	// this server open their next one elsewhere.
	a.api.SetKeepAlivesEnabled(false)
	if delay > 0 {
		select {
		case <-a.after(delay):
		case err := <-served:
			a.admin.close()
			return fmt.Errorf("serve: %w", err)
		case <-again:
			a.api.Close()
			a.admin.close()
			return ErrSecondSignal
		}
	}
	a.logger.Info("no longer accepting connections; draining in-flight requests", "shutdown_timeout", timeout.String())
	// A fresh deadline: ctx is already cancelled and would abort the drain at once.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
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
	if err := a.api.Shutdown(drainCtx); err != nil {
		a.api.Close() // cut what is left rather than leave it running past the deadline
		a.admin.close()
		select {
		case <-forced:
			return ErrSecondSignal
		default:
		}
		return fmt.Errorf("shutdown: requests still in flight after SHUTDOWN_TIMEOUT %s were cut off: %w", timeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.admin.close()
		return fmt.Errorf("serve: %w", err)
	}
	// The admin listener goes last, so the drain itself can be watched in the metrics.
	if err := a.admin.shutdown(drainCtx); err != nil {
		return fmt.Errorf("shutdown ADMIN_ADDR: %w", err)
	}
	a.logger.Info("stopped")
	return nil
}

// Close releases what is still held: listeners Run never served or left open, and the shared
// state's connections. It is safe after Run and after a New that failed half-way.
func (a *App) Close() {
	if a.api != nil {
		_ = a.api.Close()
	}
	if a.listener != nil {
		_ = a.listener.Close() // Serve closes it too; a second close only errs
	}
	a.admin.close()
	for _, c := range a.closers {
		c()
	}
}

// listen binds the API's address: LISTEN_HOST (every interface when unset) and PORT.
func listen(h config.HTTP) (net.Listener, error) {
	return bind("PORT "+strconv.Itoa(h.Port), net.JoinHostPort(h.ListenHost, strconv.Itoa(h.Port)))
}

// bind listens on addr for TCP; setting names the variable that chose it, for the error.
func bind(setting, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", setting, err)
	}
	return ln, nil
}

// localURL is where a program on this machine reaches the server: LISTEN_HOST when the server
// listens there only, the loopback address when it listens on every interface.
func localURL(cfg config.Config) string {
	host := "127.0.0.1"
	if ip := net.ParseIP(cfg.HTTP.ListenHost); ip != nil && !ip.IsUnspecified() {
		host = cfg.HTTP.ListenHost
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.HTTP.Port))
}

// connLimit holds the API's open connections to MAX_CONNECTIONS, and those idle between requests
// to MAX_IDLE_CONNECTIONS, whatever the clients do. Each held connection costs a goroutine, whose
// stack grew while it served its request and shrinks only at the garbage collections that follow,
// and net/http's 8 KB of buffers, and the collector lets the heap grow to twice what is held: about
// 40 KB of resident memory per idle connection when thousands of clients arrive at once. Without
// these bounds 15,000 idle keep-alive connections held over 300 MB for the whole IdleTimeout; at
// 4096 idle, 200 MB; at 1024, under 100 MB.
//
// A connection that goes idle when MAX_IDLE_CONNECTIONS already are closes the one idle longest: the
// one its client is least likely to reuse (Go's pool, like most, hands out the connection used
// last), and a client that does reuse it retries on a new one, as after IdleTimeout. A connection
// that arrives when all are open closes the one idle longest, so that a new client is answered at
// once while others hold the slots; when none is idle, Accept waits until one is, or closes, and new
// clients wait in the kernel's queue meanwhile. It wraps the listener (Accept) and is the server's
// ConnState hook (what each connection is doing).
//
// Only a connection idle between requests, with no byte of its next one read, makes room. One not yet
// through its first request never does, even one silent so far: net/http reports it new until it has
// read a whole request, and a burst of clients fills every slot with connections whose request sits
// in the kernel's buffer, unread; a client whose request is slow to leave (a busy machine, a lost
// packet resent a second later) finds its connection closed as it sends. ReadHeaderTimeout closes
// those that stay silent, or send their headers slowly, and Accept takes the slot then.
//
// Idle longest means whose last request began first: net/http reports a connection idle a moment
// after its answer is written, and that moment can come after another connection's whole request
// when goroutines wait for a CPU, but a request always begins before its answer is read.
type connLimit struct {
	net.Listener
	max, maxIdle int

	mu      sync.Mutex
	conns   map[net.Conn]*tracked // every open connection
	idle    *list.List            // idle between requests: *tracked, idle longest first
	ticks   uint64                // counts requests, to order connections by their last
	peak    int                   // the most connections open at once (tests read it)
	changed chan struct{}         // told when a connection goes idle or closes
	done    chan struct{}         // closed by Close
	once    sync.Once
	onWait  func() // tests learn here that Accept waits for room
}

// tracked is an open connection.
type tracked struct {
	conn  *heardConn
	since uint64        // connLimit.ticks at the start of its last request
	place *list.Element // its element in idle, or nil while it is not idle
}

// heardConn is a connection as connLimit hands it to the server: it notes whether a byte has come
// since the connection went idle, that is whether its client has begun its next request.
type heardConn struct {
	net.Conn
	heard atomic.Bool // set as bytes come, by the server's goroutine; reset when the connection goes idle
}

func (c *heardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.heard.Load() {
		c.heard.Store(true)
	}
	return n, err
}

// CloseWrite lets net/http half-close after an error answer, as on the bare TCP connection, so that
// its client reads the answer rather than a reset.
func (c *heardConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func limitConns(ln net.Listener, most, mostIdle int) *connLimit {
	return &connLimit{Listener: ln, max: most, maxIdle: min(mostIdle, most), conns: map[net.Conn]*tracked{},
		idle: list.New(), changed: make(chan struct{}, 1), done: make(chan struct{})}
}

// Accept accepts a connection, then makes room for it: it closes the connection idle longest when
// all are open, or waits until one is idle or closes.
func (l *connLimit) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &heardConn{Conn: raw}
	for {
		l.mu.Lock()
		if len(l.conns) < l.max {
			l.conns[c] = &tracked{conn: c}
			l.peak = max(l.peak, len(l.conns))
			l.mu.Unlock()
			return c, nil
		}
		if idle := l.idlest(); idle != nil {
			l.forget(idle)
			l.mu.Unlock()
			// Its goroutine sees the close and ends; a client that was about to reuse it retries on a
			// new connection, as it would after IdleTimeout.
			_ = idle.conn.Close()
			continue
		}
		l.mu.Unlock()
		if l.onWait != nil {
			l.onWait()
		}
		select {
		case <-l.changed:
		case <-l.done:
			_ = c.Close()
			return nil, net.ErrClosed
		}
	}
}

// idlest answers the connection idle longest of which no byte of a next request has been read, or
// nil; l.mu is held. One whose next request has begun is about to be active: closing it would lose
// that request.
func (l *connLimit) idlest() *tracked {
	for e := l.idle.Front(); e != nil; e = e.Next() {
		if t := e.Value.(*tracked); !t.conn.heard.Load() {
			return t
		}
	}
	return nil
}

// settle puts t in idle, behind those idle since before it; l.mu is held. It is nearly always the
// last: only a connection reported idle late goes further forward.
func (l *connLimit) settle(t *tracked) {
	for e := l.idle.Back(); e != nil; e = e.Prev() {
		if e.Value.(*tracked).since < t.since {
			t.place = l.idle.InsertAfter(t, e)
			return
		}
	}
	t.place = l.idle.PushFront(t)
}

// unsettle takes t out of idle, if it is there; l.mu is held.
func (l *connLimit) unsettle(t *tracked) {
	if t.place != nil {
		l.idle.Remove(t.place)
		t.place = nil
	}
}

// forget takes t off the books, to be closed; l.mu is held.
func (l *connLimit) forget(t *tracked) {
	l.unsettle(t)
	delete(l.conns, t.conn)
}

// track is the server's ConnState hook: it follows each connection between active and idle, and
// forgets it when it closes. A connection going idle past MAX_IDLE_CONNECTIONS closes the one idle
// longest; this one's answer has been written by then, so its client is not kept waiting.
func (l *connLimit) track(c net.Conn, state http.ConnState) {
	var surplus *tracked
	defer func() {
		if surplus != nil {
			_ = surplus.conn.Close()
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	t, open := l.conns[c]
	if !open {
		return // closed here to make room, or never counted
	}
	switch state {
	case http.StateNew:
		return // counted since Accept
	case http.StateActive:
		l.unsettle(t)
		l.ticks++
		t.since = l.ticks
		return
	case http.StateIdle:
		t.conn.heard.Store(false) // its goroutine reads next, after this hook
		l.unsettle(t)
		l.settle(t)
		if l.idle.Len() > l.maxIdle {
			if surplus = l.idlest(); surplus != nil {
				l.forget(surplus)
			}
		}
	case http.StateClosed, http.StateHijacked:
		l.forget(t)
	}
	select {
	case l.changed <- struct{}{}:
	default: // Accept has been told already
	}
}

// Close stops Accept, including one waiting for room.
func (l *connLimit) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// open answers how many connections are open, and the most that ever were at once.
func (l *connLimit) open() (now, peak int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns), l.peak
}
