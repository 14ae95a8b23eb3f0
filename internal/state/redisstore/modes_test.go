package redisstore_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/state/storetest"
)

// These tests run the store on a Redis Cluster of three masters and behind Redis Sentinel, each
// started for the test (see redistest). The conformance suite's tests run one after the other, so
// they share one cluster (or one sentinel group), emptied before each.

func TestConformanceOnACluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) state.Store {
		c.Flush(t)
		everyKeyExpires(t, c.Addrs()...)
		return open(t, c.URL(), redisstore.Options{Mode: redisstore.ModeCluster, Now: now})
	})
}

func TestConformanceBehindSentinel(t *testing.T) {
	t.Parallel()
	g := redistest.StartSentinel(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) state.Store {
		g.Flush(t)
		everyKeyExpires(t, g.Master().Addr())
		return open(t, g.URL(), redisstore.Options{Mode: redisstore.ModeSentinel, SentinelMaster: redistest.MasterName, Now: now})
	})
}

func open(t *testing.T, url string, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// everyKeyExpires checks, when the test ends, that every key on the Redis servers at addrs carries
// an expiry: state is short-lived, and a key without one would stay for ever (redis-cli --scan and
// TTL, through go-redis).
func everyKeyExpires(t *testing.T, addrs ...string) {
	t.Helper()
	t.Cleanup(func() { checkEveryKeyExpires(t, addrs...) })
}

// checkEveryKeyExpires is everyKeyExpires at once.
func checkEveryKeyExpires(t *testing.T, addrs ...string) {
	t.Helper()
	ctx := context.Background()
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		iter := c.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			if ttl, err := c.PTTL(ctx, iter.Val()).Result(); err == nil && ttl == -1 {
				t.Errorf("key %s on %s has no expiry", iter.Val(), addr)
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan %s: %v", addr, err)
		}
		_ = c.Close()
	}
}

// TestPingCountsEveryKeyItWrites: readiness writes keys too, and they expire.
func TestPingCountsEveryKeyItWrites(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	everyKeyExpires(t, srv.Addr())
	if err := newStore(t, srv, redisstore.Options{}).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestTwoReplicasOnOneClusterCountOneLimit: two stores on one cluster, as two replicas, take calls
// in turn under limits whose windows live on different masters; together they admit each limit's
// count, and a refusal by one limit leaves nothing behind in the others.
func TestTwoReplicasOnOneClusterCountOneLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.StartCluster(t)
	opts := redisstore.Options{Mode: redisstore.ModeCluster}
	a, b := open(t, c.URL(), opts), open(t, c.URL(), opts)
	everyKeyExpires(t, c.Addrs()...)

	// The three windows sit on three masters, or the test proves nothing about a cluster.
	keys := onEveryMaster(t, c, "ip:", "number:", "country:")
	ip := state.Rule{Key: keys[0], Limit: state.Limit{Count: 5, Window: time.Hour}}
	number := state.Rule{Key: keys[1], Limit: state.Limit{Count: 3, Window: time.Hour}}
	country := state.Rule{Key: keys[2], Limit: state.Limit{Count: 100, Window: time.Hour}}
	rules := []state.Rule{ip, number, country}

	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			d, err := s.Take(ctx, rules)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				mu.Lock()
				admitted++
				mu.Unlock()
			} else if d.Rule != 1 && d.Rule != 0 {
				t.Errorf("refused by rule %d", d.Rule)
			}
		})
	}
	wg.Wait()
	if admitted != 3 {
		t.Fatalf("two replicas admitted %d calls under a limit of 3", admitted)
	}
	// The refused calls were given back by the rules that had admitted them: the per-IP window
	// holds the 3 admitted calls, and 2 more fit.
	for i, want := range []bool{true, true, false} {
		d, err := b.Take(ctx, []state.Rule{ip})
		if err != nil || d.Allowed != want {
			t.Fatalf("per-IP call %d after the race: %+v %v, want allowed=%v", i+1, d, err, want)
		}
	}
	if d, err := a.Take(ctx, []state.Rule{country}); err != nil || !d.Allowed {
		t.Fatalf("the country window: %+v %v", d, err)
	}
}

// onEveryMaster names one limit key for each of prefixes, whose windows live on different masters.
func onEveryMaster(t *testing.T, c *redistest.Cluster, prefixes ...string) []string {
	t.Helper()
	taken := map[string]bool{}
	keys := make([]string, len(prefixes))
	for i, p := range prefixes {
		for n := 0; keys[i] == ""; n++ {
			key := p + strconv.Itoa(n)
			if owner := clusterOwner(t, c, "verify-proxy:rl:"+key); !taken[owner] {
				taken[owner], keys[i] = true, key
			}
		}
	}
	return keys
}

// clusterOwner is the address of the node that serves key: a node answers GET of a key it serves,
// and MOVED for one it does not.
func clusterOwner(t *testing.T, c *redistest.Cluster, key string) string {
	t.Helper()
	for _, n := range c.Nodes {
		if _, err := redistest.Do(n.Addr(), "GET", key); err == nil || !strings.HasPrefix(err.Error(), "MOVED") {
			return n.Addr()
		}
	}
	t.Fatalf("no node serves %s", key)
	return ""
}

