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
// Past MAX_IDLE_CONNECTIONS, the connection idle longest is closed: the one its client is least
// likely to reuse (Go's pool, like most, hands out the connection used last), and a client that does
// reuse it retries on a new one, as after IdleTimeout. A connection that arrives when all are open
// closes the one idle longest, so that a new client is answered within a moment while others hold
// the slots; when none is idle, Accept waits until one is, or closes, and new clients wait in the
// kernel's queue meanwhile. It wraps the listener (Accept) and is the server's ConnState hook (what
// each connection is doing).
//
// Only a connection whose goroutine has waited idleAtLeast in a read for the next request makes room,
// and only when no byte has come since it went idle and none waits unread in the socket. A
// connection that went idle a moment ago usually has its client's next request on the way, or
// already in the kernel's buffer or in net/http's (a pipelining client: net/http goes idle after
// each answer even when it holds the next request, and serves that one without reading); closing it
// would lose that request. One whose client sent part of its next request makes room only after
// readHeaderTimeout: net/http times headers from their fourth byte, and one byte would otherwise
// hold the slot for IdleTimeout. One not yet through its first request never makes room, even one
// silent so far: a burst of clients fills every slot with connections whose request sits in the
// kernel's buffer, unread. ReadHeaderTimeout closes those that stay silent, or send their headers
// slowly, and Accept takes the slot then. Trimming past MAX_IDLE_CONNECTIONS waits for quiet
// connections too, on a timer, so it still happens once traffic stops.
//
// Idle longest means whose last request began first: net/http reports a connection idle a moment
// after its answer is written, and that moment can come after another connection's whole request
// when goroutines wait for a CPU, but a request always begins before its answer is read.
type connLimit struct {
	net.Listener
	max, maxIdle int
	epoch        time.Time // the clock of tracked.idleAt: monotonic, in nanoseconds since

	mu      sync.Mutex
	conns   map[net.Conn]*tracked // every open connection
	idle    *list.List            // idle between requests: *tracked, idle longest first
	ticks   uint64                // counts requests, to order connections by their last
	peak    int                   // the most connections open at once (tests read it)
	trimmer *time.Timer           // trims idle connections past maxIdle once they are quiet
	trimDue time.Duration         // when trimmer fires (since epoch), 0 when it is not armed
	changed chan struct{}         // told when a connection goes idle or closes
	done    chan struct{}         // closed by Close
	once    sync.Once
	onWait  func() // tests learn here that Accept waits for room
}

// idleAtLeast is how long a connection must have waited for its client's next request before it may
// be closed, to make room or past MAX_IDLE_CONNECTIONS: a client near the server that has just read
// an answer sends its next request well within it. Longer would hold more of the connections that
// many clients leave idle at once: 250 ms held 160 MB of 15,000 arriving 200 at a time, 100 ms
// about 100 MB, as closing them at once did.
const idleAtLeast = 100 * time.Millisecond

// readHeaderTimeout is how long the API's server gives a request's headers once they begin.
const readHeaderTimeout = 5 * time.Second

// tracked is an open connection.
type tracked struct {
	conn   *heardConn
	idleAt time.Duration // when it last went idle (since connLimit.epoch)
	since  uint64        // connLimit.ticks at the start of its last request
	place  *list.Element // its element in idle, or nil while it is not idle
}

// heardConn is a connection as connLimit hands it to the server: it notes whether a byte has come
// since the connection went idle, that is whether its client has begun its next request, and since
// when net/http has been waiting in a read. An idle connection's goroutine reads only once net/http
// holds nothing of a next request (a pipelined one it serves without reading), so one waiting in a
// read has nothing in hand.
type heardConn struct {
	net.Conn
	epoch   time.Time    // connLimit.epoch
	heard   atomic.Bool  // set as bytes come, by the server's goroutine; reset when the connection goes idle
	reading atomic.Int64 // since when (connLimit.epoch) a read waits; 0 while none does
}

func (c *heardConn) Read(p []byte) (int, error) {
	c.reading.Store(max(int64(time.Since(c.epoch)), 1))
	n, err := c.Conn.Read(p)
	c.reading.Store(0)
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
	return &connLimit{Listener: ln, max: most, maxIdle: min(mostIdle, most), epoch: time.Now(),
		conns: map[net.Conn]*tracked{}, idle: list.New(), changed: make(chan struct{}, 1), done: make(chan struct{})}
}

// now is the time on heardConn's clock.
func (l *connLimit) now() time.Duration { return time.Since(l.epoch) }

