package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

func lookupOf(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// TestTheDefaultsMeetEveryTarget runs the simulation as `make fraud-sim` does and holds the fraud
// guard to the targets: no real user refused on a day without pumping, 95%, 90% and 80% of the
// three pumpings refused, no returning number refused, and at most 1% of the users outside an
// attack refused. The static limits alone must do much worse, or the simulation proves nothing.
func TestTheDefaultsMeetEveryTarget(t *testing.T) {
	t.Parallel()
	results, err := simulateAll(context.Background(), lookupOf(nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("%d scenarios, want 4", len(results))
	}
	for _, r := range results {
		for _, target := range r.targets() {
			if !target.met {
				t.Errorf("%s: missed %q (guard %+v)", r.scenario.name, target.name, r.guard)
			}
		}
		if r.scenario.target > 0 && share(r.static.attack.refused, r.static.attack.attempts) > 0.5 {
			t.Errorf("%s: the static limits alone refuse %s of the pumping: the scenario is not one they miss",
				r.scenario.name, percent(r.static.attack.refused, r.static.attack.attempts))
		}
		if r.scenario.attackedCountry != "" && share(r.guard.attackedNew.refused, r.guard.attackedNew.attempts) > 0.10 {
			t.Errorf("%s: %s of the new numbers in the attacked country refused", r.scenario.name,
				percent(r.guard.attackedNew.refused, r.guard.attackedNew.attempts))
		}
	}
}

// loadConfig reads env as the simulation does.
func loadConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["VERIFY_BACKEND"] = "sandbox"
	cfg, err := config.Load(lookupOf(env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTheSameSeedGivesTheSameDay: the figures are reproducible, so that an operator can compare
// thresholds on one day. (One scenario: the whole day is slow under the race detector.)
func TestTheSameSeedGivesTheSameDay(t *testing.T) {
	t.Parallel()
	cfg := loadConfig(t, nil)
	low := scenarios(3)[3]
	var runs [2]figures
	for i := range runs {
		f, err := simulate(context.Background(), cfg, low, 3)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = f
	}
	if !reflect.DeepEqual(runs[0], runs[1]) {
		t.Fatalf("two runs with one seed differ:\n%+v\n%+v", runs[0], runs[1])
	}
	other, err := simulate(context.Background(), cfg, scenarios(4)[3], 4)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(runs[0], other) {
		t.Fatal("another seed gives the same day")
	}
}

// TestTheTablePrintsEveryScenarioAndItsTargets: what `make fraud-sim` shows.
func TestTheTablePrintsEveryScenarioAndItsTargets(t *testing.T) {
	t.Parallel()
	results := []result{}
	for _, sc := range scenarios(1) {
		results = append(results, result{scenario: sc, guard: figures{attack: tally{attempts: 10, started: 1, refused: 9}}})
	}
	var out bytes.Buffer
	printTable(&out, results, 1)
	for _, want := range []string{"seed 1", "concentrated pumping", "spread pumping", "low and slow", "90.0%",
		"pass: >= 80% of pumping refused", "FAIL: >= 95% of pumping refused", "static"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
}

// TestAnOperatorsThresholdsAreTheOnesSimulated: the simulation reads the environment as the server
// does, so an operator tries their own thresholds; a mistake in them is refused as the server would.
func TestAnOperatorsThresholdsAreTheOnesSimulated(t *testing.T) {
	t.Parallel()
	spread := scenarios(1)[2]
	shadow, err := simulate(context.Background(), loadConfig(t, map[string]string{"FRAUD_GUARD": "shadow"}), spread, 1)
	if err != nil {
		t.Fatal(err)
	}
	if shadow.fraudRefusedLeg != 0 || shadow.attack.byRule["fraud_prefix"]+shadow.attack.byRule["fraud_country"] != 0 || shadow.blocks == 0 {
		t.Errorf("FRAUD_GUARD=shadow must record blocks and refuse nothing: %d blocks, refusals %+v", shadow.blocks, shadow.attack.byRule)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), nil, lookupOf(map[string]string{"FRAUD_MIN_CONVERSION": "2"}), &bytes.Buffer{}, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "FRAUD_MIN_CONVERSION") {
		t.Fatalf("a bad threshold: exit %d, %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"-seed", "x"}, lookupOf(nil), &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("a bad flag: exit %d", code)
	}
}
