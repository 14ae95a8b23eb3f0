// Command fraudsim runs the fraud guard, as the server builds it from the environment, on simulated
// days of traffic: real users of many countries, and SMS pumping of several shapes. It prints, per
// scenario, how much pumping reached the paid API and how many real users were refused, beside the
// same day behind the static limits alone, and whether the targets are met. The guard and its
// in-memory store run in this process on a simulated clock: no network, seconds to run, the same
// figures for the same seed.
//
//	make fraud-sim                                  # the defaults
//	FRAUD_MIN_CONVERSION=0.3 make fraud-sim         # an operator's own thresholds
//	go run ./internal/fraudsim -seed 7              # another day
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run parses the flags, reads the configuration as the server does, simulates every scenario and
// prints the table. It answers 0, or 2 for a mistake in the flags or the configuration: a target
// missed is a finding, printed in the table, not a failure of the command.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fraudsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "the random seed: the same seed gives the same day")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	results, err := simulateAll(ctx, lookup, *seed)
	if err != nil {
		fmt.Fprintln(stderr, "fraudsim:", err)
		return 2
	}
	printTable(stdout, results, *seed)
	return 0
}
