package redisstore_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
)

// modeURL is a URL of each deployment that New reads without dialling, ending in a query to
// which a test appends its options. Its password, hunter2, must never come back in an error.
type modeURL struct {
	name string
	url  string
	opts redisstore.Options
}

func modes() []modeURL {
	return []modeURL{
		{"single", "redis://u:hunter2@127.0.0.1:6379/0?", redisstore.Options{}},
		{"cluster", "redis://u:hunter2@127.0.0.1:7000?addr=127.0.0.1:7001&", redisstore.Options{Mode: redisstore.ModeCluster}},
		{"sentinel", "redis://u:hunter2@127.0.0.1:26379/0?addr=127.0.0.1:26380&",
			redisstore.Options{Mode: redisstore.ModeSentinel, SentinelMaster: "mymaster"}},
	}
}

// TestNewRefusesNumbersGoRedisWouldPanicOn: go-redis takes the query's numbers as they come, and
// panics at start-up on a negative pool_size, fails on one above 2^31-1, runs out of memory on
// 10^8, fails every dial on a jitter of centuries, and sends nothing (every command "succeeds") on
// a max_redirects below -1. New refuses them, naming the option and its range.
func TestNewRefusesNumbersGoRedisWouldPanicOn(t *testing.T) {
	t.Parallel()
	every := []string{"single", "cluster", "sentinel"}
	for _, tt := range []struct {
		query string
		modes []string
		want  string
	}{
		{"pool_size=-5", every, "pool_size must be 0 to 10000, got -5"},
		{"pool_size=99999999999", every, "pool_size must be 0 to 10000, got 99999999999"},
		{"pool_size=100000000", every, "pool_size must be 0 to 10000, got 100000000"},
		{"max_idle_conns=99999999999", every, "max_idle_conns must be 0 to 10000, got 99999999999"},
		{"min_idle_conns=9999999999", every, "min_idle_conns must be 0 to 10000, got 9999999999"},
		{"max_active_conns=-1", every, "max_active_conns must be 0 to 10000, got -1"},
		{"max_concurrent_dials=10001", every, "max_concurrent_dials must be 0 to 10000, got 10001"},
		{"protocol=4", every, `protocol must be 2 or 3, got "4"`},
		{"protocol=0", every, `protocol must be 2 or 3, got "0"`},
		{"protocol=", every, `protocol must be 2 or 3, got ""`},
		{"dial_timeout=-1s", every, "dial_timeout must be 0s to 24h, got -1s"},
		{"read_timeout=-2s", every, "read_timeout must be 0s to 24h, got -2s"},
		{"write_timeout=25h", every, "write_timeout must be 0s to 24h, got 25h0m0s"},
		{"pool_size=-1;", every, "the query after ? cannot be read: write name=value pairs joined by &, and % only in escapes such as %40"},
		{"pool_size=5;foo=1", every, "the query after ? cannot be read: write name=value pairs joined by &, and % only in escapes such as %40"},
		{"pool_size=%", every, "the query after ? cannot be read: write name=value pairs joined by &, and % only in escapes such as %40"},
		{"conn_max_lifetime=2000000h&conn_max_lifetime_jitter=2000000h", every, "conn_max_lifetime must be 0s to 24h, got 2000000h0m0s"},
		{"conn_max_lifetime=1m&conn_max_lifetime_jitter=-5s", every, "conn_max_lifetime_jitter must be 0s to 24h, got -5s"},
		{"min_retry_backoff=-5s", every, "min_retry_backoff must be 0s to 24h, got -5s"},
		{"pool_timeout=25h", every, "pool_timeout must be 0s to 24h, got 25h0m0s"},
		{"idle_timeout=-2m", []string{"single"}, "idle_timeout must be 0s to 24h, got -2m0s"},
		{"db=-1", []string{"single", "sentinel"}, "db must be 0 or more, got -1"},
		{"max_redirects=-5", []string{"cluster"}, "max_redirects must be -1 or more, got -5"},
		{"failing_timeout_seconds=-5", []string{"cluster"}, "failing_timeout_seconds must be 0 or more, got -5"},
	} {
		for _, m := range modes() {
			if !slices.Contains(tt.modes, m.name) {
				continue
			}
			t.Run(m.name+"/"+tt.query, func(t *testing.T) {
				s, err := redisstore.New(m.url+tt.query, m.opts)
				if err == nil {
					_ = s.Close()
					t.Fatalf("accepted, want %q", tt.want)
				}
				if err.Error() != tt.want {
					t.Errorf("error %q, want %q", err, tt.want)
				}
			})
		}
	}
}

