package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// The files this test reads: the dashboard, the rules and their promtool tests, and the list of
// what the server exports, which internal/metrics' TestMetricsListIsCurrent keeps equal to the
// server's registry (this module cannot import the server's: see metrics.txt's header).
const (
	dashboardPath   = "grafana/verify-proxy.json"
	rulesPath       = "prometheus/rules.yaml"
	metricsListPath = "prometheus/metrics.txt"
)

var ruleTestPaths = []string{"prometheus/rules_test.yaml", "prometheus/rules_daily_test.yaml"}

// series is what a query may select: a series name and the label names it carries.
type series map[string][]string

// exported reads metrics.txt into the series names Prometheus stores for each family: a histogram
// is NAME_bucket (with le), NAME_sum and NAME_count.
func exported(t *testing.T) series {
	t.Helper()
	f, err := os.Open(metricsListPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := series{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) < 2 {
			t.Fatalf("%s: %q: want name, type, labels", metricsListPath, sc.Text())
		}
		name, typ, labelNames := fields[0], fields[1], fields[2:]
		switch typ {
		case "counter", "gauge", "untyped":
			out[name] = labelNames
		case "histogram":
			out[name+"_bucket"] = append(slices.Clone(labelNames), "le")
			out[name+"_sum"] = labelNames
			out[name+"_count"] = labelNames
		case "summary":
			out[name] = append(slices.Clone(labelNames), "quantile")
			out[name+"_sum"] = labelNames
			out[name+"_count"] = labelNames
		default:
			t.Fatalf("%s: %s has unknown type %s", metricsListPath, name, typ)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s lists no metric", metricsListPath)
	}
	return out
}

// ruleFile is the part of a Prometheus rule file this test reads.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Record      string            `json:"record"`
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	raw, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(raw, &rf); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	var rules []rule
	for _, g := range rf.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// query is one PromQL expression and where it was found, for the failure message.
type query struct{ where, expr string }

// dashboardQueries are every PromQL expression of the dashboard: its panels' targets and its
// variables' label_values() selectors. It also fails t on a panel or variable bound to a data
// source other than the ${datasource} variable, which would break the import into another Grafana.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string            `json:"uid"`
		Title      string            `json:"title"`
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				Datasource *datasourceRef  `json:"datasource"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: the dashboard needs a uid and a title, so that an import updates it in place", dashboardPath)
	}
	var queries []query
	hasDatasourceVar := false
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil || q != "prometheus" || v.Name != "datasource" {
				t.Errorf("variable %s: want the datasource variable named datasource, of type prometheus", v.Name)
			}
			hasDatasourceVar = true
		case "query":
			v.Datasource.check(t, "variable "+v.Name)
			var q string // the form every Grafana version since 7 reads
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("variable %s: query: %v", v.Name, err)
			}
			m := labelValues.FindStringSubmatch(q)
			if m == nil {
				t.Fatalf("variable %s: %q is not label_values(selector, label)", v.Name, q)
			}
			queries = append(queries, query{"variable " + v.Name, m[1]})
		}
	}
	if !hasDatasourceVar {
		t.Errorf("%s has no datasource variable: its panels would be bound to one Grafana's data source", dashboardPath)
	}
	ids := map[int]string{}
	for _, rawPanel := range d.Panels {
		var p struct {
			ID         int            `json:"id"`
			Type       string         `json:"type"`
			Title      string         `json:"title"`
			Datasource *datasourceRef `json:"datasource"`
			GridPos    struct{ W, H int }
			Targets    []struct {
				Expr       string         `json:"expr"`
				Datasource *datasourceRef `json:"datasource"`
			} `json:"targets"`
		}
		if err := json.Unmarshal(rawPanel, &p); err != nil {
			t.Fatalf("%s: %v", dashboardPath, err)
		}
		if other, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or also %q's", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q has no size", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		p.Datasource.check(t, "panel "+p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for i, target := range p.Targets {
			target.Datasource.check(t, fmt.Sprintf("panel %q target %d", p.Title, i))
			if strings.TrimSpace(target.Expr) == "" {
				t.Errorf("panel %q target %d has no expression", p.Title, i)
			}
			queries = append(queries, query{fmt.Sprintf("panel %q", p.Title), target.Expr})
		}
	}
	return queries
}

// labelValues is Grafana's variable query label_values(selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*\w+\s*\)\s*$`)

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func (ds *datasourceRef) check(t *testing.T, where string) {
	t.Helper()
	if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
		t.Errorf("%s: data source %+v, want {prometheus ${datasource}}", where, ds)
	}
}

