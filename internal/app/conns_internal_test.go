package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// limited is a server on a loopback listener whose connections a connLimit holds.
type limited struct {
	*connLimit
	addr  string
	idled chan string // the client's address of each connection connLimit has seen go idle
}

// serveLimited serves handler on a loopback listener limited to most connections, mostIdle of them
// idle.
func serveLimited(t *testing.T, most, mostIdle int, handler http.Handler, onWait func()) *limited {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &limited{connLimit: limitConns(ln, most, mostIdle), addr: ln.Addr().String(), idled: make(chan string, 1024)}
	l.onWait = onWait
	track := func(c net.Conn, state http.ConnState) {
		l.track(c, state)
		if state == http.StateIdle {
			select {
			case l.idled <- c.RemoteAddr().String():
			default: // nobody waits for so many
			}
		}
	}
	srv := &http.Server{Handler: handler, ConnState: track, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l
}

// idleConn opens a connection, has one request answered on it and leaves it open, idle: it returns
// once connLimit knows, which is a moment after the answer arrives.
func (l *limited) idleConn(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if status, err := ask(c); err != nil || status != http.StatusOK {
		t.Fatalf("a request on a new connection: %d %v", status, err)
	}
	for addr := range l.idled {
		if addr == c.LocalAddr().String() {
			break
		}
	}
	return c
}

// ask sends one keep-alive request on c and reads its answer, within a generous deadline.
func ask(c net.Conn) (int, error) { return askFor(c, "/") }

// askFor is ask for path.
func askFor(c net.Conn, path string) (int, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

// TestIdleConnectionsMakeRoomForNewClients: with every slot held by an idle keep-alive connection,
// each new client is answered within a second, the connections idle longest are closed to make
// room, and no more than the limit are ever open.
func TestIdleConnectionsMakeRoomForNewClients(t *testing.T) {
	t.Parallel()
	const most = 50
	srv := serveLimited(t, most, most, ok, nil)
	idle := make([]net.Conn, most)
	for i := range idle {
		idle[i] = srv.idleConn(t)
	}
	for i := range 3 * most {
		began := time.Now()
		srv.idleConn(t) // answered, and left open too
		if waited := time.Since(began); waited > time.Second {
			t.Fatalf("new client %d waited %v for a slot held by an idle connection", i, waited)
		}
	}
	if now, peak := srv.open(); now > most || peak > most {
		t.Fatalf("%d connections open, %d at most, past the limit of %d", now, peak, most)
	}
	// The first ones were idle longest: all closed. The last ones opened are open.
	for i, c := range idle {
		if _, err := ask(c); err == nil {
			t.Fatalf("idle connection %d was kept while newer ones were closed", i)
		}
	}
}

// TestANewClientWaitsForABusyConnection: when every connection is busy with a request, a new one
// waits, and is served as soon as one of them is done.
func TestANewClientWaitsForABusyConnection(t *testing.T) {
	t.Parallel()
	const most = 5
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(most)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived.Done()
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	waiting := make(chan struct{}, 1)
	srv := serveLimited(t, most, most, slow, func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	busy := make(chan error, most)
	for range most {
		go func() {
			res, err := client.Get("http://" + srv.addr + "/slow")
			if err == nil {
				res.Body.Close()
			}
			busy <- err
		}()
	}
	arrived.Wait()
	answered := askNew(srv.addr)
	<-waiting // the new connection is accepted, and waits for room
	close(release)
	for range most {
		if err := <-busy; err != nil && !strings.Contains(err.Error(), "EOF") {
			t.Errorf("a busy request: %v", err)
		}
	}
	if err := <-answered; err != nil {
		t.Fatalf("the waiting client: %v", err)
	}
	if _, peak := srv.open(); peak > most {
		t.Fatalf("%d connections open at once, past the limit of %d", peak, most)
	}
}

// TestClosingStopsAWaitingAccept: a shutdown while Accept waits for room ends the wait.
func TestClosingStopsAWaitingAccept(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := limitConns(ln, 1, 1)
	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	held, err := conns.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	conns.track(held, http.StateActive) // busy: nothing to close
	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	waiting := make(chan struct{})
	conns.onWait = func() { close(waiting) }
	accepted := make(chan error, 1)
	go func() {
		_, err := conns.Accept()
		accepted <- err
	}()
	<-waiting
	_ = conns.Close()
	if err := <-accepted; err == nil {
		t.Fatal("Accept handed out a connection past the limit after Close")
	}
}

// closedByServer waits, within a generous deadline, for the server to close c, which it does just
// after another connection goes idle; it fails when c is still open then, or the server sent
// something instead.
func closedByServer(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var timeout net.Error
	switch {
	case n > 0:
		return errors.New("the server sent something")
	case errors.As(err, &timeout) && timeout.Timeout():
		return errors.New("still open")
	}
	return nil // EOF, or a reset
}

// TestIdleConnectionsPastTheIdleLimitAreClosedOldestFirst: with slots to spare, no more than
// MAX_IDLE_CONNECTIONS are kept idle; those idle longest are closed, the newest kept and reusable.
func TestIdleConnectionsPastTheIdleLimitAreClosedOldestFirst(t *testing.T) {
	t.Parallel()
	const most, mostIdle = 50, 10
	srv := serveLimited(t, most, mostIdle, ok, func() { t.Error("Accept waited with slots to spare") })
	conns := make([]net.Conn, 3*mostIdle)
	for i := range conns {
		conns[i] = srv.idleConn(t)
	}
	kept := len(conns) - mostIdle
	for i, c := range conns[:kept] {
		if err := closedByServer(c); err != nil {
			t.Fatalf("connection %d, among the idle longest, was kept: %v", i, err)
		}
	}
	for i, c := range conns[kept:] {
		if status, err := ask(c); err != nil || status != http.StatusOK {
			t.Fatalf("connection %d, among the %d idle last, was not kept: %d %v", kept+i, mostIdle, status, err)
		}
	}
	if now, peak := srv.open(); now > mostIdle || peak > most {
		t.Fatalf("%d connections open, %d at most, past the limits of %d idle and %d in all", now, peak, mostIdle, most)
	}
}

// TestANewClientIsServedWhileBusyAndIdleConnectionsFillTheLimit: with every slot held, some busy with
// a request and the others idle, a new client is answered at once; the connection idle longest makes
// room for it, and the busy ones finish.
func TestANewClientIsServedWhileBusyAndIdleConnectionsFillTheLimit(t *testing.T) {
	t.Parallel()
	const most, mostIdle, busy = 10, 3, 7
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(busy)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived.Done()
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	srv := serveLimited(t, most, mostIdle, slow, nil)
	idle := make([]net.Conn, mostIdle)
	for i := range idle {
		idle[i] = srv.idleConn(t)
	}
	answered := make(chan error, busy)
	for range busy {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		go func() {
			status, err := askFor(c, "/slow")
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d", status)
			}
			answered <- err
		}()
	}
	arrived.Wait() // every slot held: mostIdle idle, busy busy

	began := time.Now()
	srv.idleConn(t) // the new client, answered and left idle
	if waited := time.Since(began); waited > time.Second {
		t.Errorf("the new client waited %v for a slot held by an idle connection", waited)
	}
	if err := closedByServer(idle[0]); err != nil {
		t.Fatalf("the connection idle longest did not make room: %v", err)
	}
	for i, c := range idle[1:] {
		if status, err := ask(c); err != nil || status != http.StatusOK {
			t.Fatalf("idle connection %d was closed though one made room: %d %v", i+1, status, err)
		}
	}
	close(release)
	for range busy {
		if err := <-answered; err != nil {
			t.Errorf("a busy request: %v", err)
		}
	}
	if _, peak := srv.open(); peak > most {
		t.Fatalf("%d connections open at once, past the limit of %d", peak, most)
	}
}

// TestOnlyIdleConnectionsMakeRoom: with the one slot held by a connection whose client has not
// finished a request, whether it has begun one or sent nothing yet, and whether the connection is new
// or kept alive, the connection is kept and served, and a new client waits until it is idle.
func TestOnlyIdleConnectionsMakeRoom(t *testing.T) {
	t.Parallel()
	const begun, rest = "GET / HTTP/1.1\r\n", "Host: test\r\n\r\n"
	for _, tc := range []struct {
		name string
		held func(*testing.T, *limited) net.Conn
		rest string // what its client sends later to complete its request
	}{
		{"a new connection silent so far", dialed(""), begun + rest},
		{"a new connection whose request has begun", dialed(begun), rest},
		{"a kept-alive connection whose next request has begun", func(t *testing.T, l *limited) net.Conn {
			c := l.idleConn(t)
			if _, err := io.WriteString(c, begun); err != nil {
				t.Fatal(err)
			}
			l.waitUntilHeard(t)
			return c
		}, rest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			waiting := make(chan struct{}, 1)
			srv := serveLimited(t, 1, 1, ok, func() {
				select {
				case waiting <- struct{}{}:
				default:
				}
			})
			held := tc.held(t, srv)
			answered := askNew(srv.addr)
			select {
			case <-waiting: // Accept kept the held connection and waits
			case err := <-answered:
				t.Fatalf("the held connection was closed to make room for the new client (%v)", err)
			case <-time.After(10 * time.Second):
				t.Fatal("Accept neither waited nor served the new client")
			}
			// The rest of the request: it is answered on the connection that was kept.
			if _, err := io.WriteString(held, tc.rest); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(held), nil)
			if err != nil {
				t.Fatalf("the request under way was cut off: %v", err)
			}
			res.Body.Close()
			if err := <-answered; err != nil {
				t.Fatalf("the new client, once the held connection went idle: %v", err)
			}
		})
	}
}

// dialed opens a connection to the server, sends it what and leaves it open.
func dialed(what string) func(*testing.T, *limited) net.Conn {
	return func(t *testing.T, l *limited) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", l.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, what); err != nil {
			t.Fatal(err)
		}
		if what != "" {
			l.waitUntilHeard(t)
		}
		return c
	}
}

// waitUntilHeard waits until every open connection's server has read its client's first bytes.
func (l *limited) waitUntilHeard(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		l.mu.Lock()
		heard := len(l.conns) > 0
		for _, c := range l.conns {
			heard = heard && c.conn.heard.Load()
		}
		l.mu.Unlock()
		if heard {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never read the held connection's first bytes")
		}
		time.Sleep(time.Millisecond)
	}
}

// askNew has a new client make one call on a connection of its own, and tells whether it was
// answered 200.
func askNew(addr string) <-chan error {
	answered := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			answered <- err
			return
		}
		defer c.Close()
		status, err := ask(c)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		answered <- err
	}()
	return answered
}
