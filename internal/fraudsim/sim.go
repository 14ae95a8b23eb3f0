package main

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// day is how long each scenario runs, in simulated time.
const day = 24 * time.Hour

// clock is the simulated time the guard and its store read.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// attempt is one /request the simulation sends, and what its sender does next.
type attempt struct {
	attack    bool
	returning bool // a number verified through this server before the day began
	country   *country
	num       phone.Number
	ip        string
	outcome   outcome       // what the person does once the code arrives
	after     time.Duration // how long after the start they do it
}

type outcome int

const (
	abandon outcome = iota // nobody enters the code: it expires (all pumping)
	enter                  // the right code
	fail                   // three wrong codes (Verify status 17)
	cancel                 // the app cancels
)

// event is an attempt arriving, or the outcome of one that started.
type event struct {
	at        time.Time
	attempt   *attempt
	requestID string // set for an outcome
}

type events []event

func (e events) Len() int           { return len(e) }
func (e events) Less(i, j int) bool { return e[i].at.Before(e[j].at) }
func (e events) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)        { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// tally is what happened to one kind of attempt.
type tally struct {
	attempts int
	started  int // reached the provider: paid
	refused  int // refused by this server
	byRule   map[string]int
}

func (t *tally) refuse(rule string) {
	t.refused++
	if t.byRule == nil {
		t.byRule = map[string]int{}
	}
	t.byRule[rule]++
}

// figures are one run of one scenario.
type figures struct {
	attack          tally
	legit           tally
	returning       tally // the legitimate attempts from returning numbers
	outside         tally // legitimate attempts outside the attacked prefix or country
	attackedNew     tally // new numbers' legitimate attempts inside the attacked prefix or country
	fraudRefusedLeg int   // legitimate attempts refused by the fraud guard's rules
	blocks          int
}

// fraudRules are the refusals that are the fraud guard's, not the static limits'.
var fraudRules = map[string]bool{"prefix": true, guard.RuleFraudPrefix: true, guard.RuleFraudCountry: true}

// counter counts the fraud guard's blocks.
type counter struct{ blocks int }

func (c *counter) FraudStarted(string)       {}
func (c *counter) FraudVerified(string)      {}
func (c *counter) FraudBlocked(string)       { c.blocks++ }
func (c *counter) FraudShadowRefused(string) {}

// simulate runs one scenario's day through a guard built from cfg, as the server builds it.
func simulate(ctx context.Context, cfg config.Config, sc scenario, seed uint64) (figures, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{now: start.Add(-2 * day)}
	store := memstore.New(clk.Now)
	blocks := &counter{}
	p := cfg.Protection
	g, err := guard.New(guard.Options{
		Store:  store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    clk.Now,
		Limits: guard.Limits{IP: p.RateLimitIP, Number: p.RateLimitNumber, Check: p.RateLimitCheck,
			Country: p.RateLimitCountry, Global: p.RateLimitGlobal, WrongCodes: p.RateLimitWrongCodes, Prefix: p.RateLimitPrefix},
		Destinations: guard.Destinations{AllowedCountries: p.AllowedCountries, BlockedCountries: p.BlockedCountries,
			AllowedTypes: p.AllowedNumberTypes},
		IdempotencyTTL:  p.IdempotencyTTL,
		VerificationTTL: cfg.CodeLifetime(),
		Fraud:           cfg.FraudOptions(blocks),
	})
	if err != nil {
		return figures{}, err
	}
	attempts := sc.traffic(rng, start)
	// Returning numbers were verified here before the day: two days before, so that their
	// prefixes' conversions have aged out and only the numbers themselves are trusted.
	for _, a := range attempts {
		if a.attempt.returning {
			g.Verified(ctx, state.Verification{Number: a.attempt.num.E164, Country: guard.CountryOf(a.attempt.num),
				Started: clk.now.UnixMilli()})
		}
	}
	queue := make(events, 0, len(attempts))
	for _, a := range attempts {
		queue = append(queue, event{at: a.at, attempt: a.attempt})
	}
	clk.now = start
	heap.Init(&queue)

	var f figures
	live := map[string]time.Time{} // number -> when its verification expires, as Vonage keeps one per number
	lifetime := cfg.CodeLifetime()
	ids := 0
	for queue.Len() > 0 {
		ev := heap.Pop(&queue).(event)
		clk.now = ev.at
		a := ev.attempt
		if ev.requestID != "" {
			settle(ctx, g, ev.requestID, a.outcome)
			delete(live, a.num.E164)
			continue
		}
		tallies := f.talliesOf(a, sc)
		for _, t := range tallies {
			t.attempts++
		}
		rule, ok := admit(ctx, g, a)
		if !ok {
			for _, t := range tallies {
				t.refuse(rule)
			}
			if !a.attack && fraudRules[rule] {
				f.fraudRefusedLeg++
			}
			continue
		}
		if until, running := live[a.num.E164]; running && clk.now.Before(until) {
			continue // Vonage answers status 10: nothing sent, nothing paid
		}
		ids++
		id := fmt.Sprintf("%032x", ids)
		live[a.num.E164] = clk.now.Add(lifetime)
		g.Started(ctx, id, a.num, false, a.ip)
		for _, t := range tallies {
			t.started++
		}
		if a.outcome != abandon {
			heap.Push(&queue, event{at: clk.now.Add(a.after), attempt: a, requestID: id})
		}
	}
	f.blocks = blocks.blocks
	return f, nil
}

// talliesOf are the tallies attempt a counts in.
func (f *figures) talliesOf(a *attempt, sc scenario) []*tally {
	if a.attack {
		return []*tally{&f.attack}
	}
	out := []*tally{&f.legit}
	if a.returning {
		out = append(out, &f.returning)
	}
	if sc.attacked(a) {
		if !a.returning {
			out = append(out, &f.attackedNew)
		}
	} else {
		out = append(out, &f.outside)
	}
	return out
}

// admit asks the guard as the server does for a /request: the per-IP limit, then the number.
func admit(ctx context.Context, g *guard.Guard, a *attempt) (rule string, ok bool) {
	if err := g.AllowClient(ctx, verify.OpStart, a.ip); err != nil {
		return ruleOf(err), false
	}
	if _, err := g.Admit(ctx, a.num); err != nil {
		return ruleOf(err), false
	}
	return "", true
}

func ruleOf(err error) string {
	if ge, ok := guard.AsError(err); ok {
		if ge.Rule != "" {
			return ge.Rule
		}
		return string(ge.Kind)
	}
	return err.Error()
}

// settle tells the guard what became of a verification, as the server does at /check and /cancel.
func settle(ctx context.Context, g *guard.Guard, requestID string, o outcome) {
	v, known := g.Recall(ctx, requestID)
	if !known {
		return
	}
	switch o {
	case enter:
		g.Verified(ctx, v)
	case fail, cancel:
		g.Unverified(ctx, v)
	}
}

// timed is an attempt and when it arrives.
type timed struct {
	at      time.Time
	attempt *attempt
}

// arrivals draws the times of a Poisson stream over the day whose hourly rate at hour h is
// perHour(h), minute by minute.
func arrivals(rng *rand.Rand, start time.Time, perHour func(h float64) float64) []time.Time {
	var out []time.Time
	for m := range int(day / time.Minute) {
		n := poisson(rng, perHour(float64(m)/60)/60)
		for range n {
			out = append(out, start.Add(time.Duration(m)*time.Minute+time.Duration(rng.Int64N(int64(time.Minute)))))
		}
	}
	return out
}

// poisson draws from a Poisson distribution of mean lambda (Knuth's method, by parts for large
// means).
func poisson(rng *rand.Rand, lambda float64) int {
	n := 0
	for lambda > 30 {
		n += poisson(rng, 30)
		lambda -= 30
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return n + k
		}
		k++
	}
}

// legitIP is a user's address: users are spread over the whole Internet.
func legitIP(rng *rand.Rand) string {
	return "10." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(rng.IntN(256))
}

// botIP is one of a pumping operation's size addresses.
func botIP(rng *rand.Rand, size int) string {
	n := rng.IntN(size)
	return "172.16." + strconv.Itoa(n/256) + "." + strconv.Itoa(n%256)
}
