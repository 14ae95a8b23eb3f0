// Package metrics owns what verify-proxy tells Prometheus: HTTP requests, calls to the verification
// backend, the verification funnel, refusals, and build info, in one registry per server instance
// (never the process-wide default, so that tests can run several servers in one process), served in
// the Prometheus text format by Handler on the admin listener.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// namespace prefixes every metric of ours.
const namespace = "verify_proxy"

// The label values that show at 0 from the start, of those the guard and the server record, which
// this package may not import (guard.Scope*, guard.RuleFraud*, guard.KindVerificationBlocked,
// guard.StoreFailure*, server.StoreFailureProbe): internal/server's
// TestAlertedSeriesShowFromTheStart keeps them in step.
var (
	fraudScopes   = []string{"prefix", "country"}
	fraudRules    = []string{"fraud_prefix", "fraud_country"}
	storeOutcomes = []string{"refused", "memory", "let_through", "probe", "full"}
)

const reasonVerificationBlocked = "verification_blocked"

// latencyBuckets span a fast local answer (5 ms) to the longest upstream timeout worth waiting for.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics holds the collectors of one server. Its methods are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	httpInFlight  prometheus.Gauge
	upstreamCalls *prometheus.CounterVec
	upstreamTime  *prometheus.HistogramVec
	verifications *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	storeFailures *prometheus.CounterVec
	fraudStarts   *prometheus.CounterVec
	fraudVerified *prometheus.CounterVec
	fraudBlocks   *prometheus.CounterVec
	fraudShadow   *prometheus.CounterVec
}

