package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/clocktest"
	"github.com/verify-proxy/verify-proxy/internal/verify"
)

const testNumber = "14155550100"

// testPinExpiry is how long codes live in tests that do not say: Verify v1's default.
const testPinExpiry = 5 * time.Minute

// harness is a sandbox with a test clock whose log, the developer's only way to see codes, is kept
// as JSON for the test to read.
type harness struct {
	p     *Provider
	clock *clocktest.Clock
	log   *bytes.Buffer // slog's handler serialises writes; read it only when no Start is running
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{clock: clocktest.New(), log: new(bytes.Buffer)}
	opts.Now = h.clock.Now
	if opts.PinExpiry == 0 {
		opts.PinExpiry = testPinExpiry
	}
	h.p = New(opts, slog.New(slog.NewJSONHandler(h.log, nil)))
	return h
}

func (h *harness) start(t *testing.T, number string) string {
	t.Helper()
	started, err := h.p.Start(context.Background(), number)
	if err != nil {
		t.Fatalf("Start(%s): %v", number, err)
	}
	return started.RequestID
}

// logRecords returns the "sandbox verification code" records.
func (h *harness) logRecords(t *testing.T) []map[string]any {
	t.Helper()
	var records []map[string]any
	dec := json.NewDecoder(bytes.NewReader(h.log.Bytes()))
	for dec.More() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("log is not JSON lines: %v", err)
		}
		if rec["msg"] == "sandbox verification code" {
			records = append(records, rec)
		}
	}
	return records
}

// codeFor reads the code for requestID from the log, as a developer would.
func (h *harness) codeFor(t *testing.T, requestID string) string {
	t.Helper()
	for _, rec := range h.logRecords(t) {
		if rec["request_id"] == requestID {
			code, _ := rec["code"].(string)
			return code
		}
	}
	t.Fatalf("no code logged for %s", requestID)
	return ""
}

// wrongCode returns a code of the same length that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func (h *harness) size() int {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if len(h.p.byID) != h.p.byAge.Len() || len(h.p.byNumber) > len(h.p.byID) {
		panic("sandbox indexes out of step")
	}
	return len(h.p.byID)
}

// wantError fails unless err is a *verify.Error with the given kind, status and request_id.
func wantError(t *testing.T, err error, kind verify.Kind, status, requestID string) *verify.Error {
	t.Helper()
	e, ok := verify.AsError(err)
	if !ok {
		t.Fatalf("error = %v, want a *verify.Error of kind %s", err, kind)
	}
	if e.Kind != kind || e.Status != status || e.RequestID != requestID {
		t.Fatalf("error = {Kind:%s Status:%q RequestID:%q}, want {Kind:%s Status:%q RequestID:%q}",
			e.Kind, e.Status, e.RequestID, kind, status, requestID)
	}
	if e.Text == "" {
		t.Fatalf("error %v has no text", e)
	}
	return e
}

// zeroReader is a Rand that always draws zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

var errBrokenRand = errors.New("broken rand")

type brokenReader struct{}

func (brokenReader) Read([]byte) (int, error) { return 0, errBrokenRand }
