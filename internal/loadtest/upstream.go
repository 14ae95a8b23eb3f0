package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// upstream is a fake Verify API v1 that answers in microseconds: every start succeeds and every
// check is a wrong code (status 16), whatever was sent, so that what is measured is the proxy in
// front of it. It counts the connections its callers open, to show connection churn.
type upstream struct {
	srv   *http.Server
	ln    net.Listener
	conns atomic.Int64 // connections accepted so far
	ids   atomic.Uint64
}

// checkAnswer is Verify v1's wrong code. The floor forwards the app's own paths (/request, /check)
// and gets the same answers as the server's /verify/json and /verify/check/json.
const checkAnswer = `{"request_id":"abcdef0123456789abcdef0123456789","status":"16","error_text":"The code provided does not match the expected value"}`

func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{ln: ln}
	u.srv = &http.Server{
		Handler:           http.HandlerFunc(u.serve),
		ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				u.conns.Add(1)
			}
		},
	}
	go func() {
		if err := u.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return u, nil
}

func (u *upstream) url() string { return "http://" + u.ln.Addr().String() }

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	// Drain the body, as a real server does, so the connection can be reused.
	buf := make([]byte, 512)
	for {
		if _, err := r.Body.Read(buf); err != nil {
			break
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(r.URL.Path, "check") {
		_, _ = w.Write([]byte(checkAnswer))
		return
	}
	_, _ = w.Write(hexAnswer(u.ids.Add(1)))
}

// hexAnswer is Verify v1's answer to the n-th start: a distinct 32-hex request_id each time.
func hexAnswer(n uint64) []byte {
	const digits = "0123456789abcdef"
	id := make([]byte, 32)
	for i := 31; i >= 0; i-- {
		id[i] = digits[n&15]
		n >>= 4
	}
	return []byte(`{"request_id":"` + string(id) + `","status":"0"}`)
}

func (u *upstream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = u.srv.Shutdown(ctx)
}