// TestPingAsksEveryMasterOfACluster: readiness is a write on every master; one that is gone fails it.
func TestPingAsksEveryMasterOfACluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.StartCluster(t)
	s := open(t, c.URL(), redisstore.Options{Mode: redisstore.ModeCluster})
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if size, err := redistest.Do(n.Addr(), "DBSIZE"); err != nil || size != "1" {
			t.Errorf("node %s holds %s keys after a ping (%v), want its own ready key", n.Addr(), size, err)
		}
	}
	checkEveryKeyExpires(t, c.Addrs()...)
	c.Nodes[2].Stop()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("a cluster with a master gone passed the ping")
	}
}

// TestAFailoverIsSurvivedWithoutCountingTwice: the master dies with a limit half used; once the
// sentinels promote its replica (within 10 s) the store takes calls again, and the limit admits
// exactly its count over the failover: none lost, none counted twice.
func TestAFailoverIsSurvivedWithoutCountingTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := redistest.StartSentinel(t)
	s := open(t, g.URL(), redisstore.Options{Mode: redisstore.ModeSentinel, SentinelMaster: redistest.MasterName})
	rules := []state.Rule{{Key: "number:failover", Limit: state.Limit{Count: 4, Window: time.Hour}}}
	admitted := 0
	for range 2 {
		if d, err := s.Take(ctx, rules); err != nil || !d.Allowed {
			t.Fatalf("before the failover: %+v %v", d, err)
		}
		admitted++
	}
	g.Synced()
	g.KillMaster()
	killed := time.Now()
	failed := 0
	for {
		d, err := s.Take(ctx, rules)
		if err == nil {
			if !d.Allowed {
				t.Fatalf("the first call after the failover was refused: %+v", d)
			}
			admitted++
			break
		}
		if !strings.Contains(err.Error(), state.ErrUnavailable.Error()) {
			t.Fatalf("during the failover: %v, want state.ErrUnavailable", err)
		}
		failed++
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("no call succeeded within 10s of the master's death (%d failed): %v", failed, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("calls succeed again %s after the master died (%d refused meanwhile)", time.Since(killed).Round(10*time.Millisecond), failed)
	for {
		d, err := s.Take(ctx, rules)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			break
		}
		admitted++
	}
	if admitted != 4 {
		t.Fatalf("a limit of 4 admitted %d calls over a failover", admitted)
	}
}

// TestTLSToAPlainServerIsNamed: a rediss:// URL to a Redis that does not speak TLS is found out
// and named, where go-redis would wait out its handshake; a TLS server and a plain URL are not.
func TestTLSToAPlainServerIsNamed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	s := open(t, "rediss://"+srv.Addr()+"/0", redisstore.Options{})
	if err := s.Ping(ctx); err == nil {
		t.Fatal("TLS to a plain server answered")
	}
	if addr, found := s.NotTLS(ctx); !found || addr != srv.Addr() {
		t.Fatalf("NotTLS: %q %v, want %s", addr, found, srv.Addr())
	}
	if _, found := open(t, srv.URL(), redisstore.Options{}).NotTLS(ctx); found {
		t.Fatal("a redis:// URL was reported")
	}
	tlsServer := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsServer.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	tlsServer.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake PING causes is expected
	tlsServer.StartTLS()
	t.Cleanup(tlsServer.Close)
	if _, found := open(t, "rediss://"+tlsServer.Listener.Addr().String(), redisstore.Options{}).NotTLS(ctx); found {
		t.Fatal("a server that speaks TLS was reported")
	}
	cluster := open(t, "rediss://127.0.0.1:1?addr="+srv.Addr(), redisstore.Options{Mode: redisstore.ModeCluster})
	if addr, found := cluster.NotTLS(ctx); !found || addr != srv.Addr() {
		t.Fatalf("a cluster's seed: %q %v", addr, found)
	}
	// Nothing listening is an outage, not a mistake in the URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, found := open(t, "rediss://"+closed, redisstore.Options{}).NotTLS(ctx); found {
		t.Fatal("a closed port was reported as plain text")
	}
}

func TestNewNeedsTheSentinelMasterAndAKnownMode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url  string
		opts redisstore.Options
		want string
	}{
		{"redis://127.0.0.1:26379", redisstore.Options{Mode: redisstore.ModeSentinel}, "name of the master"},
		{"redis://127.0.0.1:6379", redisstore.Options{Mode: "ring"}, "unknown mode"},
		{"unix:///run/redis.sock", redisstore.Options{Mode: redisstore.ModeCluster}, "not a redis:// or rediss:// URL"},
		{"redis://:hunter2@127.0.0.1:7000?addr=nonsense", redisstore.Options{Mode: redisstore.ModeCluster}, "addr"},
	} {
		_, err := redisstore.New(tt.url, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("New(%q, %+v): %v, want %q and no password", tt.url, tt.opts, err, tt.want)
		}
	}
	if _, err := redisstore.New("unix:///run/redis.sock?db=2", redisstore.Options{}); err != nil {
		t.Errorf("a unix socket: %v", err)
	}
}
