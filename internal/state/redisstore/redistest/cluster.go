package redistest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of three masters without replicas, each slot served by one of them.
type Cluster struct {
	Nodes []*Server
}

// StartCluster runs three redis-server processes with cluster-enabled, joins them with
// `redis-cli --cluster create`, and waits until every node reports cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := need(t, "redis-server", "redis-server", "redis")
	cli := need(t, "redis-cli", "redis-tools", "redis")
	c := &Cluster{}
	for range 3 {
		c.Nodes = append(c.Nodes, startServer(t, bin, func(port, dir string) []string {
			return append(plain(port, dir), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		waitFor(t, "cluster_state:ok on "+n.Addr(), 10*time.Second, func() bool {
			text, err := command(n.Addr(), "CLUSTER", "INFO")
			return err == nil && strings.Contains(text, "cluster_state:ok")
		})
	}
	return c
}

// Addrs are host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// URL lists the nodes in go-redis's cluster URL form: redis://node1?addr=node2&addr=node3.
func (c *Cluster) URL() string { return seedURL(c.Addrs()) }

// Flush empties every node, for a test that reuses the cluster.
func (c *Cluster) Flush(t testing.TB) {
	t.Helper()
	for _, n := range c.Nodes {
		if _, err := command(n.Addr(), "FLUSHALL"); err != nil {
			t.Fatalf("flush %s: %v", n.Addr(), err)
		}
	}
}

// seedURL is redis://first?addr=second&addr=..., the form go-redis reads for a cluster's seed
// nodes and for sentinels.
func seedURL(addrs []string) string {
	u := "redis://" + addrs[0]
	for i, a := range addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}
