package app_test

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
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
// never finish a request's headers, one silent and one sending them slowly, a new client waits and is
// answered once ReadHeaderTimeout (5 s) has closed them.
func TestSilentAndSlowClientsGiveWayWithinReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "MAX_CONNECTIONS": "2"})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	held := make([]net.Conn, 0, 2)
	for _, sent := range []string{"", "POST /check HTTP/1.1\r\nHost: verify-proxy\r\n"} {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, sent); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
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
