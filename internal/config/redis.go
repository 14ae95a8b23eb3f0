package config

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Redis is the state replicas share; without it each replica counts alone.
type Redis struct {
	// URL names the Redis: one server (redis://, rediss:// or unix://), or, by Topology, a cluster's
	// seed nodes or the sentinels, as redis://host1:port?addr=host2:port&addr=host3:port.
	URL string `env:"REDIS_URL" refuse:"empty" secret:"true" values:"redis://[:password@]host:port/db, rediss://... (TLS) or unix:///path/to/redis.sock; cluster and sentinel: ?addr=host:port for each further node" doc:"The Redis where replicas share their state (the URL may hold a password); unset, each process keeps its state in memory."`
	// Topology is how that Redis is deployed: one of RedisModes. (Field names are unique across
	// sections: Fraud has a Mode.)
	Topology RedisMode `env:"REDIS_MODE" envDefault:"single" refuse:"empty" values:"single, cluster, sentinel" doc:"How the Redis of REDIS_URL is deployed: one server, a Redis Cluster, or behind sentinels."`
	// SentinelMaster is the name the sentinels know the master by (REDIS_MODE=sentinel only).
	SentinelMaster string `env:"REDIS_SENTINEL_MASTER" refuse:"empty" values:"a name" doc:"With REDIS_MODE=sentinel: the name the sentinels know the master by."`
	// FailOpen lets starts go on without idempotency while Redis is unreachable (their limits are then
	// counted in each replica's memory).
	FailOpen bool `env:"REDIS_FAIL_OPEN" envDefault:"false" refuse:"empty" values:"true, false" doc:"true: while Redis is unreachable, /request goes on without idempotency (its limits counted in each replica's memory) instead of answering 503."`
	// ReadyRequiresRedis fails readiness while Redis does not take a write. Off, Redis's health is
	// shown by /readyz, logged and counted, but an outage of the one Redis every replica shares
	// does not take every replica out of rotation at once.
	ReadyRequiresRedis bool `env:"READY_REQUIRES_REDIS" envDefault:"false" refuse:"empty" values:"true, false" doc:"true: /readyz fails while Redis takes no write, which takes every replica out of rotation at once when the one Redis fails."`
}

// RedisMode is how the Redis of REDIS_URL is deployed.
type RedisMode string

// The values of REDIS_MODE.
const (
	RedisSingle   RedisMode = "single"
	RedisCluster  RedisMode = "cluster"
	RedisSentinel RedisMode = "sentinel"
)

// RedisModes are the values REDIS_MODE may take.
var RedisModes = []RedisMode{RedisSingle, RedisCluster, RedisSentinel}

func (r *Redis) normalise() {
	r.URL = strings.TrimSpace(r.URL)
	r.Topology = RedisMode(strings.ToLower(strings.TrimSpace(string(r.Topology))))
	r.SentinelMaster = strings.TrimSpace(r.SentinelMaster)
}

// validate names the variable of each problem. The URL may hold a password: no message repeats it,
// nor any part of it.
func (r Redis) validate() []error {
	var bad problems
	if r.Topology == "" {
		r.Topology = RedisSingle // a Config made in code rather than loaded
	}
	if !slices.Contains(RedisModes, r.Topology) {
		oneOf(&bad, "REDIS_MODE", r.Topology, RedisModes)
		return bad
	}
	switch {
	case r.Topology == RedisSentinel && r.SentinelMaster == "":
		bad.add("REDIS_MODE=sentinel needs REDIS_SENTINEL_MASTER, the name the sentinels know the master by")
	case r.Topology != RedisSentinel && r.SentinelMaster != "":
		bad.add("REDIS_SENTINEL_MASTER is only read with REDIS_MODE=sentinel")
	}
	if r.URL == "" {
		if r.Topology != RedisSingle {
			bad.add("REDIS_MODE=%s needs REDIS_URL", r.Topology)
		}
		if r.ReadyRequiresRedis {
			bad.add("READY_REQUIRES_REDIS=true needs REDIS_URL: there is no Redis to require")
		}
		return bad
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		bad.add("REDIS_URL is not a URL")
		return bad
	}
	if u.Scheme == "unix" {
		if r.Topology != RedisSingle {
			bad.add("REDIS_URL: a unix:// socket is one Redis; REDIS_MODE=%s needs redis:// or rediss://", r.Topology)
			return bad
		}
		if u.Path == "" {
			bad.add("REDIS_URL must be unix:///path/to/redis.sock")
		}
		if db := u.Query().Get("db"); db != "" && !validRedisDB(db) {
			bad.add("REDIS_URL: ?db= must be a number, such as 0")
		}
		return bad
	}
	query := u.Query()
	switch {
	case (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
		bad.add("REDIS_URL must be %s", redisURLForm[r.Topology])
	case !validPort(u.Port()):
		bad.add("REDIS_URL: the port must be between 1 and 65535")
	case r.Topology == RedisCluster && strings.Trim(u.Path, "/") != "" && strings.Trim(u.Path, "/") != "0":
		bad.add("REDIS_URL: a Redis Cluster has only database 0; remove the database after the host")
	case !validRedisDB(u.Path):
		bad.add("REDIS_URL: the database after the host must be a number, such as /0")
	case r.Topology == RedisSingle && query.Has("addr"):
		bad.add("REDIS_URL: addr= names more servers, which only REDIS_MODE=cluster or sentinel reads")
	case query.Has("master_name"):
		bad.add("REDIS_URL: name the master in REDIS_SENTINEL_MASTER, not with master_name=")
	}
	for _, addr := range query["addr"] {
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" || !validPort(port) {
			bad.add("REDIS_URL: each addr= must be host:port, with a port between 1 and 65535")
			break
		}
	}
	return bad
}

// redisURLForm is what REDIS_URL looks like in each mode.
var redisURLForm = map[RedisMode]string{
	RedisSingle:   "redis://host:port/db, rediss://host:port/db or unix:///path/to/redis.sock",
	RedisCluster:  "redis://host1:port?addr=host2:port&addr=host3:port (some of the cluster's nodes; rediss:// for TLS)",
	RedisSentinel: "redis://sentinel1:port/db?addr=sentinel2:port&addr=sentinel3:port (the sentinels; rediss:// for TLS)",
}

// validRedisDB accepts no database (0) or a database number, as the path of a redis:// URL.
func validRedisDB(path string) bool {
	db := strings.TrimPrefix(path, "/")
	if db == "" {
		return true
	}
	n, err := strconv.Atoi(db)
	return err == nil && n >= 0
}
