package transport

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns the one http.Client to share for all Vonage calls. Its timeouts bound each
// phase of a connection; it has no overall Timeout because every call carries its own context
// deadline, whose expiry can then be told apart from a caller that hung up. The pool is sized for a
// proxy that sends all its traffic to one host (Go's default keeps only 2 idle connections per host).
//
// ResponseHeaderTimeout is the per-call timeout (DefaultTimeout when 0): a backstop for a call made
// without a deadline that never caps the configured one.
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = http.ProxyFromEnvironment
	transport.DialContext = dialer.DialContext
	transport.TLSHandshakeTimeout = 5 * time.Second
	transport.ResponseHeaderTimeout = timeout
	transport.ExpectContinueTimeout = time.Second
	transport.MaxIdleConns = 100
	transport.MaxIdleConnsPerHost = 100
	transport.IdleConnTimeout = 90 * time.Second
	transport.ForceAttemptHTTP2 = true
	return &http.Client{Transport: transport}
}
