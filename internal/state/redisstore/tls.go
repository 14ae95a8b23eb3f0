package redisstore

import (
	"bufio"
	"context"
	"net"
	"time"
)

// NotTLS finds, when the URL asked for TLS (rediss://), a server it names that answers in plain
// text: go-redis would only wait out its handshake with it, and report a timeout. It answers that
// server's address, or false when every server it reached does not answer plain text. A server
// that does not answer at all is not reported: that is an outage, not a mistake in the URL.
func (s *Store) NotTLS(ctx context.Context) (string, bool) {
	if !s.tls {
		return "", false
	}
	for _, addr := range s.addrs {
		if speaksPlain(ctx, addr) {
			return addr, true
		}
	}
	return "", false
}

// speaksPlain reports whether the server at addr answers a plain-text PING as Redis does: with a
// status ("+PONG") or an error ("-NOAUTH ..."). A TLS server answers a handshake alert, or nothing.
func speaksPlain(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	first, err := bufio.NewReader(c).ReadByte()
	return err == nil && (first == '+' || first == '-')
}
