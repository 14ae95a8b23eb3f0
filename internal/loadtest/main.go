// Command loadtest measures verify-proxy under load against a floor: a bare reverse proxy
// (./floor) in front of the same fake Verify API, under the same load, in the same run. It builds
// both, starts each in a process of its own per scenario (a wrong code on /check, a start to a new
// valid number on /request), drives them with vegeta (64 connections, as fast as they answer) in
// alternating rounds, and prints one table: throughput, p50 and p99 latency, CPU time per 1,000
// calls (from each process's own /proc accounting), peak resident memory, new upstream connections
// per second, and verify-proxy's ratio to the floor. Absolute figures depend on the machine; the
// ratios are what to compare between runs.
//
// -scenario idle, run only when asked, measures what idle keep-alive connections cost instead:
// 15,000 clients, 200 at a time, each make one wrong-code /check and keep their connection open,
// while a new client makes the same call every 100 ms; it prints verify-proxy's peak and final RSS,
// its runtime's stack and heap, how many connections it kept, and how long the new clients waited.
//
// verify-proxy runs as in production: Verify v1, every limit on (far above the load), the fraud
// guard enforcing (with a conversion floor of 0, so it never pauses the load), metrics, and the
// access log at info to a file.
//
//	make loadtest                                  # 3 rounds of 5 s per target and scenario
//	go run ./internal/loadtest -rounds 5 -round 10s
//	go run ./internal/loadtest -scenario idle -idle 15000 -hold 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rounds := fs.Int("rounds", 3, "measured rounds per target and scenario, alternating between the two")
	round := fs.Duration("round", 5*time.Second, "how long each round drives its target")
	connections := fs.Int("connections", 64, "concurrent connections (and callers)")
	keep := fs.Bool("keep", false, "keep the work directory (binaries and the servers' logs)")
	binary := fs.String("server", "", "measure this verify-proxy binary instead of building one (another version, a profiling build)")
	only := fs.String("scenario", "", "run only this scenario: check or request (default: both), or idle (only when asked)")
	idle := idleLoad{dialers: 200, probe: 100 * time.Millisecond}
	fs.IntVar(&idle.conns, "idle", 15_000, "-scenario idle: keep-alive connections opened, each idle after one call")
	fs.IntVar(&idle.dialers, "idle-dialers", idle.dialers, "-scenario idle: connections opened at a time")
	fs.DurationVar(&idle.hold, "hold", 5*time.Second, "-scenario idle: how long they are held once all are open")
	var extra envFlag
	fs.Var(&extra, "env", "KEY=VALUE added to verify-proxy's environment, e.g. -env REDIS_URL=redis://127.0.0.1:6379 (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *rounds < 1 || *round < time.Second || *connections < 1 {
		fmt.Fprintln(stderr, "loadtest: -rounds must be at least 1, -round at least 1s, -connections at least 1")
		return 2
	}
	work, err := os.MkdirTemp("", "verify-proxy-loadtest-")
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	if *keep {
		fmt.Fprintln(stderr, "loadtest: work directory", work)
	} else {
		defer os.RemoveAll(work)
	}
	b := bench{work: work, load: load{connections: *connections, round: *round}, rounds: *rounds, progress: stderr,
		server: *binary, extraEnv: extra, only: *only}
	if *only == "idle" {
		return b.idle(ctx, idle, stdout, stderr)
	}
	results, err := b.runAll(ctx)
	if err == nil && len(results) == 0 {
		err = fmt.Errorf("no scenario is called %q; use check or request", *only)
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	printTable(stdout, results, b.load, b.rounds)
	return 0
}

// idle runs the idle scenario (idle.go) and prints its figures.
func (b *bench) idle(ctx context.Context, l idleLoad, stdout, stderr io.Writer) int {
	if l.conns < 1 || l.dialers < 1 || l.hold < time.Second {
		fmt.Fprintln(stderr, "loadtest: -idle and -idle-dialers must be at least 1, -hold at least 1s")
		return 2
	}
	if err := b.buildServer(ctx); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	f, err := b.runIdle(ctx, l)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest: idle:", err)
		return 1
	}
	printIdle(stdout, f, l)
	return 0
}

// bench is one run of the benchmark.
type bench struct {
	work     string
	load     load
	rounds   int
	progress io.Writer
	server   string   // the binaries, once built (server: or as given)
	floor    string   //
	extraEnv []string // added to verify-proxy's environment
	only     string   // a scenario's slug, or "" for all
}

// envFlag collects -env KEY=VALUE flags.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, " ") }

