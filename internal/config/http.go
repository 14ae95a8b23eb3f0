package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// HTTP is where the API listens, and whose word about the client's address it takes.
type HTTP struct {
	Port int `env:"PORT" envDefault:"8080" refuse:"empty" values:"1 to 65535" doc:"The TCP port the API listens on."`
	// ListenHost is an IP address, so that what is bound never depends on DNS; "": every interface.
	ListenHost string `env:"LISTEN_HOST" refuse:"empty" values:"an IP address, e.g. 127.0.0.1 or ::1" doc:"Listen on this address only (e.g. 127.0.0.1 behind a proxy on the same host); unset, on every interface."`
	// TrustedProxies are the peers whose ClientIPHeader names the client.
	TrustedProxies Prefixes `env:"TRUSTED_PROXIES" values:"CIDRs or IP addresses, comma-separated, e.g. 10.0.0.0/8,192.0.2.7" doc:"Your load balancers: only from these peers is CLIENT_IP_HEADER believed; unset, from none."`
	ClientIPHeader string   `env:"CLIENT_IP_HEADER" envDefault:"X-Forwarded-For" refuse:"empty" values:"X-Forwarded-For, X-Real-IP" doc:"The one header your trusted proxies set to name the client."`
	// MaxConnections bounds the connections the API holds open; past it, the idle keep-alive ones
	// are closed first, so that a new client is still answered.
	MaxConnections int `env:"MAX_CONNECTIONS" envDefault:"4096" refuse:"empty" values:"1 or more" doc:"Connections the API holds open at once; past it, the keep-alive one idle longest is closed, so that a new client is still answered."`
	// MaxIdleConnections bounds those of them idle between requests, which is most of what many
	// clients at once cost in memory; past it, the one idle longest is closed. Above MaxConnections
	// it changes nothing.
	MaxIdleConnections int `env:"MAX_IDLE_CONNECTIONS" envDefault:"1024" refuse:"empty" values:"1 or more" doc:"Of those, the keep-alive connections held idle between requests (most of what many clients cost in memory); past it, the one idle longest is closed."`
}

// The headers CLIENT_IP_HEADER may name, as they are written.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderXRealIP       = "X-Real-IP"
)

func (h *HTTP) normalise() {
	for _, name := range []string{HeaderXForwardedFor, HeaderXRealIP} {
		if strings.EqualFold(strings.TrimSpace(h.ClientIPHeader), name) {
			h.ClientIPHeader = name
		}
	}
}

func (h HTTP) validate() []error {
	var bad problems
	if h.ListenHost != "" && net.ParseIP(h.ListenHost) == nil {
		bad.add("LISTEN_HOST must be an IP address (127.0.0.1, ::1, 10.0.0.5), or unset to listen on every interface, got %q", h.ListenHost)
	}
	if h.Port < 1 || h.Port > 65535 {
		bad.add("PORT must be between 1 and 65535, got %d", h.Port)
	}
	if h.MaxConnections < 1 {
		bad.add("MAX_CONNECTIONS must be at least 1, got %d", h.MaxConnections)
	}
	if h.MaxIdleConnections < 1 {
		bad.add("MAX_IDLE_CONNECTIONS must be at least 1, got %d", h.MaxIdleConnections)
	}
	// One header, the one the proxies set: a proxy that sets X-Real-IP passes on whatever
	// X-Forwarded-For the client wrote, and one that appends to X-Forwarded-For passes on the
	// client's X-Real-IP, so believing whichever header happens to be there lets clients choose.
	if h.ClientIPHeader != HeaderXForwardedFor && h.ClientIPHeader != HeaderXRealIP {
		bad.add("CLIENT_IP_HEADER must be %s or %s (the header your trusted proxies set), got %q",
			HeaderXForwardedFor, HeaderXRealIP, h.ClientIPHeader)
	}
	return bad
}

// Prefixes are TRUSTED_PROXIES: comma-separated CIDRs; a bare address means just that address.
type Prefixes []netip.Prefix

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (p *Prefixes) UnmarshalText(text []byte) error {
	var out Prefixes
	for _, item := range strings.Split(string(text), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if prefix, err := netip.ParsePrefix(item); err == nil {
			out = append(out, prefix.Masked())
			continue
		}
		addr, err := netip.ParseAddr(item)
		if err != nil {
			return fmt.Errorf("%q is neither a CIDR such as 10.0.0.0/8 nor an IP address", item)
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	*p = out
	return nil
}
