package config

import (
	"net"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/logging"
)

// Admin is where /metrics is served, apart from the API so that it is not public by accident.
type Admin struct {
	Addr string `env:"ADMIN_ADDR" envDefault:"127.0.0.1:9090" refuse:"empty"` // AdminOff disables it
}

// AdminOff is the ADMIN_ADDR that disables the admin listener.
const AdminOff = "off"

func (a *Admin) normalise() {
	a.Addr = strings.TrimSpace(a.Addr)
	if strings.EqualFold(a.Addr, AdminOff) {
		a.Addr = AdminOff
	}
}

func (a Admin) validate() []error {
	var bad problems
	if a.Addr != AdminOff && !validListenAddr(a.Addr) {
		bad.add("ADMIN_ADDR must be host:port (such as 127.0.0.1:9090 or :9090) or %q, got %q", AdminOff, a.Addr)
	}
	return bad
}

// validListenAddr accepts what net.Listen takes for TCP with a fixed port: an optional host, and a
// port from 1 to 65535.
func validListenAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != "" && validPort(port)
}

// Log is the log's shape: JSON or text, and the lowest level written.
type Log struct {
	Format string `env:"LOG_FORMAT" envDefault:"json" refuse:"empty"`
	Level  string `env:"LOG_LEVEL" envDefault:"info" refuse:"empty"`
}

func (l *Log) normalise() {
	l.Format = strings.ToLower(strings.TrimSpace(l.Format))
	l.Level = strings.ToLower(strings.TrimSpace(l.Level))
}

func (l Log) validate() []error {
	var bad problems
	if _, err := logging.ParseFormat(l.Format); err != nil {
		bad.add("LOG_FORMAT must be json or text, got %q", l.Format)
	}
	if _, err := logging.ParseLevel(l.Level); err != nil {
		bad.add("LOG_LEVEL must be debug, info, warn or error, got %q", l.Level)
	}
	return bad
}

// Shutdown is the graceful shutdown: Delay is how long the server keeps serving after SIGTERM with
// /readyz failing, so load balancers stop sending before it stops accepting; Timeout bounds the
// drain after that.
type Shutdown struct {
	Delay   time.Duration `env:"SHUTDOWN_DELAY" envDefault:"0s" refuse:"empty"`
	Timeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" refuse:"empty"`
}

func (s Shutdown) validate() []error {
	var bad problems
	if s.Delay < 0 || s.Delay > 10*time.Minute {
		bad.add("SHUTDOWN_DELAY must be between 0 and 10m, got %s", s.Delay)
	}
	if s.Timeout <= 0 || s.Timeout > 10*time.Minute {
		bad.add("SHUTDOWN_TIMEOUT must be more than 0 and at most 10m, got %s", s.Timeout)
	}
	return bad
}
