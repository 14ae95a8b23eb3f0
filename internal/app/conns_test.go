package app_test

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/app"
)

// TestClientsPastMaxConnectionsAreAllAnswered: many clients at once, far past MAX_CONNECTIONS, each
// open a connection and send a request at once. Every one gets an HTTP answer: those past the limit
// wait for a slot, and no connection whose request has arrived is closed to make room.
func TestClientsPastMaxConnectionsAreAllAnswered(t *testing.T) {
	t.Parallel()
	const most, clients = 10, 200
	base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox",
		"MAX_CONNECTIONS": fmt.Sprint(most), "MAX_IDLE_CONNECTIONS": fmt.Sprint(most / 2)})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	const body = `{"request_id":"0123456789abcdef0123456789abcdef","code":"1234"}`
	request := "POST /check HTTP/1.1\r\nHost: verify-proxy\r\nContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	begin := make(chan struct{})
	errs := make(chan error, clients)
	var ready sync.WaitGroup
	ready.Add(clients)
	for range clients {
		go func() {
			ready.Done()
			<-begin
			errs <- answered(u.Host, request)
		}()
	}
	ready.Wait()
	close(begin)
	lost := 0
	var first error
	for range clients {
		if err := <-errs; err != nil {
			lost++
			first = cmp.Or(first, err)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d clients got no HTTP answer past MAX_CONNECTIONS=%d; the first: %v", lost, clients, most, first)
	}
}

// answered opens a connection to addr, sends request and reads an answer: err is set when none
// comes, whatever its status.
func answered(addr, request string) error {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("answer's body: %w", err)
	}
	if !strings.Contains(string(b), `"error"`) && res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d without the contract's body: %s", res.StatusCode, b)
	}
	return nil
}

// TestSilentAndSlowClientsGiveWayWithinReadHeaderTimeout: with every slot held by connections that
// never finish a request's headers, a new client waits and is answered once ReadHeaderTimeout (5 s)
// has passed: connections silent, sending headers slowly, or kept alive having sent a byte of their
// next request (net/http times headers only from their fourth byte: it would hold the slot for
// IdleTimeout).
func TestSilentAndSlowClientsGiveWayWithinReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	t.Run("silent and slow", func(t *testing.T) {
		t.Parallel()
		base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "MAX_CONNECTIONS": "2"})
		var held []net.Conn
		for _, sent := range []string{"", "POST /check HTTP/1.1\r\nHost: verify-proxy\r\n"} {
			c := dial(t, base)
			if _, err := io.WriteString(c, sent); err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		newClientWaitsForTheHeaderTimeout(t, base, held)
	})
	t.Run("a kept-alive connection with a byte of its next request", func(t *testing.T) {
		t.Parallel()
		base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "MAX_CONNECTIONS": "1"})
		begun := keepAlive(t, base)
		if _, err := io.WriteString(begun, "P"); err != nil {
			t.Fatal(err)
		}
		newClientWaitsForTheHeaderTimeout(t, base, []net.Conn{begun})
	})
}

// newClientWaitsForTheHeaderTimeout: a new client to base is answered within a few seconds of
// ReadHeaderTimeout, and the held connections have been closed by the server.
func newClientWaitsForTheHeaderTimeout(t *testing.T, base string, held []net.Conn) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := answered(u.Host, "GET /healthz HTTP/1.1\r\nHost: verify-proxy\r\n\r\n"); err != nil {
		t.Fatalf("the new client: %v", err)
	}
	if waited := time.Since(began); waited > 8*time.Second {
		t.Errorf("the new client waited %v, past ReadHeaderTimeout", waited)
	}
	for i, c := range held {
		if err := app.ClosedByServer(c); err != nil {
			t.Errorf("held connection %d: %v", i, err)
		}
	}
}

// TestKeepAliveClientsPastTheLimitsLoseNoRequest: keep-alive clients that each send their next
// request as soon as the last is answered, more of them than MAX_IDLE_CONNECTIONS or
// MAX_CONNECTIONS, have every request answered: a connection whose client has just been answered
// is about to carry its next request, and is not closed under it.
func TestKeepAliveClientsPastTheLimitsLoseNoRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		clients int
	}{
		{"past MAX_IDLE_CONNECTIONS", map[string]string{"MAX_IDLE_CONNECTIONS": "4"}, 8},
		{"past MAX_CONNECTIONS", map[string]string{"MAX_CONNECTIONS": "6", "MAX_IDLE_CONNECTIONS": "4"}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"VERIFY_BACKEND": "sandbox"}
			maps.Copy(env, tc.env)
			base, _, _, _ := start(t, env)
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			const requests = 3000
			var next atomic.Int64
			errs := make(chan error, requests)
			var clients sync.WaitGroup
			for range tc.clients {
				clients.Go(func() { errs <- keepAsking(u.Host, &next, requests) })
			}
			clients.Wait()
			close(errs)
			lost := 0
			var first error
			for err := range errs {
				if err != nil {
					lost++
					first = cmp.Or(first, err)
				}
			}
			if lost > 0 {
				t.Fatalf("%d of %d keep-alive clients lost a request they had sent; the first: %v", lost, tc.clients, first)
			}
		})
	}
}

// keepAsking sends /healthz on one keep-alive connection to addr, the next as soon as the last is
// answered, until next reaches requests; it opens a new connection only when an answer says
// "Connection: close". It fails at the first request sent but not answered.
func keepAsking(addr string, next *atomic.Int64, requests int64) error {
	var c net.Conn
	var answers *bufio.Reader
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	for next.Add(1) <= requests {
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", addr, 30*time.Second); err != nil {
				return err
			}
			answers = bufio.NewReader(c)
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: verify-proxy\r\n\r\n"); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		res, err := http.ReadResponse(answers, nil)
		if err != nil {
			return fmt.Errorf("a request sent on a kept-alive connection got no answer: %w", err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.Close {
			_ = c.Close()
			c = nil
		}
	}
	return nil
}

// TestAPipelinedClientPastMaxConnectionsIsAnsweredInFull: a client that writes many requests before
// reading the answers holds the one slot while new clients wait for it; every request it sent is
// answered, and so are the new clients once it is done.
func TestAPipelinedClientPastMaxConnectionsIsAnsweredInFull(t *testing.T) {
	t.Parallel()
	base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "MAX_CONNECTIONS": "1"})
	c := dial(t, base)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	const pipelined = 2000
	go func() {
		_, _ = io.WriteString(c, strings.Repeat("GET /healthz HTTP/1.1\r\nHost: verify-proxy\r\n\r\n", pipelined))
	}()
	answers := bufio.NewReader(c)
	const newcomers = 5
	others := make(chan error, newcomers)
	for i := range pipelined {
		res, err := http.ReadResponse(answers, nil)
		if err != nil {
			t.Fatalf("the pipelining client got %d answers of %d: %v", i, pipelined, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if i == 0 { // it holds the slot: new clients arrive while it is served
			for range newcomers {
				go func() {
					others <- answered(c.RemoteAddr().String(), "GET /healthz HTTP/1.1\r\nHost: verify-proxy\r\n\r\n")
				}()
			}
		}
	}
	for range newcomers {
		if err := <-others; err != nil {
			t.Errorf("a new client: %v", err)
		}
	}
}