// New returns the metrics of one server, version being the build's version (the -X ldflag).
func New(version string) *Metrics {
	if version == "" {
		version = "unknown"
	}
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{
		registry: reg,
		httpRequests: f.counterVec("http_requests_total",
			"HTTP requests answered, by route (the matched route pattern), method and status code.",
			"route", "method", "status"),
		httpDuration: f.histogramVec("http_request_duration_seconds",
			"Time from a request's arrival to its answer, by route, method and status code.",
			"route", "method", "status"),
		httpInFlight: f.gauge("http_requests_in_flight", "HTTP requests being served now."),
		upstreamCalls: f.counterVec("upstream_requests_total",
			"Calls to the verification backend, by endpoint (start, check, cancel), Verify status "+
				`("0" is success; "none" when no status came back) and error code ("none" on success).`,
			"endpoint", "status", "error"),
		upstreamTime: f.histogramVec("upstream_request_duration_seconds",
			"Time a call to the verification backend took, by endpoint and Verify status.",
			"endpoint", "status"),
		verifications: f.counterVec("verifications_total",
			"The verification funnel: started, verified, wrong_code, failed (too many wrong codes), "+
				"expired, cancelled.",
			"outcome"),
		refusals: f.counterVec("refusals_total",
			"Requests refused before any call to the verification backend, by reason (the error code "+
				"the client got) and rule (which rate limit or destination rule refused; empty for others).",
			"reason", "rule"),
		storeFailures: f.counterVec("store_failures_total",
			"Calls to the shared state (Redis) that failed, by what was done about them: refused (a "+
				"start, failing closed), memory (let through, its limits counted in this replica's memory) "+
				"or let_through (let through uncounted, such as an idempotency record that was not kept); "+
				"probe: a readiness probe of Redis that failed; full: not Redis, the in-memory state full of "+
				"what guards spend (MEMORY_STORE_MAX_KEYS), so a start was refused or a count not kept.",
			"outcome"),
	}
	m.fraudStarts = f.counterVec("fraud_starts_total",
		"Verifications started, by destination country (ISO 3166 region, or + and a country code): what "+
			"the fraud guard's conversion is measured on. Test numbers are not counted.",
		"country")
	m.fraudVerified = f.counterVec("fraud_verified_total",
		"Verifications verified, by destination country: divided by fraud_starts_total, the conversion.",
		"country")
	m.fraudBlocks = f.counterVec("fraud_blocks_total",
		"Blocks the fraud guard started, by scope (prefix or country).",
		"scope")
	m.fraudShadow = f.counterVec("fraud_shadow_refusals_total",
		"Starts the fraud guard would have refused with FRAUD_GUARD=shadow, by rule (fraud_prefix, fraud_country).",
		"rule")
	info := f.gaugeVec("build_info", "Always 1; the labels say which build is running.", "version", "go_version")
	info.WithLabelValues(version, runtime.Version()).Set(1)
	for _, outcome := range funnel {
		m.verifications.WithLabelValues(outcome) // every stage shows from the start, at 0
	}
	// So do the rare events that page or warn someone (deploy/prometheus/rules.yaml): Prometheus's
	// increase() cannot see the first event of a series born at 1, and the first fraud block or
	// Redis failure since a replica started is the one that matters.
	for _, scope := range fraudScopes {
		m.fraudBlocks.WithLabelValues(scope)
	}
	for _, rule := range fraudRules {
		m.fraudShadow.WithLabelValues(rule)
		m.refusals.WithLabelValues(reasonVerificationBlocked, rule)
	}
	for _, outcome := range storeOutcomes {
		m.storeFailures.WithLabelValues(outcome)
	}
	for _, op := range verify.Ops {
		m.upstreamCalls.WithLabelValues(op.String(), verify.StatusOK, "none") // the first check counts too
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObserveRequest counts one answered HTTP request. route is the matched route pattern ("" when no
// route matched), never the raw path, so that scanners cannot create a series per path they try.
func (m *Metrics) ObserveRequest(route, method string, status int, took time.Duration) {
	labels := []string{routeLabel(route), methodLabel(method), strconv.Itoa(status)}
	m.httpRequests.WithLabelValues(labels...).Inc()
	m.httpDuration.WithLabelValues(labels...).Observe(took.Seconds())
}

// InFlight counts a request as being served until the returned func is called.
func (m *Metrics) InFlight() (done func()) {
	m.httpInFlight.Inc()
	return m.httpInFlight.Dec
}

// Refused counts a request refused before the verification backend was called, reason being the
// error code the client got (invalid_number, rate_limited, destination_not_allowed, ...) and rule
// the limit or destination rule that refused it ("ip", "number", "prefix", "check", "wrong_codes",
// "country", "global", "number_type", "fraud_prefix", "fraud_country"), or "" when no rule did.
func (m *Metrics) Refused(reason, rule string) {
	m.refusals.WithLabelValues(reason, rule).Inc()
}

// FraudStarted implements guard.FraudObserver.
func (m *Metrics) FraudStarted(country string) { m.fraudStarts.WithLabelValues(country).Inc() }

// FraudVerified implements guard.FraudObserver.
func (m *Metrics) FraudVerified(country string) { m.fraudVerified.WithLabelValues(country).Inc() }

// FraudBlocked implements guard.FraudObserver.
func (m *Metrics) FraudBlocked(scope string) { m.fraudBlocks.WithLabelValues(scope).Inc() }

// FraudShadowRefused implements guard.FraudObserver.
func (m *Metrics) FraudShadowRefused(rule string) { m.fraudShadow.WithLabelValues(rule).Inc() }

// StoreFailed counts a failed call to the shared state by what the guard did about it.
func (m *Metrics) StoreFailed(outcome string) {
	m.storeFailures.WithLabelValues(outcome).Inc()
}

// UnmatchedRoute is the route of a request that matched no route: never its path, which the client
// chooses.
const UnmatchedRoute = "unmatched"

// routeLabel keeps the route label to the server's own route patterns.
func routeLabel(route string) string {
	if route == "" {
		return UnmatchedRoute
	}
	return route
}

// methodLabel keeps the method label to a fixed set: a client can send any token as a method.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// factory registers each collector it makes in one registry.
type factory struct{ reg *prometheus.Registry }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: name, Help: help, Buckets: latencyBuckets,
	}, labels)
	f.reg.MustRegister(h)
	return h
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}
