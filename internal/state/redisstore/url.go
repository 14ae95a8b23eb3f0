package redisstore

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxConns bounds every count of connections the URL may set, per Redis server: it is Redis's own
// default maxclients, so a larger pool could not fill on a default server. go-redis takes the
// numbers as they come: a negative pool_size panics in NewClient, one above 2^31-1 fails it, and
// a pool of 10^8 exhausts memory before the first command.
const maxConns = 10_000

// maxSpan bounds every duration the URL may set: a day is longer than any sensible pool timeout,
// backoff or connection lifetime, and go-redis doubles conn_max_lifetime_jitter, which overflows
// (and fails every dial) above 146 years.
const maxSpan = 24 * time.Hour

// unbounded marks a number with no upper bound.
const unbounded = math.MaxInt

// urlForm answers what a URL of mode looks like, for messages, and the schemes it may have.
func urlForm(mode Mode) (want string, schemes []string, ok bool) {
	switch mode {
	case ModeSingle:
		return "a redis://, rediss:// or unix:// URL", []string{"redis", "rediss", "unix"}, true
	case ModeCluster:
		return "a redis:// or rediss:// URL of the seed nodes", []string{"redis", "rediss"}, true
	case ModeSentinel:
		return "a redis:// or rediss:// URL of the sentinels", []string{"redis", "rediss"}, true
	}
	return "", nil, false
}

// parseError is go-redis's complaint about a URL whose scheme is right, told as what is wrong in
// it. url.Parse's errors repeat the URL, which may hold a password: then only what was expected.
func parseError(err error, mode Mode, want string) error {
	if _, ok := errors.AsType[*url.Error](err); ok {
		return errors.New("not " + want)
	}
	msg := strings.TrimPrefix(err.Error(), "redis: ")
	rest, ok := strings.CutPrefix(msg, "unexpected option: ")
	if !ok {
		return errors.New(msg)
	}
	names := strings.Split(rest, ", ")
	for _, name := range names {
		// With sentinels, username= and password= are the master's: the userinfo is the sentinels'.
		if mode != ModeSentinel && (name == "password" || name == "username") {
			return fmt.Errorf("%s= is not an option: the user and password go before the host, as in redis://user:password@host:port/db", name)
		}
	}
	if len(names) == 1 {
		return fmt.Errorf("unknown option %s= in the query", names[0])
	}
	return fmt.Errorf("unknown options %s= in the query", strings.Join(names, "=, "))
}

// pool is what go-redis's three kinds of options share, as its URL parsers left them.
type pool struct {
	size, minIdle, maxIdle, maxActive, dials, protocol      int
	minBackoff, maxBackoff, timeout, idle, life, lifeJitter time.Duration
	dial, read, write                                       time.Duration // the store sets its own; checked all the same
}

// number is one whole-number option of the query as go-redis read it, and its allowed range.
type number struct {
	name     string
	got      int
	min, max int // max unbounded: no upper bound
}

// checkQuery refuses the numbers of the query that go-redis would take and then panic on, fail
// every command with, or read as nonsense; more names options of one mode (a cluster's
// max_redirects). Plain numbers of 0 or less given for a duration reach here as -1 (go-redis's
// "off"), and are accepted.
func checkQuery(q url.Values, p pool, more ...number) error {
	numbers := append([]number{
		{"pool_size", p.size, 0, maxConns},
		{"min_idle_conns", p.minIdle, 0, maxConns},
		{"max_idle_conns", p.maxIdle, 0, maxConns},
		{"max_active_conns", p.maxActive, 0, maxConns},
		{"max_concurrent_dials", p.dials, 0, maxConns},
	}, more...)
	for _, n := range numbers {
		switch {
		case n.got >= n.min && n.got <= n.max:
		case n.max == unbounded:
			return fmt.Errorf("%s must be %d or more, got %d", n.name, n.min, n.got)
		default:
			return fmt.Errorf("%s must be %d to %d, got %d", n.name, n.min, n.max, n.got)
		}
	}
	// 0 is go-redis's default (3), and so is an empty value: written, it must say which.
	if q.Has("protocol") && p.protocol != 2 && p.protocol != 3 {
		return fmt.Errorf("protocol must be 2 or 3, got %q", q.Get("protocol"))
	}
	for _, d := range []struct {
		name string
		got  time.Duration
	}{
		{"min_retry_backoff", p.minBackoff},
		{"max_retry_backoff", p.maxBackoff},
		{"pool_timeout", p.timeout},
		{alias(q, "conn_max_idle_time", "idle_timeout"), p.idle},
		{alias(q, "conn_max_lifetime", "max_conn_age"), p.life},
		{"conn_max_lifetime_jitter", p.lifeJitter},
		{"dial_timeout", p.dial},
		{"read_timeout", p.read},
		{"write_timeout", p.write},
	} {
		if d.got != -1 && (d.got < 0 || d.got > maxSpan) {
			return fmt.Errorf("%s must be 0s to 24h, got %s", d.name, d.got)
		}
	}
	return nil
}

// alias is the name the query gave an option go-redis also reads under an older name.
func alias(q url.Values, name, old string) string {
	if !q.Has(name) && q.Has(old) {
		return old
	}
	return name
}

// Refused answers, for an error of Ping, the mistake in the URL that Redis's answer shows: a
// password Redis refuses or asks for, a user without the permissions the store needs, a database
// Redis does not have. Waiting mends none of them, unlike an outage. It answers nil for nil and
// for any other error, and never repeats the password.
func (s *Store) Refused(err error) error {
	if err == nil {
		return nil
	}
	// Sentinels that answer nil for the master's address know no master of that name; unreachable
	// ones fail to dial instead.
	if s.sentinel && strings.Contains(err.Error(), "all sentinels") && strings.HasSuffix(err.Error(), redis.Nil.Error()) {
		return fmt.Errorf("the sentinels know no master named %q: REDIS_SENTINEL_MASTER must be the name in their sentinel monitor line", s.master)
	}
	rerr, ok := errors.AsType[redis.Error](err)
	if !ok {
		return nil
	}
	reply := rerr.Error()
	switch {
	case strings.Contains(reply, "cluster support disabled"):
		return errors.New("REDIS_MODE is cluster, but the Redis the URL names is no cluster (its cluster support is disabled): for one server use REDIS_MODE=single")
	case redis.IsAuthError(err) && strings.HasPrefix(reply, "NOAUTH"):
		if s.sentinel {
			return errors.New("redis asks for a password the URL does not give (NOAUTH): the sentinels' goes before the host, as in redis://:password@host:port/db, the master's in ?password=")
		}
		return errors.New("redis asks for a password the URL does not give (NOAUTH): it goes before the host, as in redis://:password@host:port/db")
	case redis.IsAuthError(err):
		if s.sentinel {
			return fmt.Errorf("redis refused the user or password in the URL (%s): the sentinels' go before the host, the master's in ?username= and ?password=", firstWord(reply))
		}
		return fmt.Errorf("redis refused the user or password in the URL (%s)", firstWord(reply))
	case redis.IsPermissionError(err) || strings.Contains(reply, "user executing the script"):
		return fmt.Errorf("the redis user of the URL lacks a permission the store needs (%s): it reads and writes the keys %s*, in scripts", reply, prefix)
	case strings.Contains(reply, "DB index"):
		return fmt.Errorf("redis has no database %d (%s): the server's databases setting (16 by default) bounds it", s.db, reply)
	}
	return nil
}

// firstWord is the code of a Redis error reply, such as WRONGPASS.
func firstWord(reply string) string {
	code, _, _ := strings.Cut(reply, " ")
	return code
}
