package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// App Store review numbers: fictional ranges, not valid numbers, as is usual.
var reviewNumbers = map[string]string{"15555550100": "123456", "447700900001": "0000"}

// startTest starts a verification of a test number and returns its request_id, failing t unless the
// answer is a test verification's.
func startTest(t *testing.T, h *harness, number string) string {
	t.Helper()
	r := h.postJSON("/request", requestBody(number))
	if r.status != http.StatusOK || r.str("status") != "0" || !strings.HasPrefix(r.str("request_id"), "test") {
		t.Fatalf("start %s: %d %s", number, r.status, r.raw)
	}
	return r.str("request_id")
}

func TestTestNumberRightCodeVerifiesWithoutTheVerifyAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	id := startTest(t, h, "+1 555 555 0100")
	if r := h.postJSON("/check", checkBody(id, "123456")); r.status != http.StatusOK || r.str("request_id") != id || r.str("status") != "0" ||
		strings.Contains(string(r.raw), "price") {
		t.Fatalf("right code: %d %s; want the request_id and status alone", r.status, r.raw)
	}
	if r := h.postJSON("/check", checkBody(id, "123456")); r.str("error") != "not_found" {
		t.Fatalf("a verified test request must be over: %d %s", r.status, r.raw)
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Fatalf("the Verify API got %d calls for a test number", n)
	}
}

func TestTestNumberStartsGetFreshRequestIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	a, b := startTest(t, h, "447700900001"), startTest(t, h, "447700900001")
	if a == b {
		t.Fatalf("two starts gave one request_id %s", a)
	}
	if r := h.postJSON("/check", checkBody(a, "0000")); r.status != http.StatusOK {
		t.Fatalf("the first request must still be checkable: %d %s", r.status, r.raw)
	}
}

func TestTestNumberWrongCodesAnswer16Then17OnTheThird(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	id := startTest(t, h, "15555550100")
	for i, want := range []struct{ error, status string }{{"code_mismatch", "16"}, {"code_mismatch", "16"}, {"too_many_attempts", "17"}} {
		r := h.postJSON("/check", checkBody(id, "654321"))
		if r.status != http.StatusBadRequest || r.str("error") != want.error || r.str("status") != want.status || r.str("request_id") != id {
			t.Fatalf("wrong code %d: %d %s, want %s (%s)", i+1, r.status, r.raw, want.error, want.status)
		}
	}
	if r := h.postJSON("/check", checkBody(id, "123456")); r.str("error") != "not_found" {
		t.Fatalf("after three wrong codes the right one must not verify: %d %s", r.status, r.raw)
	}
}

func TestTestNumberCancelEndsTheVerification(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	id := startTest(t, h, "15555550100")
	if r := h.postJSON("/cancel", cancelBody(id)); r.status != http.StatusOK || r.str("command") != "cancel" {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	if r := h.postJSON("/cancel", cancelBody(id)); r.str("error") != "not_found" {
		t.Fatalf("second cancel: %d %s", r.status, r.raw)
	}
	if r := h.postJSON("/check", checkBody(id, "123456")); r.str("error") != "not_found" {
		t.Fatalf("check after cancel: %d %s", r.status, r.raw)
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Fatalf("the Verify API got %d calls", n)
	}
}

func TestTestNumberVerificationExpiresLikeARealOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	id := startTest(t, h, "15555550100")
	h.clock.Advance(5 * time.Minute)
	if r := h.postJSON("/check", checkBody(id, "123456")); r.str("error") != "not_found" {
		t.Fatalf("check after 5 minutes: %d %s", r.status, r.raw)
	}
}

func TestTestShapedRequestIDNeverReachesTheVerifyAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	forged := "test" + strings.Repeat("ab", 16)
	if r := h.postJSON("/check", checkBody(forged, "123456")); r.str("error") != "not_found" {
		t.Fatalf("unknown test id: %d %s", r.status, r.raw)
	}
	if r := h.postJSON("/cancel", cancelBody(forged)); r.str("error") != "not_found" {
		t.Fatalf("unknown test id: %d %s", r.status, r.raw)
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Fatalf("the Verify API got %d calls for a test id", n)
	}
}

func TestVonageRequestIDNeverResolvesAsATest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	h.fake.SetCode("123456") // the test number's code, so a mix-up would verify
	vonageID := h.postJSON("/request", requestBody("14155550100")).str("request_id")
	startTest(t, h, "15555550100")
	if r := h.postJSON("/check", checkBody(vonageID, "123456")); r.status != http.StatusOK {
		t.Fatalf("vonage check: %d %s", r.status, r.raw)
	}
	if n := h.upstreamCalls(v1test.PathCheck); n != 1 {
		t.Fatalf("the Vonage request_id's check did not reach Vonage (%d calls)", n)
	}
}

