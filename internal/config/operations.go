package config

import (
	"net"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/logging"
)

// Admin is where /metrics is served, apart from the API so that it is not public by accident.
type Admin struct {
	Addr string `env:"ADMIN_ADDR" envDefault:"127.0.0.1:9090" refuse:"empty" values:"host:port (e.g. 127.0.0.1:9090 or :9090), or off" doc:"Where /metrics is served; off disables it. In a container, :9090 lets Prometheus in."`
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
	Format string `env:"LOG_FORMAT" envDefault:"json" refuse:"empty" values:"json, text" doc:"The log lines' format."`
	Level  string `env:"LOG_LEVEL" envDefault:"info" refuse:"empty" values:"debug, info, warn, error" doc:"The lowest level written (the sandbox's codes are at info)."`
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
	Delay   time.Duration `env:"SHUTDOWN_DELAY" envDefault:"0s" refuse:"empty" values:"a duration, 0s to 10m" doc:"How long to keep serving after SIGTERM, with /readyz failing, so that load balancers stop sending; set it to their readiness probe interval."`
	Timeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" refuse:"empty" values:"a duration, more than 0 and at most 10m; with VERIFY_BACKEND=vonage, longer than UPSTREAM_TIMEOUT" doc:"Then, how long in-flight requests may take to finish before they are cut off."`
}

// validate checks the shutdown's own bounds and, with the Vonage backend, that the drain outlasts a
// call to Vonage.
func (s Shutdown) validate(verify Verify, vonage Vonage) []error {
	var bad problems
	if s.Delay < 0 || s.Delay > 10*time.Minute {
		bad.add("SHUTDOWN_DELAY must be between 0 and 10m, got %s", s.Delay)
	}
	if s.Timeout <= 0 || s.Timeout > 10*time.Minute {
		bad.add("SHUTDOWN_TIMEOUT must be more than 0 and at most 10m, got %s", s.Timeout)
		return bad
	}
	// A start whose call to Vonage is still out when the drain ends is cut off after Vonage may
	// have sent the SMS: the app is never told its request_id, and its retry pays for a second SMS.
	// Only a drain longer than the call lets every start finish. The sandbox calls nobody. A v2
	// start that falls back from silent_auth makes a second call, within the same UPSTREAM_TIMEOUT.
	if verify.Backend == BackendVonage && vonage.UpstreamTimeout > 0 && s.Timeout <= vonage.UpstreamTimeout {
		bad.add("SHUTDOWN_TIMEOUT (%s) must be longer than UPSTREAM_TIMEOUT (%s): a /request still waiting for "+
			"Vonage when the shutdown's drain ends would be cut off after Vonage may have sent the SMS, and the "+
			"app's retry would pay for a second; raise SHUTDOWN_TIMEOUT or lower UPSTREAM_TIMEOUT",
			s.Timeout, vonage.UpstreamTimeout)
	}
	return bad
}
