package metrics

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// listPath is the list of what the server exports that the deploy module checks the dashboard and
// the alert rules against: that module cannot import this one (it would follow every dependency
// bump of the server), so the registry's names reach it through this file.
const listPath = "../../deploy/prometheus/metrics.txt"

var update = flag.Bool("update", false, "rewrite "+listPath+" from the registry")

const listHeader = `# The metric families verify-proxy serves on its admin listener (ADMIN_ADDR, /metrics) under its
# own prefix: name, type, label names. A histogram is queried as NAME_bucket (with le), NAME_sum and
# NAME_count. Written from the registry by
#   go test ./internal/metrics -run TestMetricsListIsCurrent -update
# deploy/observability_test.go checks every query of deploy/grafana and deploy/prometheus against it.
`

// TestMetricsListIsCurrent: deploy/prometheus/metrics.txt lists exactly the families the registry
// holds, with their types and labels, so that a renamed metric or label fails the deploy module's
// check of the dashboard and the alerts rather than leaving a panel blank and an alert silent.
func TestMetricsListIsCurrent(t *testing.T) {
	m := New("test")
	recordOneOfEach(t, m)
	got := renderList(t, m.registry)
	if *update {
		if err := os.WriteFile(listPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(listPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s is stale; run: go test ./internal/metrics -run TestMetricsListIsCurrent -update\n"+
			"only in the file:\n%s\nonly in the registry:\n%s", listPath,
			strings.Join(missingFrom(string(want), got), "\n"), strings.Join(missingFrom(got, string(want)), "\n"))
	}
}

// recordOneOfEach makes every vector show a series, so that each family can be gathered with its
// type and labels.
func recordOneOfEach(t *testing.T, m *Metrics) {
	t.Helper()
	m.ObserveRequest("/request", "POST", 200, time.Millisecond)
	m.InFlight()()
	m.Refused("rate_limited", "ip")
	m.FraudStarted("GB")
	m.FraudVerified("GB")
	m.FraudBlocked("prefix")
	m.FraudShadowRefused("fraud_prefix")
	m.StoreFailed("refused")
	p := m.Instrument(answersAll{})
	ctx := context.Background()
	if _, err := p.Start(ctx, "447700900000"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(ctx, "abcdef0123456789abcdef0123456789", "1234"); err != nil {
		t.Fatal(err)
	}
	if err := p.Cancel(ctx, "abcdef0123456789abcdef0123456789"); err != nil {
		t.Fatal(err)
	}
}

// fqName is how a Desc prints its name: Desc keeps it unexported.
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// renderList is the list of reg's own families, one line each, sorted by name. It fails t when a
// family is registered but shows no series, since its type and labels cannot then be read.
func renderList(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	descs := make(chan *prometheus.Desc)
	go func() {
		reg.Describe(descs)
		close(descs)
	}()
	var registered []string
	for d := range descs {
		if name := fqName.FindStringSubmatch(d.String()); name != nil && strings.HasPrefix(name[1], namespace+"_") {
			registered = append(registered, name[1])
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, fam := range fams {
		if !strings.HasPrefix(fam.GetName(), namespace+"_") {
			continue
		}
		var labels []string
		for _, metric := range fam.GetMetric() {
			for _, pair := range metric.GetLabel() {
				if !slices.Contains(labels, pair.GetName()) {
					labels = append(labels, pair.GetName())
				}
			}
		}
		slices.Sort(labels)
		lines[fam.GetName()] = strings.TrimSpace(fmt.Sprintf("%s %s %s",
			fam.GetName(), strings.ToLower(fam.GetType().String()), strings.Join(labels, " ")))
	}
	for _, name := range registered {
		if _, ok := lines[name]; !ok {
			t.Errorf("%s is registered but shows no series: record one in recordOneOfEach", name)
		}
	}
	var b strings.Builder
	b.WriteString(listHeader)
	for _, name := range slices.Sorted(maps.Keys(lines)) {
		b.WriteString(lines[name] + "\n")
	}
	return b.String()
}

// missingFrom are the lines of a that b lacks.
func missingFrom(a, b string) []string {
	have := strings.Split(b, "\n")
	var out []string
	for _, line := range strings.Split(a, "\n") {
		if !slices.Contains(have, line) {
			out = append(out, line)
		}
	}
	return out
}

// answersAll is a backend that accepts every call.
type answersAll struct{}

func (answersAll) Start(context.Context, string) (verify.Started, error) {
	return verify.Started{RequestID: "abcdef0123456789abcdef0123456789"}, nil
}

func (answersAll) Check(context.Context, string, string) (verify.Checked, error) {
	return verify.Checked{}, nil
}

func (answersAll) Cancel(context.Context, string) error { return nil }
