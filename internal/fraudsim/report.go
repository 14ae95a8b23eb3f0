package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// target is one goal a scenario's figures are held to.
type target struct {
	name string
	met  bool
}

// targets are the goals of r: none of the fraud guard's refusals in a day without pumping; the
// scenario's share of pumping refused; no returning number refused; at most 1% of the users outside
// the attacked prefix or country refused.
func (r result) targets() []target {
	g := r.guard
	var out []target
	if r.scenario.target == 0 {
		out = append(out, target{"0 legitimate refused by the fraud guard", g.fraudRefusedLeg == 0})
	} else {
		out = append(out, target{fmt.Sprintf(">= %.0f%% of pumping refused", 100*r.scenario.target),
			share(g.attack.refused, g.attack.attempts) >= r.scenario.target})
		out = append(out, target{"<= 1% of legitimate outside it refused", share(g.outside.refused, g.outside.attempts) <= 0.01})
	}
	out = append(out, target{"no returning number refused", g.returning.refused == 0})
	return out
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func percent(n, of int) string { return fmt.Sprintf("%.1f%%", 100*share(n, of)) }

// printTable writes one row per scenario: pumping attempts and those paid for, with the fraud guard
// and with the static limits alone; legitimate attempts and those refused, likewise; the share of new
// numbers refused in the attacked country; and the targets.
func printTable(w io.Writer, results []result, seed uint64) {
	fmt.Fprintf(w, "fraud guard simulation (seed %d): each scenario is one simulated day; \"static\" is the same day with FRAUD_GUARD=off and RATE_LIMIT_PREFIX=off\n\n", seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tpumping\tpaid\trefused\tpaid (static)\tlegitimate\trefused\tby fraud guard\trefused (static)\tnew numbers refused in attacked country\tblocks\t")
	for _, r := range results {
		g, s := r.guard, r.static
		attacked := "-"
		if r.scenario.attackedCountry != "" {
			attacked = fmt.Sprintf("%d of %d (%s)", g.attackedNew.refused, g.attackedNew.attempts, percent(g.attackedNew.refused, g.attackedNew.attempts))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t\n", short(r.scenario.name),
			g.attack.attempts, g.attack.started, percent(g.attack.refused, g.attack.attempts), s.attack.started,
			g.legit.attempts, g.legit.refused, g.fraudRefusedLeg, s.legit.refused, attacked, g.blocks)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range results {
		var marks []string
		for _, t := range r.targets() {
			mark := "pass"
			if !t.met {
				mark = "FAIL"
			}
			marks = append(marks, mark+": "+t.name)
		}
		fmt.Fprintf(w, "%s\n  %s\n", r.scenario.name, strings.Join(marks, "\n  "))
	}
}

// short is a scenario's name up to its colon, for the table.
func short(name string) string {
	before, _, _ := strings.Cut(name, ":")
	return before
}
