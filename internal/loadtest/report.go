package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// figures are one target's measurements over all its rounds of a scenario.
type figures struct {
	throughput    float64 // answers per second
	p50, p99      time.Duration
	cpuPer1000    time.Duration
	peakRSS       int64
	newConnsPerS  float64
	requests      uint64
	unexpected    uint64
	elapsedRounds time.Duration
}

func summarise(p *process, samples []sample) (figures, error) {
	var f figures
	var cpu time.Duration
	var newConns int64
	var latencies []time.Duration
	for _, s := range samples {
		f.requests += s.requests
		f.unexpected += s.unexpected
		f.elapsedRounds += s.elapsed
		cpu += s.cpu
		newConns += s.newConns
		latencies = append(latencies, s.latencies...)
	}
	if f.requests == 0 {
		return f, fmt.Errorf("%s answered nothing", p.name)
	}
	slices.Sort(latencies)
	f.p50, f.p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	f.throughput = float64(f.requests) / f.elapsedRounds.Seconds()
	f.cpuPer1000 = cpu * 1000 / time.Duration(f.requests)
	f.newConnsPerS = float64(newConns) / f.elapsedRounds.Seconds()
	rss, err := p.peakRSS()
	f.peakRSS = rss
	return f, err
}

// percentile is the q-th quantile of sorted, by the nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func printTable(w io.Writer, results []result, l load, rounds int) {
	fmt.Fprintf(w, "verify-proxy against a bare reverse proxy (the floor), same fake Verify API, same load:\n"+
		"%d connections as fast as answered, %d alternating rounds of %s per target\n\n", l.connections, rounds, l.round)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "scenario\tmeasure\tverify-proxy\tfloor\tratio\t")
	for _, r := range results {
		s, f := r.server, r.floor
		rows := []struct {
			measure      string
			server, flor string
			ratio        string
		}{
			{"throughput", fmt.Sprintf("%.0f req/s", s.throughput), fmt.Sprintf("%.0f req/s", f.throughput), ratio(s.throughput, f.throughput)},
			{"p50 latency", ms(s.p50), ms(f.p50), ratio(s.p50.Seconds(), f.p50.Seconds())},
			{"p99 latency", ms(s.p99), ms(f.p99), ratio(s.p99.Seconds(), f.p99.Seconds())},
			{"CPU per 1,000 calls", ms(s.cpuPer1000), ms(f.cpuPer1000), ratio(s.cpuPer1000.Seconds(), f.cpuPer1000.Seconds())},
			{"peak RSS", mb(s.peakRSS), mb(f.peakRSS), ratio(float64(s.peakRSS), float64(f.peakRSS))},
			{"new upstream conns", fmt.Sprintf("%.1f/s", s.newConnsPerS), fmt.Sprintf("%.1f/s", f.newConnsPerS), ""},
			{"calls (unexpected answers)", fmt.Sprintf("%d (%d)", s.requests, s.unexpected), fmt.Sprintf("%d (%d)", f.requests, f.unexpected), ""},
		}
		for i, row := range rows {
			name := ""
			if i == 0 {
				name = r.scenario.name
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, row.measure, row.server, row.flor, row.ratio)
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nratio: verify-proxy / floor. CPU is each process's own user+system time; RSS its VmHWM.")
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
