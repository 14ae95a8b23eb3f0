package config

// Memory is the state this process keeps itself: all of it without REDIS_URL, and the limits
// counted meanwhile when Redis fails.
type Memory struct {
	// MaxKeys bounds the in-memory store whatever the traffic. A key is a rate-limit window, an
	// idempotency record, a verification, a session or a fraud count of about 350 bytes at most
	// (more for those that hold more, which count for several); the default keeps the store under
	// about 64 MB. Past it, windows of client IPs and request_ids go first, and what guards spend is
	// never dropped: starts are refused instead.
	MaxKeys int `env:"MEMORY_STORE_MAX_KEYS" envDefault:"150000" refuse:"empty" values:"1000 or more (keys, not bytes)" doc:"The most keys the in-memory state holds, about 350 bytes each at most (the default stays under about 64 MB); past it, starts are refused rather than a guard forgotten."`
}

// minMemoryKeys is the smallest ceiling that holds more than a handful of starts (each keeps a few
// keys until its windows pass): a value below it is taken for a size in bytes or megabytes.
const minMemoryKeys = 1000

func (m Memory) validate() []error {
	var bad problems
	if m.MaxKeys < minMemoryKeys {
		bad.add("MEMORY_STORE_MAX_KEYS must be at least %d (it counts keys, not bytes: the default 150000 "+
			"keeps the store under about 64 MB), got %d", minMemoryKeys, m.MaxKeys)
	}
	return bad
}
