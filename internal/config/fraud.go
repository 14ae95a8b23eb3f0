package config

import (
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
)

// Fraud is the fraud guard: it pauses verifications to a number prefix or a country whose starts
// stop being verified, the mark of SMS pumping.
type Fraud struct {
	Mode guard.FraudMode `env:"FRAUD_GUARD" envDefault:"enforce" refuse:"empty" values:"enforce, shadow, off" doc:"enforce refuses starts to paused destinations; shadow decides and records, but refuses nothing; off neither learns nor decides."`
	// Window is how far back conversion is measured; 0 (unset) means FraudWindow's default.
	Window time.Duration `env:"FRAUD_WINDOW" refuse:"zero" values:"a duration, 1m to 24h, at least FRAUD_SETTLE_AFTER + 10m" doc:"How far back conversion is measured; unset, 1h, or FRAUD_SETTLE_AFTER + 55m when that is longer."`
	// SettleAfter is how old an unverified start must be to count as a failure; 0 (unset) means
	// the code's lifetime (CodeLifetime).
	SettleAfter      time.Duration `env:"FRAUD_SETTLE_AFTER" refuse:"zero" values:"a duration, 1s to 24h (counted in whole minutes)" doc:"How old an unverified start must be to count as a failure; unset, the code's lifetime."`
	MinStartsPrefix  int           `env:"FRAUD_MIN_STARTS_PREFIX" envDefault:"20" refuse:"empty" values:"1 to 100000" doc:"Settled starts a number prefix needs in the window before its conversion counts."`
	MinStartsCountry int           `env:"FRAUD_MIN_STARTS_COUNTRY" envDefault:"100" refuse:"empty" values:"1 to 1000000" doc:"Settled starts a country needs in the window before its conversion counts."`
	MinConversion    float64       `env:"FRAUD_MIN_CONVERSION" envDefault:"0.2" refuse:"empty" values:"0 to 1 (0.2 is 20%)" doc:"Below this share of verified starts, a prefix or a country is paused."`
	BlockFor         time.Duration `env:"FRAUD_BLOCK_FOR" envDefault:"1h" refuse:"empty" values:"a duration, 1m to 24h" doc:"How long a first pause lasts; each repeat within a day doubles it, up to 24h."`
	TrustVerifiedFor Days          `env:"FRAUD_TRUST_VERIFIED_FOR" envDefault:"30d" refuse:"empty" values:"days (30d) or a duration, 1h to 365d" doc:"How long a number verified here is never refused by the fraud guard."`
}

func (f *Fraud) normalise() {
	f.Mode = guard.FraudMode(strings.ToLower(strings.TrimSpace(string(f.Mode))))
}

func (f Fraud) validate() []error {
	var bad problems
	oneOf(&bad, "FRAUD_GUARD", f.Mode, guard.FraudModes)
	if f.Window != 0 && (f.Window < time.Minute || f.Window > 24*time.Hour) {
		bad.add("FRAUD_WINDOW must be between 1m and 24h, got %s", f.Window)
	}
	if f.SettleAfter != 0 && (f.SettleAfter < time.Second || f.SettleAfter > 24*time.Hour) {
		bad.add("FRAUD_SETTLE_AFTER must be between 1s and 24h, got %s", f.SettleAfter)
	}
	if f.MinStartsPrefix < 1 || f.MinStartsPrefix > 100_000 {
		bad.add("FRAUD_MIN_STARTS_PREFIX must be between 1 and 100000, got %d", f.MinStartsPrefix)
	}
	if f.MinStartsCountry < 1 || f.MinStartsCountry > 1_000_000 {
		bad.add("FRAUD_MIN_STARTS_COUNTRY must be between 1 and 1000000, got %d", f.MinStartsCountry)
	}
	if f.MinConversion < 0 || f.MinConversion > 1 || f.MinConversion != f.MinConversion {
		bad.add("FRAUD_MIN_CONVERSION must be between 0 and 1 (0.2 is 20%%), got %v", f.MinConversion)
	}
	if f.BlockFor < time.Minute || f.BlockFor > 24*time.Hour {
		bad.add("FRAUD_BLOCK_FOR must be between 1m and 24h, got %s", f.BlockFor)
	}
	if d := f.TrustVerifiedFor.Duration(); d < time.Hour || d > 365*24*time.Hour {
		bad.add("FRAUD_TRUST_VERIFIED_FOR must be between 1h and 365d, got %s", d)
	}
	return bad
}

// FraudSettleAfter is how old an unverified start must be to count as a failure: FRAUD_SETTLE_AFTER,
// or the code's lifetime when unset.
func (c Config) FraudSettleAfter() time.Duration {
	if c.Fraud.SettleAfter > 0 {
		return c.Fraud.SettleAfter
	}
	return c.CodeLifetime()
}

// Conversion counts an unverified start as a failure only once it is FraudSettleAfter old, and only
// while it is within FraudWindow: the window must reach that far back and more, or the guard never
// sees a failure and never pauses anything.
const (
	// minSettledWindow is how much of the window FRAUD_WINDOW must leave for settled starts.
	minSettledWindow = 10 * time.Minute
	// defaultFraudWindow, or the settle time and defaultSettledWindow when that is longer, is the
	// window when FRAUD_WINDOW is unset.
	defaultFraudWindow   = time.Hour
	defaultSettledWindow = 55 * time.Minute
)

// FraudWindow is how far back conversion is measured: FRAUD_WINDOW, or when unset an hour, or 55
// minutes more than FraudSettleAfter when that is longer (a code that lives an hour), which keeps
// the 55 minutes of settled starts that the defaults give (an hour, codes of 5 minutes).
func (c Config) FraudWindow() time.Duration {
	if c.Fraud.Window > 0 {
		return c.Fraud.Window
	}
	return max(defaultFraudWindow, c.FraudSettleAfter()+defaultSettledWindow)
}

// fraudWindowProblems refuses a FRAUD_WINDOW in which no start is ever old enough to count.
func (c Config) fraudWindowProblems() []error {
	var bad problems
	settle := c.FraudSettleAfter()
	if c.Fraud.Mode != guard.FraudOff && c.Fraud.Window > 0 && c.Fraud.Window < settle+minSettledWindow {
		source := "FRAUD_SETTLE_AFTER"
		if c.Fraud.SettleAfter == 0 {
			source = "the code's lifetime, which FRAUD_SETTLE_AFTER defaults to"
		}
		bad.add("FRAUD_WINDOW (%s) must be at least %s, %s longer than %s (%s): an unverified start counts as a "+
			"failure only once it is that old, so a shorter window leaves the fraud guard too little, or nothing, "+
			"to learn from; raise FRAUD_WINDOW, or unset it for %s", c.Fraud.Window,
			settle+minSettledWindow, minSettledWindow, source, settle,
			max(defaultFraudWindow, settle+defaultSettledWindow))
	}
	return bad
}

// FraudOptions are the fraud guard's options as c sets them, told to observer. The simulation
// (make fraud-sim) builds its guard with them too, so that it runs what the server runs.
func (c Config) FraudOptions(observer guard.FraudObserver) guard.FraudOptions {
	return guard.FraudOptions{
		Mode: c.Fraud.Mode, Window: c.FraudWindow(), SettleAfter: c.FraudSettleAfter(),
		MinStartsPrefix: c.Fraud.MinStartsPrefix, MinStartsCountry: c.Fraud.MinStartsCountry,
		MinConversion: c.Fraud.MinConversion, BlockFor: c.Fraud.BlockFor,
		TrustVerifiedFor: c.Fraud.TrustVerifiedFor.Duration(), Observer: observer,
	}
}