// Accept accepts a connection, then makes room for it: it closes the connection idle longest when
// all are open, or waits until one has been quiet for idleAtLeast, or closes.
func (l *connLimit) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &heardConn{Conn: raw, epoch: l.epoch}
	for {
		l.mu.Lock()
		if len(l.conns) < l.max {
			l.conns[c] = &tracked{conn: c}
			l.peak = max(l.peak, len(l.conns))
			l.mu.Unlock()
			return c, nil
		}
		idle, next := l.idlest()
		if idle != nil {
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
		if err := l.wait(next); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
}

// wait waits until a connection goes idle or closes, or the time next comes (0: no such time), or
// Close.
func (l *connLimit) wait(next time.Duration) error {
	var due <-chan time.Time
	if next > 0 {
		timer := time.NewTimer(max(next-l.now(), time.Millisecond))
		defer timer.Stop()
		due = timer.C
	}
	select {
	case <-l.changed:
	case <-due:
	case <-l.done:
		return net.ErrClosed
	}
	return nil
}

// idlest answers the connection idle longest that may be closed; l.mu is held. When none may, it
// answers nil and when one may (0: none is idle, a change will tell).
func (l *connLimit) idlest() (*tracked, time.Duration) {
	now := l.now()
	var next time.Duration
	for e := l.idle.Front(); e != nil; e = e.Next() {
		t := e.Value.(*tracked)
		reading := time.Duration(t.conn.reading.Load())
		switch {
		case t.conn.heard.Load():
			// Its next request has begun: it is about to be active. net/http times its headers only
			// once 4 bytes have come, so one that sends less would hold the slot for IdleTimeout:
			// after readHeaderTimeout it is as fair game as a silent one.
			if now-t.idleAt < readHeaderTimeout {
				next = earliest(next, t.idleAt+readHeaderTimeout)
				continue
			}
			return t, 0
		case reading == 0 || reading < t.idleAt:
			// net/http has not begun waiting for the next request: it may hold one (a pipelining
			// client's), or its goroutine waits for a CPU. Those behind it go after it, idle longest
			// first, as its turn comes.
			return nil, earliest(next, now+idleAtLeast)
		case now-reading < idleAtLeast:
			// Its client may be sending its next request.
			return nil, earliest(next, reading+idleAtLeast)
		case unread(t.conn.Conn):
			// Its next request has come, and is about to be read.
		default:
			return t, 0
		}
	}
	return nil, next
}

// earliest is the sooner of two times, 0 meaning none.
func earliest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
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
// longest that is quiet, or has the trimmer look again when one may be.
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
		t.idleAt = l.now()
		l.unsettle(t)
		l.settle(t)
		if l.idle.Len() > l.maxIdle {
			var next time.Duration
			if surplus, next = l.idlest(); surplus != nil {
				l.forget(surplus)
			} else {
				l.trimAt(next)
			}
		}
	case http.StateClosed, http.StateHijacked:
		l.forget(t)
	}
	l.signal()
}

// signal tells Accept that a connection went idle or closed.
func (l *connLimit) signal() {
	select {
	case l.changed <- struct{}{}:
	default: // Accept has been told already
	}
}

// trimAt has trim run at the time at, unless it is due sooner; l.mu is held.
func (l *connLimit) trimAt(at time.Duration) {
	if at == 0 || (l.trimDue != 0 && l.trimDue <= at) {
		return
	}
	l.trimDue = at
	in := max(at-l.now(), time.Millisecond)
	if l.trimmer == nil {
		l.trimmer = time.AfterFunc(in, l.trim)
		return
	}
	l.trimmer.Reset(in)
}

// trim closes the idle connections past maxIdle that are quiet, idle longest first, and looks again
// when more may be.
func (l *connLimit) trim() {
	var surplus []*tracked
	l.mu.Lock()
	l.trimDue = 0
	for l.idle.Len() > l.maxIdle {
		t, next := l.idlest()
		if t == nil {
			l.trimAt(next)
			break
		}
		l.forget(t)
		surplus = append(surplus, t)
	}
	l.mu.Unlock()
	for _, t := range surplus {
		_ = t.conn.Close()
	}
	if len(surplus) > 0 {
		l.signal()
	}
}

// Close stops Accept, including one waiting for room, and the trimmer.
func (l *connLimit) Close() error {
	l.once.Do(func() { close(l.done) })
	l.mu.Lock()
	if l.trimmer != nil {
		l.trimmer.Stop()
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// open answers how many connections are open, and the most that ever were at once.
func (l *connLimit) open() (now, peak int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns), l.peak
}
