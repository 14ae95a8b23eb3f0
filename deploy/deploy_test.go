package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifest is deploy/kubernetes.yaml, each document decoded strictly into its real API type: a
// misspelt or misplaced field fails here rather than at kubectl apply.
type manifest struct {
	deployment appsv1.Deployment
	service    corev1.Service
	pdb        policyv1.PodDisruptionBudget
}

func loadManifest(t *testing.T) manifest {
	t.Helper()
	raw, err := os.ReadFile("kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	seen := map[string]int{}
	r := yamlutil.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		var into any
		switch head.Kind {
		case "Deployment":
			into = &m.deployment
		case "Service":
			into = &m.service
		case "PodDisruptionBudget":
			into = &m.pdb
		default:
			t.Fatalf("unexpected kind %q", head.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s: %v", head.Kind, err)
		}
		seen[head.Kind]++
	}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget"} {
		if seen[kind] != 1 {
			t.Fatalf("want one %s, got %d", kind, seen[kind])
		}
	}
	return m
}

func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func duration(t *testing.T, name, v string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q is not a duration", name, v)
	}
	return d
}

// TestKubernetesShutdownIsNeverKilled: the kubelet's grace period covers the whole shutdown
// sequence (preStop, SHUTDOWN_DELAY, SHUTDOWN_TIMEOUT), and SHUTDOWN_DELAY is long enough for the
// readiness probe to see the pod go.
func TestKubernetesShutdownIsNeverKilled(t *testing.T) {
	d := loadManifest(t).deployment
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	env := envOf(c)
	delay := duration(t, "SHUTDOWN_DELAY", env["SHUTDOWN_DELAY"])
	drain := duration(t, "SHUTDOWN_TIMEOUT", env["SHUTDOWN_TIMEOUT"])
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if pod.TerminationGracePeriodSeconds == nil {
		t.Fatal("terminationGracePeriodSeconds is not set (the default, 30s, would be a coincidence)")
	}
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + delay + drain; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %s must exceed preStop %s + SHUTDOWN_DELAY %s + SHUTDOWN_TIMEOUT %s",
			grace, preStop, delay, drain)
	}
	rp := c.ReadinessProbe
	if rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/readyz" {
		t.Fatal("the readiness probe must GET /readyz")
	}
	if seen := time.Duration(rp.PeriodSeconds*max(rp.FailureThreshold, 1)) * time.Second; delay < seen {
		t.Errorf("SHUTDOWN_DELAY %s is shorter than the readiness probe needs to see the pod go (%s)", delay, seen)
	}
	if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Error("a rolling update must keep every old pod until its replacement is ready (maxUnavailable 0)")
	}
}

// TestKubernetesProbesAndPortsMatchTheServer: probes, ports and the Service point where the
// server listens.
func TestKubernetesProbesAndPortsMatchTheServer(t *testing.T) {
	m := loadManifest(t)
	c := m.deployment.Spec.Template.Spec.Containers[0]
	env := envOf(c)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if strconv.Itoa(int(ports["http"])) != env["PORT"] {
		t.Errorf("port http %d is not PORT %q", ports["http"], env["PORT"])
	}
	if !strings.HasSuffix(env["ADMIN_ADDR"], ":"+strconv.Itoa(int(ports["metrics"]))) {
		t.Errorf("port metrics %d is not ADMIN_ADDR %q", ports["metrics"], env["ADMIN_ADDR"])
	}
	lp := c.LivenessProbe
	if lp == nil || lp.HTTPGet == nil || lp.HTTPGet.Path != "/healthz" || lp.HTTPGet.Port != intstr.FromString("http") {
		t.Error("the liveness probe must GET /healthz on port http")
	}
	if c.ReadinessProbe.HTTPGet.Port != intstr.FromString("http") {
		t.Error("the readiness probe must use port http")
	}
	labels := m.deployment.Spec.Template.Labels
	for k, v := range m.service.Spec.Selector {
		if labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods do not have", k, v)
		}
	}
	for k, v := range m.pdb.Spec.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("the PodDisruptionBudget selects %s=%s, which the pods do not have", k, v)
		}
	}
	for _, p := range m.service.Spec.Ports {
		if p.TargetPort != intstr.FromString("http") {
			t.Errorf("the Service targets %v; only the API port (http) may be exposed", p.TargetPort.String())
		}
	}
	if secret := env["VONAGE_API_SECRET"]; secret != "" {
		t.Error("VONAGE_API_SECRET is written in the manifest; it must come from a Secret")
	}
}

func TestKubernetesPodIsLockedDown(t *testing.T) {
	pod := loadManifest(t).deployment.Spec.Template.Spec
	c := pod.Containers[0]
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("runAsNonRoot must be true")
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("CPU and memory requests and a memory limit must be set")
	}
}

