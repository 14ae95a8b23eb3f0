package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MasterName is the name the sentinels of StartSentinel monitor their master by.
const MasterName = "verify-proxy-test"

// Sentinel is a master, one replica and three sentinels monitoring them with a quorum of two.
// A master that stops answering is failed over within a few seconds: down after 500 ms.
type Sentinel struct {
	t         testing.TB
	Data      []*Server // the master and the replica, as started; a failover swaps their roles
	Sentinels []*Server
}

// StartSentinel runs the group and waits until every sentinel knows the replica and the other two
// sentinels, so that a failover can be agreed on at once.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := need(t, "redis-server", "redis-server", "redis")
	sentinelBin := need(t, "redis-sentinel", "redis-sentinel", "redis")
	g := &Sentinel{t: t}
	master := startServer(t, bin, plain)
	replica := startServer(t, bin, func(port, dir string) []string {
		return append(plain(port, dir), "--replicaof", "127.0.0.1", master.port)
	})
	g.Data = []*Server{master, replica}
	waitFor(t, "the replica follows the master", 10*time.Second, func() bool {
		return info(replica.Addr(), "replication", "master_link_status") == "up"
	})
	for range 3 {
		g.Sentinels = append(g.Sentinels, startServer(t, sentinelBin, func(port, dir string) []string {
			conf := filepath.Join(dir, "sentinel.conf")
			text := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %s 127.0.0.1 %s 2\n"+
				"sentinel down-after-milliseconds %s 500\n"+
				"sentinel failover-timeout %s 3000\n"+
				"sentinel parallel-syncs %s 1\n",
				port, dir, MasterName, master.port, MasterName, MasterName, MasterName)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{conf, "--loglevel", "warning"}
		}))
	}
	for _, s := range g.Sentinels {
		waitFor(t, "sentinel "+s.Addr()+" knows the replica and the other sentinels", 15*time.Second, func() bool {
			text, err := command(s.Addr(), "INFO", "sentinel")
			return err == nil && strings.Contains(text, "slaves=1,sentinels=3")
		})
	}
	return g
}

// URL lists the sentinels in go-redis's form: redis://sentinel1?addr=sentinel2&addr=sentinel3.
// The master's name is MasterName.
func (g *Sentinel) URL() string {
	addrs := make([]string, len(g.Sentinels))
	for i, s := range g.Sentinels {
		addrs[i] = s.Addr()
	}
	return seedURL(addrs)
}

// Master is the server the sentinels name master now.
func (g *Sentinel) Master() *Server {
	g.t.Helper()
	for _, s := range g.Sentinels {
		text, err := command(s.Addr(), "INFO", "sentinel")
		if err != nil {
			continue
		}
		for _, d := range g.Data {
			if strings.Contains(text, ",address="+d.Addr()+",") {
				return d
			}
		}
	}
	g.t.Fatal("no sentinel names a master that answers")
	return nil
}

// Replica is the data server that is not Master.
func (g *Sentinel) Replica() *Server {
	g.t.Helper()
	m := g.Master()
	for _, d := range g.Data {
		if d != m {
			return d
		}
	}
	return nil
}

// Synced waits until the replica has every write the master took, so that a failover loses none.
func (g *Sentinel) Synced() {
	g.t.Helper()
	if n, err := command(g.Master().Addr(), "WAIT", "1", "5000"); err != nil || n != "1" {
		g.t.Fatalf("WAIT for the replica: %q %v", n, err)
	}
}

// Flush empties the master (the replica follows), for a test that reuses the group.
func (g *Sentinel) Flush(t testing.TB) {
	t.Helper()
	if _, err := command(g.Master().Addr(), "FLUSHALL"); err != nil {
		t.Fatalf("flush: %v", err)
	}
	g.Synced()
}

// KillMaster kills the master's process, and answers the server that was master. The sentinels
// promote the replica within seconds; WaitForFailover waits for it.
func (g *Sentinel) KillMaster() *Server {
	g.t.Helper()
	m := g.Master()
	m.Stop()
	return m
}

// WaitForFailover waits until every sentinel names old's replica the master, and answers how long
// that took.
func (g *Sentinel) WaitForFailover(old *Server) time.Duration {
	g.t.Helper()
	began := time.Now()
	var promoted *Server
	for _, d := range g.Data {
		if d != old {
			promoted = d
		}
	}
	waitFor(g.t, "the sentinels promote the replica", 15*time.Second, func() bool {
		for _, s := range g.Sentinels {
			text, err := command(s.Addr(), "INFO", "sentinel")
			if err != nil || !strings.Contains(text, "address="+promoted.Addr()+",") {
				return false
			}
		}
		return info(promoted.Addr(), "replication", "role") == "master"
	})
	return time.Since(began)
}
