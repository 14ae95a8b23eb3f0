package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// keepAlive opens a connection to base, has /healthz answered on it and leaves it open, idle, as a
// pooling client or proxy does.
func keepAlive(t *testing.T, base string) net.Conn {
	t.Helper()
	c := dial(t, base)
	if err := healthz(c); err != nil {
		t.Fatalf("a new connection: %v", err)
	}
	return c
}

// dial opens a connection to the server at base, closed when the test ends.
func dial(t *testing.T, base string) net.Conn {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// healthz asks /healthz on c, keeping it alive, and reads the answer within a generous deadline.
func healthz(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: verify-proxy\r\n\r\n"); err != nil {
		return err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

// TestIdleConnectionsGiveWayToNewClients: with MAX_CONNECTIONS idle keep-alive connections open,
// each new client is answered; the connections idle longest are closed to make room, and those kept
// are never more than MAX_CONNECTIONS.
func TestIdleConnectionsGiveWayToNewClients(t *testing.T) {
	t.Parallel()
	const most = 50
	base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "MAX_CONNECTIONS": fmt.Sprint(most)})
	conns := make([]net.Conn, 2*most)
	for i := range conns {
		conns[i] = keepAlive(t, base)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("a new client with every slot idle: %v", err)
	}
	res.Body.Close()
	open := 0
	for i, c := range conns {
		err := healthz(c)
		if i < most+1 && err == nil {
			t.Fatalf("connection %d, among the idle longest, was kept", i)
		}
		if i > most && err != nil {
			t.Fatalf("connection %d, among the newest, was closed: %v", i, err)
		}
		if err == nil {
			open++
		}
	}
	if open > most {
		t.Fatalf("%d connections kept open, past MAX_CONNECTIONS=%d", open, most)
	}
}

// TestAStoreFullOfSpendRefusesStartsNotChecks: once the windows, verifications and counts that guard
// spend fill MEMORY_STORE_MAX_KEYS, a start is refused with 503 unavailable rather than forget one,
// while a check of a running verification still earns its token.
func TestAStoreFullOfSpendRefusesStartsNotChecks(t *testing.T) {
	t.Parallel()
	base, _, _, out := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "MEMORY_STORE_MAX_KEYS": "1000",
		"RATE_LIMIT_IP": "off"})
	var first string
	status, body := 0, ""
	for i := range 800 {
		// A number of its own in a prefix of its own, so that no limit refuses it first.
		status, body = postJSON(t, base, "/request", fmt.Sprintf(`{"number":"+1415%03d0100"}`, 200+i))
		if status != http.StatusOK {
			break
		}
		if first == "" {
			var started struct {
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &started); err != nil {
				t.Fatal(err)
			}
			first = started.RequestID
		}
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("a start into a full store: %d %s", status, body)
	}
	if !strings.Contains(out.String(), "MEMORY_STORE_MAX_KEYS") {
		t.Errorf("the log does not say which ceiling was reached:\n%s", out)
	}
	code, ok := out.Find(map[string]string{"msg": "sandbox verification code", "request_id": first}, "code")
	if !ok {
		t.Fatalf("no code logged for %s", first)
	}
	status, body = postJSON(t, base, "/check", checkBody(t, first, code))
	if status != http.StatusOK || !strings.Contains(body, "verification_token") {
		t.Fatalf("a check while the store is full: %d %s", status, body)
	}
}
