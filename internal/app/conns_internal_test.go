package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveLimited serves handler on a loopback listener limited to most connections.
func serveLimited(t *testing.T, most int, handler http.Handler, onWait func()) (*connLimit, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := limitConns(ln, most)
	conns.onWait = onWait
	srv := &http.Server{Handler: handler, ConnState: conns.track, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(conns) }()
	t.Cleanup(func() { _ = srv.Close() })
	return conns, ln.Addr().String()
}

// idleConn opens a connection, has one request answered on it and leaves it open, idle.
func idleConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if status, err := ask(c); err != nil || status != http.StatusOK {
		t.Fatalf("a request on a new connection: %d %v", status, err)
	}
	return c
}

// ask sends one keep-alive request on c and reads its answer, within a generous deadline.
func ask(c net.Conn) (int, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
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
// each new client is answered, the connections idle longest are closed to make room, and no more
// than the limit are ever open.
func TestIdleConnectionsMakeRoomForNewClients(t *testing.T) {
	t.Parallel()
	const most = 50
	conns, addr := serveLimited(t, most, ok, func() { t.Error("Accept waited while idle connections held the slots") })
	idle := make([]net.Conn, most)
	for i := range idle {
		idle[i] = idleConn(t, addr)
	}
	for range 3 * most {
		idleConn(t, addr) // answered, and left open too
	}
	if now, peak := conns.open(); now > most || peak > most {
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
	conns, addr := serveLimited(t, most, slow, func() {
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
			res, err := client.Get("http://" + addr + "/slow")
			if err == nil {
				res.Body.Close()
			}
			busy <- err
		}()
	}
	arrived.Wait()
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
	if _, peak := conns.open(); peak > most {
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
	conns := limitConns(ln, 1)
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
