// Package redistest owns real Redis processes for tests: each test gets its own redis-server on a
// free loopback port, without persistence, stopped by its pid when the test ends. A test can stop
// and restart it on the same port to see what an outage does. StartCluster runs a Redis Cluster of
// three masters, StartSentinel a master, its replica and three sentinels that fail over in seconds.
//
// redis-server must be on PATH (Debian: apt-get install redis-server; the cluster needs redis-cli
// from redis-tools, the sentinel group redis-sentinel; .ci/run installs them). Without them the
// test fails when CI=true, so CI can never pass by skipping, and is skipped elsewhere with a message
// saying how to run it.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/porttest"
)

// Server is one redis-server (or redis-sentinel) process.
type Server struct {
	t    testing.TB
	bin  string
	port string
	args func(port, dir string) []string // the command line after the binary

	mu     sync.Mutex
	proc   *os.Process   // nil while stopped
	exited chan struct{} // closed when proc has exited
}

// Start runs a redis-server for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return startServer(t, need(t, "redis-server", "redis-server", "redis"), plain)
}

// plain is the command line of a redis-server that keeps nothing on disk.
func plain(port, dir string) []string {
	return []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--loglevel", "warning", "--dir", dir,
		// A replica's first sync starts at once, not after the 5 s a master waits for more replicas.
		"--repl-diskless-sync-delay", "0"}
}

// need finds the program name on PATH, or ends the test saying how to install it (Debian's package
// deb, Homebrew's brew).
func need(t testing.TB, name, deb, brew string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err == nil {
		return bin
	}
	how := fmt.Sprintf("%s is not on PATH: install it (Debian/Ubuntu: apt-get install %s; macOS: brew install %s) to run the Redis tests",
		name, deb, brew)
	if os.Getenv("CI") == "true" {
		t.Fatal(how + "; .ci/run must install it")
	}
	t.Skip(how)
	return ""
}

// startServer runs bin with args on a free port, and stops it when the test ends.
func startServer(t testing.TB, bin string, args func(port, dir string) []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: bin, args: args}
	// Another process may take the free port before redis-server binds it; try a few.
	var lastErr error
	for range 5 {
		s.port = porttest.Free(t)
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("%s did not start: %v", bin, lastErr)
	return nil
}

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://127.0.0.1:" + s.port + "/0" }

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + s.port }

// Stop kills the server by its pid and waits for it to exit; stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited
	s.proc = nil
}

// Restart starts a stopped server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("redis-server did not restart: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("already running")
	}
	cmd := exec.Command(s.bin, s.args(s.port, s.t.TempDir())...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !ping(s.Addr()) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited: %s", s.bin, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%s did not answer PING within 10s: %s", s.bin, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.proc, s.exited = cmd.Process, exited
	return nil
}

// ping reports whether a Redis answers PING at addr.
func ping(addr string) bool {
	line, err := command(addr, "PING")
	return err == nil && line == "PONG"
}

// command sends one command to the Redis at addr and answers its reply: a simple string, an
// integer or a bulk string as text, an error as an error. Arrays are not read.
func command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(req.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("%s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("reply %q is not read here", line)
}

// info reads field of the INFO section of the Redis at addr ("" when it does not answer).
func info(addr, section, field string) string {
	text, err := command(addr, "INFO", section)
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// Do sends one command to the Redis at addr, for tests that set it up or look into it: a simple
// string, an integer or a bulk string comes back as text, a Redis error as an error.
func Do(addr string, args ...string) (string, error) { return command(addr, args...) }

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
