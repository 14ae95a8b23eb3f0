package app_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/app"
)

// TestIdleConnectionsPastMaxIdleConnectionsAreClosed: with slots to spare under MAX_CONNECTIONS,
// no more than MAX_IDLE_CONNECTIONS keep-alive connections are kept idle; those idle longest are
// closed, the newest still answer, and a new client is answered.
func TestIdleConnectionsPastMaxIdleConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	const mostIdle, clients = 5, 20
	base, _, _, _ := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "MAX_IDLE_CONNECTIONS": fmt.Sprint(mostIdle)})
	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i] = keepAlive(t, base)
	}
	kept := clients - mostIdle
	for i, c := range conns[:kept] {
		if err := app.ClosedByServer(c); err != nil {
			t.Fatalf("connection %d, among the idle longest, was kept: %v", i, err)
		}
	}
	for i, c := range conns[kept:] {
		if err := healthz(c); err != nil {
			t.Fatalf("connection %d, among the %d idle last, was closed: %v", kept+i, mostIdle, err)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("a new client: %v", err)
	}
	res.Body.Close()
}