// TestNewTakesTheNumbersItsRangesAllow: the edges of each range, and the plain numbers go-redis
// reads as "off" (0 and below for a duration), are taken.
func TestNewTakesTheNumbersItsRangesAllow(t *testing.T) {
	t.Parallel()
	for _, m := range modes() {
		for _, query := range []string{
			"pool_size=10000&min_idle_conns=0&max_idle_conns=10000&max_active_conns=10000&max_concurrent_dials=1",
			"protocol=2&min_retry_backoff=-1&max_retry_backoff=0&pool_timeout=24h&conn_max_idle_time=0",
			"conn_max_lifetime=1h&conn_max_lifetime_jitter=5m",
			"conn_max_lifetime=-1&conn_max_lifetime_jitter=5m", // go-redis: the jitter is never above the lifetime
		} {
			s, err := redisstore.New(m.url+query, m.opts)
			if err != nil {
				t.Errorf("%s %s: %v", m.name, query, err)
				continue
			}
			_ = s.Close()
		}
	}
}

// TestNewSaysWhatIsWrongInTheQuery: a URL of the right scheme with a wrong option is not "not a
// redis:// URL": the message names the option; the password given as password= (single, cluster)
// is told where it goes. Behind sentinels, password= is the master's and is taken.
func TestNewSaysWhatIsWrongInTheQuery(t *testing.T) {
	t.Parallel()
	passwordHint := "password= is not an option: the user and password go before the host, as in redis://user:password@host:port/db"
	for _, tt := range []struct {
		mode, query, want string
	}{
		{"single", "foo=bar", "unknown option foo= in the query"},
		{"cluster", "foo=bar", "unknown option foo= in the query"},
		{"sentinel", "foo=bar", "unknown option foo= in the query"},
		{"single", "foo=1&bar=2", "unknown options bar=, foo= in the query"},
		{"single", "password=x", passwordHint},
		{"cluster", "password=x", passwordHint},
		{"single", "username=x", "username= is not an option: the user and password go before the host, as in redis://user:password@host:port/db"},
		{"single", "pool_size=ten", `invalid pool_size number: strconv.Atoi: parsing "ten": invalid syntax`},
		{"cluster", "read_only=maybe", `invalid read_only boolean: expected true/false/1/0 or an empty string, got "maybe"`},
		{"sentinel", "password=master-pw", ""},
	} {
		for _, m := range modes() {
			if m.name != tt.mode {
				continue
			}
			s, err := redisstore.New(m.url+tt.query, m.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("%s %s: %v", tt.mode, tt.query, err)
			case tt.want == "":
				_ = s.Close()
			case err == nil:
				_ = s.Close()
				t.Errorf("%s %s: accepted, want %q", tt.mode, tt.query, tt.want)
			case err.Error() != tt.want:
				t.Errorf("%s %s: %q, want %q", tt.mode, tt.query, err, tt.want)
			}
		}
	}
	if _, err := redisstore.New("http://:hunter2@127.0.0.1:6379", redisstore.Options{}); err == nil ||
		err.Error() != "not a redis://, rediss:// or unix:// URL" {
		t.Errorf("another scheme: %v", err)
	}
}

// TestRefusedNamesWhatRedisRefuses: a password Redis refuses or asks for, a user it does not let
// write, a database it does not have: Ping fails, and Refused says which, without the password.
// An unreachable Redis is an outage, not a refusal.
func TestRefusedNamesWhatRedisRefuses(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	addr := srv.Addr()
	for _, args := range [][]string{
		{"ACL", "SETUSER", "reader", "on", ">reader-pw", "~*", "+get"},
		{"ACL", "SETUSER", "noscript", "on", ">noscript-pw", "~*", "+@all", "-eval", "-evalsha", "-script"},
		{"ACL", "SETUSER", "noevalsha", "on", ">noevalsha-pw", "~*", "+@all", "-evalsha"},
		{"ACL", "SETUSER", "noexpire", "on", ">noexpire-pw", "~*", "+@all", "-pexpire", "-expire"},
		{"CONFIG", "SET", "requirepass", "s3cret-pw"}, // last: Do does not authenticate
	} {
		if _, err := redistest.Do(addr, args...); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, tt := range []struct {
		name, url, want string
	}{
		{"a wrong password", "redis://:wrong-pw@" + addr + "/0",
			"redis refused the user or password in the URL (WRONGPASS)"},
		{"a wrong user", "redis://nobody:s3cret-pw@" + addr + "/0",
			"redis refused the user or password in the URL (WRONGPASS)"},
		{"no password", "redis://" + addr + "/0",
			"redis asks for a password the URL does not give (NOAUTH): it goes before the host, as in redis://:password@host:port/db"},
		{"a user that may not write", "redis://reader:reader-pw@" + addr + "/0",
			"the redis user of the URL lacks a permission the store needs (NOPERM"},
		{"a user that may not run scripts", "redis://noscript:noscript-pw@" + addr + "/0",
			"the redis user of the URL lacks a permission the store needs (NOPERM"},
		{"a user that may not run scripts by their hash", "redis://noevalsha:noevalsha-pw@" + addr + "/0",
			"the redis user of the URL lacks a permission the store needs (NOPERM"},
		{"a user that may not give keys an expiry", "redis://noexpire:noexpire-pw@" + addr + "/0",
			"the redis user of the URL lacks a permission the store needs ("},
		{"a database out of range", "redis://:s3cret-pw@" + addr + "/99",
			"redis has no database 99 (ERR DB index is out of range): the server's databases setting (16 by default) bounds it"},
		{"the right password", "redis://:s3cret-pw@" + addr + "/15", ""},
		{"nothing listening", "redis://:s3cret-pw@" + closed + "/0", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, tt.url, redisstore.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			pingErr := s.Ping(ctx)
			if tt.name == "the right password" && pingErr != nil {
				t.Fatalf("Ping: %v", pingErr)
			}
			if tt.want != "" && pingErr == nil {
				t.Fatal("Ping succeeded")
			}
			err := s.Refused(pingErr)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Refused: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("Refused: %v, want %q", err, tt.want)
			}
			for _, pw := range []string{"s3cret-pw", "wrong-pw", "reader-pw", "noscript-pw", "noevalsha-pw", "noexpire-pw"} {
				if err != nil && strings.Contains(err.Error(), pw) {
					t.Errorf("Refused repeats a password: %v", err)
				}
			}
		})
	}
}

