package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
)

// Stages of the verification funnel, the values of verifications_total's outcome label.
const (
	outcomeStarted   = "started"
	outcomeVerified  = "verified"
	outcomeWrongCode = "wrong_code"
	outcomeFailed    = "failed" // too many wrong codes ended it
	outcomeExpired   = "expired"
	outcomeCancelled = "cancelled"
)

var funnel = []string{outcomeStarted, outcomeVerified, outcomeWrongCode, outcomeFailed, outcomeExpired, outcomeCancelled}

// Instrument returns p measured: each call's latency, Verify status and error, and the funnel stage it
// reached. It sits in front of any backend, so the sandbox is measured exactly as Vonage is.
func (m *Metrics) Instrument(p verify.Provider) verify.Provider {
	return &instrumented{next: p, m: m}
}

type instrumented struct {
	next verify.Provider
	m    *Metrics
}

var _ verify.Provider = (*instrumented)(nil)

func (p *instrumented) Start(ctx context.Context, number string) (verify.Started, error) {
	began := time.Now()
	started, err := p.next.Start(ctx, number)
	p.observe(verify.OpStart, began, err)
	if err == nil {
		p.m.verifications.WithLabelValues(outcomeStarted).Inc()
	}
	return started, err
}

func (p *instrumented) Check(ctx context.Context, requestID, code string) (verify.Checked, error) {
	began := time.Now()
	checked, err := p.next.Check(ctx, requestID, code)
	p.observe(verify.OpCheck, began, err)
	if outcome := checkOutcome(err); outcome != "" {
		p.m.verifications.WithLabelValues(outcome).Inc()
	}
	return checked, err
}

func (p *instrumented) Cancel(ctx context.Context, requestID string) error {
	began := time.Now()
	err := p.next.Cancel(ctx, requestID)
	p.observe(verify.OpCancel, began, err)
	if err == nil {
		p.m.verifications.WithLabelValues(outcomeCancelled).Inc()
	}
	return err
}

// checkOutcome is the funnel stage a check reached, "" when it reached none (the verification was
// unknown, or the backend failed).
func checkOutcome(err error) string {
	if err == nil {
		return outcomeVerified
	}
	ve, ok := verify.AsError(err)
	if !ok {
		return ""
	}
	switch ve.Kind {
	case verify.KindCodeMismatch:
		return outcomeWrongCode
	case verify.KindTooManyAttempts:
		return outcomeFailed
	case verify.KindExpired:
		return outcomeExpired
	}
	return ""
}

func (p *instrumented) observe(op verify.Op, began time.Time, err error) {
	status, code := callLabels(err)
	p.m.upstreamCalls.WithLabelValues(op.String(), status, code).Inc()
	p.m.upstreamTime.WithLabelValues(op.String(), status).Observe(time.Since(began).Seconds())
}

// callLabels are the status and error labels of a call's result. The status comes from the
// upstream, so anything but a short number is folded into "other" to bound the series.
func callLabels(err error) (status, code string) {
	if err == nil {
		return verify.StatusOK, "none"
	}
	ve, ok := verify.AsError(err)
	switch {
	case ok:
		return statusLabel(ve.Status), string(ve.Kind)
	case errors.Is(err, context.Canceled):
		return "none", "client_gone"
	}
	return "none", "internal_error"
}

func statusLabel(s string) string {
	if s == "" {
		return "none"
	}
	if len(s) > 4 {
		return "other"
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return "other"
		}
	}
	return s
}
