package config_test

import (
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

// TestCeilingsOnMemory: the store's and the connections' ceilings have their defaults, and a value
// that cannot be one is refused with the variable named.
func TestCeilingsOnMemory(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(map[string]string{"VERIFY_BACKEND": "sandbox"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Memory.MaxKeys != 150_000 || cfg.HTTP.MaxConnections != 4096 || cfg.HTTP.MaxIdleConnections != 1024 {
		t.Fatalf("defaults: MEMORY_STORE_MAX_KEYS %d, MAX_CONNECTIONS %d, MAX_IDLE_CONNECTIONS %d",
			cfg.Memory.MaxKeys, cfg.HTTP.MaxConnections, cfg.HTTP.MaxIdleConnections)
	}
	// MAX_IDLE_CONNECTIONS above MAX_CONNECTIONS is no mistake: it changes nothing, so that lowering
	// MAX_CONNECTIONS alone keeps working.
	cfg, err = config.Load(envOf(map[string]string{"VERIFY_BACKEND": "sandbox", "MEMORY_STORE_MAX_KEYS": "500000",
		"MAX_CONNECTIONS": "50", "MAX_IDLE_CONNECTIONS": "100"}))
	if err != nil || cfg.Memory.MaxKeys != 500_000 || cfg.HTTP.MaxConnections != 50 || cfg.HTTP.MaxIdleConnections != 100 {
		t.Fatalf("set: %+v %+v %v", cfg.Memory, cfg.HTTP, err)
	}
	for _, tt := range []struct{ name, value, want string }{
		{"MEMORY_STORE_MAX_KEYS", "", "MEMORY_STORE_MAX_KEYS is set but empty"},
		{"MEMORY_STORE_MAX_KEYS", "0", "MEMORY_STORE_MAX_KEYS must be at least 1000"},
		{"MEMORY_STORE_MAX_KEYS", "64", "it counts keys, not bytes"},
		{"MEMORY_STORE_MAX_KEYS", "64MB", "MEMORY_STORE_MAX_KEYS"},
		{"MAX_CONNECTIONS", "", "MAX_CONNECTIONS is set but empty"},
		{"MAX_CONNECTIONS", "0", "MAX_CONNECTIONS must be at least 1, got 0"},
		{"MAX_CONNECTIONS", "-5", "MAX_CONNECTIONS must be at least 1, got -5"},
		{"MAX_CONNECTIONS", "many", "MAX_CONNECTIONS"},
		{"MAX_IDLE_CONNECTIONS", "", "MAX_IDLE_CONNECTIONS is set but empty"},
		{"MAX_IDLE_CONNECTIONS", "0", "MAX_IDLE_CONNECTIONS must be at least 1, got 0"},
		{"MAX_IDLE_CONNECTIONS", "-1", "MAX_IDLE_CONNECTIONS must be at least 1, got -1"},
		{"MAX_IDLE_CONNECTIONS", "some", "MAX_IDLE_CONNECTIONS"},
	} {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(envOf(map[string]string{"VERIFY_BACKEND": "sandbox", tt.name: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	listed := map[string]string{}
	for _, v := range config.Variables() {
		listed[v.Name] = v.Section + " " + v.Default
	}
	if listed["MEMORY_STORE_MAX_KEYS"] != "Memory 150000" || listed["MAX_CONNECTIONS"] != "HTTP 4096" ||
		listed["MAX_IDLE_CONNECTIONS"] != "HTTP 1024" {
		t.Errorf("Variables lists %q, %q and %q", listed["MEMORY_STORE_MAX_KEYS"], listed["MAX_CONNECTIONS"], listed["MAX_IDLE_CONNECTIONS"])
	}
}
