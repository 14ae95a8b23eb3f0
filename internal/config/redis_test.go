package config_test

import (
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

func TestRedisModesAndTheirURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    map[string]string
		mode   config.RedisMode
		master string
	}{
		{"single by default", map[string]string{"REDIS_URL": "redis://:secretpw@10.0.0.5:6379/2"}, config.RedisSingle, ""},
		{"single over TLS", map[string]string{"REDIS_URL": "rediss://redis.internal:6380/0"}, config.RedisSingle, ""},
		{"single on a unix socket", map[string]string{"REDIS_URL": "unix:///run/redis/redis.sock?db=1"}, config.RedisSingle, ""},
		{"a mode in any case", map[string]string{"REDIS_URL": "redis://10.0.0.5:6379", "REDIS_MODE": " Single "}, config.RedisSingle, ""},
		{"cluster seed nodes", map[string]string{"REDIS_MODE": "cluster",
			"REDIS_URL": "redis://:secretpw@host1:7000?addr=host2:7001&addr=host3:7002"}, config.RedisCluster, ""},
		{"cluster over TLS with database 0", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "rediss://host1:7000/0"}, config.RedisCluster, ""},
		{"sentinels and the master's name", map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "mymaster",
			"REDIS_URL": "redis://s1:26379/0?addr=s2:26379&addr=s3:26379&password=secretpw"}, config.RedisSentinel, "mymaster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(envOf(sandboxEnv(tt.env)))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Redis.Topology != tt.mode || cfg.Redis.SentinelMaster != tt.master {
				t.Errorf("mode %q master %q, want %q %q", cfg.Redis.Topology, cfg.Redis.SentinelMaster, tt.mode, tt.master)
			}
		})
	}
}

func TestRedisSettingsRefusedNameTheVariableNotThePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"an unknown mode", map[string]string{"REDIS_URL": "redis://h:6379", "REDIS_MODE": "ring"},
			`REDIS_MODE must be one of single, cluster, sentinel, got "ring"`},
		{"a mode set but empty", map[string]string{"REDIS_MODE": ""}, "REDIS_MODE is set but empty"},
		{"cluster without a URL", map[string]string{"REDIS_MODE": "cluster"}, "REDIS_MODE=cluster needs REDIS_URL"},
		{"sentinel without its master", map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://:secretpw@s1:26379"},
			"REDIS_MODE=sentinel needs REDIS_SENTINEL_MASTER"},
		{"a master without sentinel", map[string]string{"REDIS_URL": "redis://h:6379", "REDIS_SENTINEL_MASTER": "mymaster"},
			"REDIS_SENTINEL_MASTER is only read with REDIS_MODE=sentinel"},
		{"the master set but empty", map[string]string{"REDIS_SENTINEL_MASTER": ""}, "REDIS_SENTINEL_MASTER is set but empty"},
		{"the master named in the URL", map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "m",
			"REDIS_URL": "redis://:secretpw@s1:26379?master_name=m"}, "REDIS_SENTINEL_MASTER, not with master_name="},
		{"more servers for a single Redis", map[string]string{"REDIS_URL": "redis://:secretpw@h1:6379?addr=h2:6379"},
			"only REDIS_MODE=cluster or sentinel"},
		{"a cluster database", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://:secretpw@h1:7000/3"},
			"a Redis Cluster has only database 0"},
		{"a seed node without a port", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://:secretpw@h1:7000?addr=h2"},
			"each addr= must be host:port"},
		{"a seed node port out of range", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://h1:7000?addr=h2:70000"},
			"each addr= must be host:port"},
		{"a cluster on a unix socket", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "unix:///run/redis.sock"},
			"a unix:// socket is one Redis"},
		{"a unix socket without a path", map[string]string{"REDIS_URL": "unix://secretpw@"}, "unix:///path/to/redis.sock"},
		{"a unix socket database that is not a number", map[string]string{"REDIS_URL": "unix:///run/redis.sock?db=x"}, "?db= must be a number"},
		{"another scheme in cluster mode", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "http://:secretpw@h:7000"},
			"REDIS_URL must be redis://host1:port?addr=host2:port"},
		{"readiness requiring a Redis there is not", map[string]string{"READY_REQUIRES_REDIS": "true"},
			"READY_REQUIRES_REDIS=true needs REDIS_URL"},
		{"readiness not a bool", map[string]string{"REDIS_URL": "redis://h:6379", "READY_REQUIRES_REDIS": "yes please"},
			"READY_REQUIRES_REDIS must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(envOf(sandboxEnv(tt.env)))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error repeats the Redis password: %q", err)
			}
		})
	}
}

// TestReadinessDoesNotRequireRedisByDefault: a Redis outage leaves the replicas in rotation unless
// the operator asks otherwise.
func TestReadinessDoesNotRequireRedisByDefault(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(sandboxEnv(map[string]string{"REDIS_URL": "redis://h:6379"})))
	if err != nil || cfg.Redis.ReadyRequiresRedis || cfg.Redis.Topology != config.RedisSingle {
		t.Fatalf("defaults: %+v %v", cfg.Redis, err)
	}
	cfg, err = config.Load(envOf(sandboxEnv(map[string]string{"REDIS_URL": "redis://h:6379", "READY_REQUIRES_REDIS": "true"})))
	if err != nil || !cfg.Redis.ReadyRequiresRedis {
		t.Fatalf("READY_REQUIRES_REDIS=true: %+v %v", cfg.Redis, err)
	}
	for _, v := range config.Variables() {
		if v.Name == "REDIS_MODE" && (v.Default != "single" || v.Section != "Redis") {
			t.Errorf("REDIS_MODE listed as %+v", v)
		}
	}
}