// loadCompose reads ../compose.yaml as docker compose does (schema, anchors, interpolation) with
// the given shell environment.
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	raw, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  "..",
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: raw}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("verify-proxy", true) })
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// TestComposeRunsTwoReplicasOnOneRedis: with nothing in the environment, both replicas use the
// sandbox, share Redis, and drain within the stop grace period.
func TestComposeRunsTwoReplicasOnOneRedis(t *testing.T) {
	p := loadCompose(t, map[string]string{})
	var proxies []types.ServiceConfig
	for _, s := range p.Services {
		if strings.HasPrefix(s.Name, "proxy") {
			proxies = append(proxies, s)
		}
	}
	if len(proxies) != 2 {
		t.Fatalf("want two proxy replicas, got %d", len(proxies))
	}
	hostPorts := map[string]bool{}
	for _, s := range proxies {
		env := s.Environment
		get := func(k string) string {
			if v := env[k]; v != nil {
				return *v
			}
			return ""
		}
		if get("VERIFY_BACKEND") != "sandbox" {
			t.Errorf("%s: VERIFY_BACKEND %q, want sandbox by default", s.Name, get("VERIFY_BACKEND"))
		}
		if v, ok := env["VONAGE_API_SECRET"]; ok && v != nil {
			t.Errorf("%s: VONAGE_API_SECRET is set (%q) though the shell has none: the server refuses an empty one", s.Name, *v)
		}
		if !strings.HasPrefix(get("REDIS_URL"), "redis://redis:") {
			t.Errorf("%s: REDIS_URL %q does not point at the redis service", s.Name, get("REDIS_URL"))
		}
		if _, ok := s.DependsOn["redis"]; !ok {
			t.Errorf("%s does not wait for redis", s.Name)
		}
		if s.StopGracePeriod == nil {
			t.Fatalf("%s: no stop_grace_period", s.Name)
		}
		need := duration(t, "SHUTDOWN_DELAY", get("SHUTDOWN_DELAY")) + duration(t, "SHUTDOWN_TIMEOUT", get("SHUTDOWN_TIMEOUT"))
		if time.Duration(*s.StopGracePeriod) <= need {
			t.Errorf("%s: stop_grace_period %s must exceed SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT (%s)",
				s.Name, time.Duration(*s.StopGracePeriod), need)
		}
		if !s.ReadOnly {
			t.Errorf("%s: the root filesystem must be read-only", s.Name)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q; only loopback", s.Name, port.Published, port.HostIP)
			}
			if hostPorts[port.Published] {
				t.Errorf("host port %s is published twice", port.Published)
			}
			hostPorts[port.Published] = true
		}
	}
	if _, ok := p.Services["redis"]; !ok {
		t.Error("no redis service")
	}
}

func TestComposeTakesVonageFromTheShell(t *testing.T) {
	p := loadCompose(t, map[string]string{
		"VERIFY_BACKEND": "vonage", "VONAGE_API_KEY": "k", "VONAGE_API_SECRET": "s", "VERIFY_BRAND": "Acme",
	})
	for _, name := range []string{"proxy-a", "proxy-b"} {
		env := p.Services[name].Environment
		for k, want := range map[string]string{"VERIFY_BACKEND": "vonage", "VONAGE_API_SECRET": "s", "VERIFY_BRAND": "Acme"} {
			if v := env[k]; v == nil || *v != want {
				t.Errorf("%s: %s not passed on from the shell", name, k)
			}
		}
	}
}

// dockerfile is the Dockerfile's instructions, continuation lines joined and comments dropped.
func dockerfile(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	return lines
}

// TestDockerfileBuildsLikeCI: the image's binary is built by the same script, with the same Go, as
// the binary CI proves, and its final stage is the minimal non-root runtime the README promises.
func TestDockerfileBuildsLikeCI(t *testing.T) {
	lines := dockerfile(t)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	var final []string // the instructions of the last stage
	var builds int
	for _, l := range lines {
		if strings.HasPrefix(l, "ARG GO_VERSION=") && (goVersion == nil || strings.TrimPrefix(l, "ARG GO_VERSION=") != string(goVersion[1])) {
			t.Errorf("%s: must match go.mod's go %s", l, goVersion[1])
		}
		if strings.HasPrefix(l, "RUN") && strings.Contains(l, "go build") {
			t.Errorf("%q: build through scripts/build.sh, the flags' one home", l)
		}
		if strings.HasPrefix(l, "RUN") && strings.Contains(l, "scripts/build.sh") {
			builds++
		}
		if strings.HasPrefix(l, "FROM ") {
			final = nil
		}
		final = append(final, l)
	}
	if builds != 1 {
		t.Errorf("want one RUN of scripts/build.sh, got %d", builds)
	}
	want := map[string]*regexp.Regexp{
		"a distroless nonroot or scratch base":        regexp.MustCompile(`^FROM (gcr\.io/distroless/static[-a-z0-9]*:nonroot|scratch)$`),
		"a non-root numeric user":                     regexp.MustCompile(`^USER [1-9][0-9]*(:[1-9][0-9]*)?$`),
		"port 8080":                                   regexp.MustCompile(`^EXPOSE 8080$`),
		"a healthcheck with the binary's own command": regexp.MustCompile(`^HEALTHCHECK .*CMD \["/verify-proxy", "healthcheck"\]$`),
		"the binary as entrypoint, exec form":         regexp.MustCompile(`^ENTRYPOINT \["/verify-proxy"\]$`),
	}
	for what, re := range want {
		found := false
		for _, l := range final {
			found = found || re.MatchString(l)
		}
		if !found {
			t.Errorf("the final stage lacks %s: %q", what, final)
		}
	}
}
