package sandbox

import (
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/phone"
)

func TestCodeLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.start(t, testNumber)

	records := h.logRecords(t)
	if len(records) != 1 {
		t.Fatalf("%d code records, want 1: %s", len(records), h.log)
	}
	rec := records[0]
	if rec["level"] != "INFO" || rec["request_id"] != id || rec["number"] != phone.Mask(testNumber) {
		t.Fatalf("record = %v, want INFO with request_id %s and the masked number", rec, id)
	}
	if code, _ := rec["code"].(string); len(code) != 4 {
		t.Fatalf("record = %v, want the 4-digit code", rec)
	}
	if strings.Contains(h.log.String(), testNumber) {
		t.Fatalf("log holds the full number: %s", h.log)
	}
}