// grafanaMacros are Grafana's interval variables, which stand where PromQL wants a duration; other
// variables ($job, $instance) stand inside label values, where any string parses.
var grafanaMacros = regexp.MustCompile(`\$__(rate_interval|interval|range)\b`)

// selectors parses expr with Prometheus's own parser and returns its series selectors.
func selectors(expr string) ([]*parser.VectorSelector, error) {
	expr = grafanaMacros.ReplaceAllString(expr, "5m")
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []*parser.VectorSelector
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out, nil
}

// nameOf is the series name a selector asks for: its name, or an equality matcher on __name__;
// "" when it selects by other labels only.
func nameOf(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// targetLabels are what Prometheus adds to every scraped series: any query may filter on them.
var targetLabels = []string{"job", "instance"}

// TestDashboardAndRulesQueryOnlyWhatTheServerExports: every series the dashboard and the rules
// select is one the server exports (or a recording rule of rules.yaml), with labels it carries, so
// that a misspelt or renamed metric fails here instead of leaving a panel blank or an alert silent.
func TestDashboardAndRulesQueryOnlyWhatTheServerExports(t *testing.T) {
	t.Parallel()
	known := exported(t)
	rules := loadRules(t)
	recorded := map[string]bool{}
	var queries []query
	for _, r := range rules {
		if r.Record != "" {
			recorded[r.Record] = true
			queries = append(queries, query{"recording rule " + r.Record, r.Expr})
		} else {
			queries = append(queries, query{"alert " + r.Alert, r.Expr})
		}
	}
	queries = append(queries, dashboardQueries(t)...)
	selected := 0
	for _, q := range queries {
		vss, err := selectors(q.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.expr)
			continue
		}
		if len(vss) == 0 {
			t.Errorf("%s selects no series: %s", q.where, q.expr)
		}
		for _, vs := range vss {
			selected++
			name := nameOf(vs)
			if recorded[name] {
				continue
			}
			labelNames, ok := known[name]
			if !ok {
				t.Errorf("%s queries %q, which the server does not export (%s) and no rule records", q.where, vs.String(), metricsListPath)
				continue
			}
			for _, m := range vs.LabelMatchers {
				if m.Name != model.MetricNameLabel && !slices.Contains(labelNames, m.Name) && !slices.Contains(targetLabels, m.Name) {
					t.Errorf("%s filters %s on label %q, which it does not carry (%v)", q.where, name, m.Name, labelNames)
				}
			}
		}
	}
	if selected < len(queries) {
		t.Errorf("%d selectors in %d queries: the files were not read as expected", selected, len(queries))
	}
}

// TestAlertsTellTheOnCallWhatToDo: every alert has a severity a router can act on, a summary and a
// description, and unit tests in which it fires and in which it stays quiet.
func TestAlertsTellTheOnCallWhatToDo(t *testing.T) {
	t.Parallel()
	type cases struct{ firing, quiet int }
	tested := map[string]*cases{}
	for _, path := range ruleTestPaths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var tf struct {
			RuleFiles []string `json:"rule_files"`
			Tests     []struct {
				AlertRuleTest []struct {
					Alertname string `json:"alertname"`
					ExpAlerts []any  `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		if err := yaml.Unmarshal(raw, &tf); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(tf.RuleFiles) != 1 || filepath.Join(filepath.Dir(path), tf.RuleFiles[0]) != filepath.Clean(rulesPath) {
			t.Errorf("%s tests %v, want %s", path, tf.RuleFiles, filepath.Base(rulesPath))
		}
		for _, test := range tf.Tests {
			for _, a := range test.AlertRuleTest {
				c := tested[a.Alertname]
				if c == nil {
					c = &cases{}
					tested[a.Alertname] = c
				}
				if len(a.ExpAlerts) > 0 {
					c.firing++
				} else {
					c.quiet++
				}
			}
		}
	}
	alerts := 0
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		alerts++
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("alert %s: severity %q, want critical (pages) or warning (a ticket)", r.Alert, s)
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s has no %s", r.Alert, a)
			}
		}
		if c := tested[r.Alert]; c == nil || c.firing == 0 || c.quiet == 0 {
			t.Errorf("alert %s: want promtool tests where it fires and where it stays quiet, got %+v", r.Alert, c)
		}
		delete(tested, r.Alert)
	}
	if alerts == 0 {
		t.Fatalf("%s has no alert", rulesPath)
	}
	for name := range tested {
		t.Errorf("the promtool tests test %s, which %s does not define", name, rulesPath)
	}
}
