package deploy

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
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

// loadCompose reads ../compose.yaml as the docker compose CLI does (schema, anchors, the project's
// .env for interpolation, env_file, then interpolation with the shell's variables), from a copy in
// a directory of its own, so that a developer's own .env beside compose.yaml never changes a test.
// dotEnv, when not empty, is the .env written beside the copy.
func loadCompose(t *testing.T, shell map[string]string, dotEnv ...string) *types.Project {
	t.Helper()
	raw, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(dotEnv) > 0 {
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(strings.Join(dotEnv, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for k, v := range shell {
		env = append(env, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv(env), cli.WithEnvFiles(), cli.WithDotEnv, cli.WithName("verify-proxy"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// proxiesOf are the verify-proxy replicas of p, by name.
func proxiesOf(t *testing.T, p *types.Project) []types.ServiceConfig {
	t.Helper()
	var proxies []types.ServiceConfig
	for _, name := range p.ServiceNames() {
		if strings.HasPrefix(name, "proxy") {
			proxies = append(proxies, p.Services[name])
		}
	}
	if len(proxies) != 2 {
		t.Fatalf("want two proxy replicas, got %d", len(proxies))
	}
	return proxies
}

// envValue is the value s's container gets for k, "" when none.
func envValue(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

// TestComposeRunsTwoReplicasOnOneRedis: with nothing in the environment, both replicas use the
// sandbox, share Redis, and drain within the stop grace period.
func TestComposeRunsTwoReplicasOnOneRedis(t *testing.T) {
	p := loadCompose(t, map[string]string{})
	upstream := upstreamTimeoutDefault(t)
	hostPorts := map[string]bool{}
	for _, s := range proxiesOf(t, p) {
		env := s.Environment
		get := func(k string) string { return envValue(s, k) }
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
		// With VERIFY_BACKEND=vonage the server refuses to start unless its drain outlasts a call to Vonage.
		if up := cmp.Or(get("UPSTREAM_TIMEOUT"), upstream); duration(t, "SHUTDOWN_TIMEOUT", get("SHUTDOWN_TIMEOUT")) <= duration(t, "UPSTREAM_TIMEOUT", up) {
			t.Errorf("%s: SHUTDOWN_TIMEOUT %s must be longer than UPSTREAM_TIMEOUT %s", s.Name, get("SHUTDOWN_TIMEOUT"), up)
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

// upstreamTimeoutDefault is UPSTREAM_TIMEOUT's default, as internal/config declares it.
func upstreamTimeoutDefault(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("../internal/config/vonage.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`env:"UPSTREAM_TIMEOUT" envDefault:"([^"]+)"`).FindSubmatch(src)
	if m == nil {
		t.Fatal("internal/config/vonage.go: no envDefault for UPSTREAM_TIMEOUT")
	}
	return string(m[1])
}

// TestComposeBuildsTheImageOnce: one service builds the image and every replica runs that image,
// so that `docker compose up --build` builds it once, and a replica never pulls a namesake from a
// registry. A replica that does not build depends on the one that does, so that `docker compose up
// proxy-b` builds it too.
func TestComposeBuildsTheImageOnce(t *testing.T) {
	p := loadCompose(t, map[string]string{})
	var builders []types.ServiceConfig
	for _, name := range p.ServiceNames() {
		if s := p.Services[name]; s.Build != nil {
			builders = append(builders, s)
		}
	}
	if len(builders) != 1 {
		t.Fatalf("want one service that builds, got %d", len(builders))
	}
	builder := builders[0]
	if builder.Image == "" {
		t.Fatalf("%s builds an image without naming it: the other replica cannot run it", builder.Name)
	}
	for _, s := range proxiesOf(t, p) {
		if s.Image != builder.Image {
			t.Errorf("%s runs %q, not %q, which %s builds", s.Name, s.Image, builder.Image, builder.Name)
		}
		if s.Name == builder.Name {
			continue
		}
		if s.PullPolicy != types.PullPolicyNever {
			t.Errorf("%s: pull_policy %q; want never: its image is built here, not pulled", s.Name, s.PullPolicy)
		}
		if _, ok := s.DependsOn[builder.Name]; !ok {
			t.Errorf("%s does not depend on %s: `docker compose up %s` would not build its image", s.Name, builder.Name, s.Name)
		}
	}
}

// TestComposePinsItsImages: every image not built here names an exact version, so that a
// `docker compose up` next month runs what was tested.
func TestComposePinsItsImages(t *testing.T) {
	p := loadCompose(t, map[string]string{})
	built := map[string]bool{}
	for _, s := range p.Services {
		if s.Build != nil {
			built[s.Image] = true
		}
	}
	exact := regexp.MustCompile(`^[^:@]+(:\d+\.\d+\.\d+(-[a-z0-9.]+)?)?(@sha256:[0-9a-f]{64})?$`)
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if built[s.Image] {
			continue
		}
		if m := exact.FindStringSubmatch(s.Image); m == nil || m[1] == "" && m[3] == "" {
			t.Errorf("%s: image %q is not pinned to an exact version (such as redis:7.4.11-alpine)", name, s.Image)
		}
	}
}

// TestComposeTakesEveryVariableOfDotEnv: the proxies read an optional .env whole, yet what wires
// them into compose.yaml stays as it says.
func TestComposeTakesEveryVariableOfDotEnv(t *testing.T) {
	p := loadCompose(t, map[string]string{})
	for _, s := range proxiesOf(t, p) {
		if len(s.EnvFiles) != 1 || filepath.Base(s.EnvFiles[0].Path) != ".env" || s.EnvFiles[0].Required {
			t.Errorf("%s: env_file %+v; want .env, required: false (compose then starts without one)", s.Name, s.EnvFiles)
		}
	}

	p = loadCompose(t, map[string]string{},
		"RATE_LIMIT_NUMBER=5/10m", "FRAUD_GUARD=shadow", "LOG_LEVEL=debug",
		"VERIFY_BACKEND=vonage", "VONAGE_API_KEY=k", "VONAGE_API_SECRET=s", "VERIFY_BRAND=Acme",
		// A .env written for the binary on this machine, which compose must not follow:
		"PORT=8090", "LISTEN_HOST=127.0.0.1", "ADMIN_ADDR=127.0.0.1:9090", "REDIS_URL=redis://localhost:6379/0",
		"REDIS_MODE=cluster", "SHUTDOWN_DELAY=0s", "SHUTDOWN_TIMEOUT=1m")
	for _, s := range proxiesOf(t, p) {
		for _, c := range []struct{ name, want, why string }{
			{"RATE_LIMIT_NUMBER", "5/10m", "a variable compose.yaml does not name passes on"},
			{"FRAUD_GUARD", "shadow", "a variable compose.yaml does not name passes on"},
			{"LOG_LEVEL", "debug", "a default of compose.yaml gives way"},
			{"VERIFY_BACKEND", "vonage", "a default of compose.yaml gives way"},
			{"VONAGE_API_SECRET", "s", "the credentials pass on"},
			{"VERIFY_BRAND", "Acme", "the credentials pass on"},
			{"PORT", "8080", "the published ports reach 8080"},
			{"LISTEN_HOST", "0.0.0.0", "the published ports reach the container's own address"},
			{"ADMIN_ADDR", ":9090", "the published metrics port reaches :9090"},
			{"REDIS_URL", "redis://redis:6379/0", "the replicas share the redis service"},
			{"REDIS_MODE", "single", "the redis service is one server"},
			{"SHUTDOWN_DELAY", "5s", "stop_grace_period is reckoned from it"},
			{"SHUTDOWN_TIMEOUT", "15s", "stop_grace_period is reckoned from it"},
		} {
			if got := envValue(s, c.name); got != c.want {
				t.Errorf("%s: %s=%q with .env, want %q: %s", s.Name, c.name, got, c.want, c.why)
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