func TestValidTestNumberInNationalFormatIsRecognised(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{defaultCountry: "GB", testNumbers: map[string]string{"442071838750": "4321"}})
	id := startTest(t, h, "020 7183 8750")
	if r := h.postJSON("/check", checkBody(id, "4321")); r.status != http.StatusOK {
		t.Fatalf("check: %d %s", r.status, r.raw)
	}
}

func TestFictionalTestNumberIsRecognisedHoweverItIsTyped(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ region, typed, code string }{
		{"GB", "07700 900001", "0000"},
		{"GB", "+44 (0)7700 900001", "0000"},
		{"GB", "0044 7700 900001", "0000"},
		{"US", "(555) 555-0100", "123456"},
		{"US", "555.555.0100", "123456"},
		{"US", "011 1 555 555 0100", "123456"},
	} {
		t.Run(tt.typed+" in "+tt.region, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{defaultCountry: tt.region, testNumbers: reviewNumbers})
			id := startTest(t, h, tt.typed)
			if r := h.postJSON("/check", checkBody(id, tt.code)); r.status != http.StatusOK {
				t.Errorf("%s typed in %s: check %d %s", tt.typed, tt.region, r.status, r.raw)
			}
			if n := len(h.fake.Requests()); n != 0 {
				t.Errorf("%s typed in %s reached the Verify API", tt.typed, tt.region)
			}
		})
	}
}

func TestRealNumberIsNeverReadAsATestNumber(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, region, test, typed string }{
		// 5511987654321 is a valid Brazilian mobile; a test number configured as its US national
		// reading must not capture it.
		{"a valid international number", "US", "15511987654321", "5511987654321"},
		// With DEFAULT_COUNTRY=CN, 155 5555 0100 is a valid Chinese mobile whose digits are the
		// README's example test number.
		{"a valid national number with a test number's digits", "CN", "15555550100", "155 5555 0100"},
		{"the same, typed as bare digits", "CN", "15555550100", "15555550100"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{defaultCountry: tt.region, testNumbers: map[string]string{tt.test: "1111"}})
			if r := h.postJSON("/request", requestBody(tt.typed)); r.status != http.StatusOK || strings.HasPrefix(r.str("request_id"), "test") {
				t.Errorf("%s: got %d %s, want a real start", tt.name, r.status, r.raw)
			}
			if n := h.upstreamCalls(v1test.PathStart); n != 1 {
				t.Errorf("%s: the real number's start did not reach Vonage", tt.name)
			}
		})
	}
}

// TestTestNumberTypedWithItsPlusIsATestInAnyCountry: the reviewer in a country where the test
// number's digits are a real national number types it with +, which no national reading has.
func TestTestNumberTypedWithItsPlusIsATestInAnyCountry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{defaultCountry: "CN", testNumbers: map[string]string{"15555550100": "1111"}})
	startTest(t, h, "+1 555 555 0100")
}

func TestTestRequestIDInOtherLetterCasesIsTheSameAndStaysLocal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	id := startTest(t, h, "15555550100")
	if r := h.postJSON("/check", checkBody(strings.ToUpper(id), "123456")); r.status != http.StatusOK {
		t.Fatalf("check with the id in capitals: %d %s", r.status, r.raw)
	}
	forged := "TEST" + strings.Repeat("AB", 16)
	if r := h.postJSON("/cancel", cancelBody(forged)); r.str("error") != "not_found" {
		t.Fatalf("unknown test id in capitals: %d %s", r.status, r.raw)
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Fatalf("the Verify API got %d calls for test ids", n)
	}
}

func TestTestNumbersSkipTheDestinationPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: map[string]string{"18002530000": "1111"}, destinations: guard.Destinations{AllowedCountries: []string{"GB"}}})
	startTest(t, h, "18002530000")
}

// TestTestNumbersBypassNumberAndCountryLimitsButNotTheIPLimit: App Store reviewers retry often.
func TestTestNumbersBypassNumberAndCountryLimitsButNotTheIPLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers, limits: guard.Limits{
		IP: limit(5, time.Minute), Number: limit(1, time.Hour), Country: limit(1, time.Hour), Global: limit(1, time.Hour),
	}})
	for i := range 5 {
		if r := h.postJSON("/request", requestBody("15555550100")); r.status != http.StatusOK {
			t.Fatalf("test start %d: %d %s", i+1, r.status, r.raw)
		}
	}
	r := h.postJSON("/request", requestBody("15555550100"))
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.str("error_text"), "per client IP") {
		t.Fatalf("the 6th call from one IP: %d %s", r.status, r.raw)
	}
}