func (e *envFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

// result is one scenario's figures, for verify-proxy and for the floor.
type result struct {
	scenario      scenario
	server, floor figures
}

func (b *bench) runAll(ctx context.Context) ([]result, error) {
	b.floor = filepath.Join(b.work, "floor")
	if err := b.buildServer(ctx); err != nil {
		return nil, err
	}
	if err := build(ctx, b.floor, "./internal/loadtest/floor"); err != nil {
		return nil, err
	}
	var results []result
	for _, sc := range scenarios() {
		if b.only != "" && b.only != sc.slug {
			continue
		}
		r, err := b.runScenario(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.name, err)
		}
		results = append(results, r)
	}
	return results, nil
}

// buildServer builds verify-proxy, unless -server named a binary.
func (b *bench) buildServer(ctx context.Context) error {
	if b.server != "" {
		return nil
	}
	b.server = filepath.Join(b.work, "verify-proxy")
	fmt.Fprintln(b.progress, "loadtest: building verify-proxy")
	return build(ctx, b.server, ".")
}

// runScenario starts a fresh pair of targets for sc, warms both up, and alternates measured rounds.
func (b *bench) runScenario(ctx context.Context, sc scenario) (result, error) {
	serverUp, err := startUpstream()
	if err != nil {
		return result{}, err
	}
	defer serverUp.close()
	floorUp, err := startUpstream()
	if err != nil {
		return result{}, err
	}
	defer floorUp.close()

	slug := sc.slug
	adminPort, err := freePort()
	if err != nil {
		return result{}, err
	}
	server, err := startProcess(ctx, "verify-proxy", b.server, filepath.Join(b.work, slug+"-server.log"), "/healthz",
		append(serverEnv(serverUp.url(), adminPort), b.extraEnv...))
	if err != nil {
		return result{}, err
	}
	defer server.stop()
	floor, err := startProcess(ctx, "floor", b.floor, filepath.Join(b.work, slug+"-floor.log"), "/healthz",
		[]string{"UPSTREAM=" + floorUp.url()})
	if err != nil {
		return result{}, err
	}
	defer floor.stop()

	targets := []struct {
		p    *process
		up   *upstream
		want int
		into *[]sample
	}{
		{server, serverUp, sc.wantStatus, new([]sample)},
		{floor, floorUp, 200, new([]sample)},
	}
	warm := load{connections: b.load.connections, round: time.Second}
	for _, t := range targets {
		if _, err := attack(t.p, t.up, sc, t.want, warm); err != nil {
			return result{}, err
		}
	}
	for i := range b.rounds {
		for _, t := range targets {
			fmt.Fprintf(b.progress, "loadtest: %s, round %d of %d, %s\n", sc.name, i+1, b.rounds, t.p.name)
			s, err := attack(t.p, t.up, sc, t.want, b.load)
			if err != nil {
				return result{}, err
			}
			*t.into = append(*t.into, s)
		}
	}
	r := result{scenario: sc}
	if r.server, err = summarise(server, *targets[0].into); err != nil {
		return result{}, err
	}
	if r.floor, err = summarise(floor, *targets[1].into); err != nil {
		return result{}, err
	}
	return r, nil
}

// serverEnv runs verify-proxy as in production, against upstream: every limit on, far above the load.
func serverEnv(upstream, adminPort string) []string {
	const high = "100000/1s"
	return []string{
		// The fake upstream takes any credentials: these are placeholders, not a secret.
		"VERIFY_BACKEND=vonage", "VONAGE_API_KEY=loadtest", "VONAGE_API_SECRET=placeholder",
		"VERIFY_BRAND=Loadtest", "VONAGE_BASE_URL=" + upstream,
		"RATE_LIMIT_IP=" + high, "RATE_LIMIT_NUMBER=" + high, "RATE_LIMIT_CHECK=" + high,
		"RATE_LIMIT_WRONG_CODES=" + high, "RATE_LIMIT_PREFIX=" + high, "RATE_LIMIT_COUNTRY=" + high,
		"RATE_LIMIT_GLOBAL=" + high,
		"FRAUD_GUARD=enforce", "FRAUD_MIN_CONVERSION=0",
		// Each start's record is kept for the code's lifetime: at 9,000 starts a second, three
		// rounds fill the default ceiling, and its 503s would be measured instead of the calls.
		"MEMORY_STORE_MAX_KEYS=2000000",
		"ADMIN_ADDR=127.0.0.1:" + adminPort, "LOG_LEVEL=info",
	}
}

func build(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}