// TestRefusedOnAClusterAndBehindSentinel: the same answers reach Refused through go-redis's
// cluster client (a password every node refuses) and its failover client (a database the master
// does not have).
func TestRefusedOnAClusterAndBehindSentinel(t *testing.T) {
	t.Parallel()
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c := redistest.StartCluster(t)
		for _, a := range c.Addrs() {
			if _, err := redistest.Do(a, "CONFIG", "SET", "requirepass", "s3cret-pw"); err != nil {
				t.Fatal(err)
			}
		}
		s := open(t, strings.Replace(c.URL(), "redis://", "redis://:wrong-pw@", 1), redisstore.Options{Mode: redisstore.ModeCluster})
		want := "redis refused the user or password in the URL (WRONGPASS)"
		if err := s.Refused(s.Ping(context.Background())); err == nil || err.Error() != want {
			t.Errorf("Refused: %v, want %q", err, want)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		t.Parallel()
		g := redistest.StartSentinel(t)
		s := open(t, strings.Replace(g.URL(), "?", "/99?", 1),
			redisstore.Options{Mode: redisstore.ModeSentinel, SentinelMaster: redistest.MasterName})
		want := "redis has no database 99 (ERR DB index is out of range)"
		if err := s.Refused(s.Ping(context.Background())); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Refused: %v, want %q", err, want)
		}
		// The URL's password is the sentinels'; the message says where the master's goes.
		for _, sentinel := range g.Sentinels {
			if _, err := redistest.Do(sentinel.Addr(), "ACL", "SETUSER", "default", "resetpass", ">s3cret-pw"); err != nil {
				t.Fatal(err)
			}
		}
		s = open(t, strings.Replace(g.URL(), "redis://", "redis://:wrong-pw@", 1),
			redisstore.Options{Mode: redisstore.ModeSentinel, SentinelMaster: redistest.MasterName})
		want = "redis refused the user or password in the URL (WRONGPASS): the sentinels' go before the host, the master's in ?username= and ?password="
		if err := s.Refused(s.Ping(context.Background())); err == nil || err.Error() != want {
			t.Errorf("Refused: %v, want %q", err, want)
		}
	})
}

// TestRefusedNamesTheWrongMode: a cluster URL that names one plain Redis, and sentinels asked for a
// master they do not know, are mistakes Redis answers at once: Refused says which, rather than
// the server waiting for ever for an outage to end.
func TestRefusedNamesTheWrongMode(t *testing.T) {
	t.Parallel()
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		s := open(t, "redis://"+srv.Addr(), redisstore.Options{Mode: redisstore.ModeCluster})
		want := "REDIS_MODE is cluster, but the Redis the URL names is no cluster (its cluster support is disabled): for one server use REDIS_MODE=single"
		if err := s.Refused(s.Ping(context.Background())); err == nil || err.Error() != want {
			t.Errorf("Refused: %v, want %q", err, want)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		t.Parallel()
		g := redistest.StartSentinel(t)
		s := open(t, g.URL(), redisstore.Options{Mode: redisstore.ModeSentinel, SentinelMaster: "no-such-master"})
		want := `the sentinels know no master named "no-such-master": REDIS_SENTINEL_MASTER must be the name in their sentinel monitor line`
		if err := s.Refused(s.Ping(context.Background())); err == nil || err.Error() != want {
			t.Errorf("Refused: %v, want %q", err, want)
		}
	})
}
