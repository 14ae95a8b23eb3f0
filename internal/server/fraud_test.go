package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/metricstest"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// The fraud guard, tried as an SMS pumper and its victims would meet it: through the real server,
// against the fake Verify API, with the guard's clock moved by hand.

// fraudOptions are thresholds a test can reach in a few calls: a prefix is judged on 3 settled
// starts and a country on 10, and either is paused for an hour when fewer than 20% converted.
func fraudOptions(mode guard.FraudMode) guard.FraudOptions {
	return guard.FraudOptions{
		Mode: mode, Window: time.Hour, SettleAfter: 5 * time.Minute,
		MinStartsPrefix: 3, MinStartsCountry: 10, MinConversion: 0.2,
		BlockFor: time.Hour, TrustVerifiedFor: 720 * time.Hour,
	}
}

// settleTime is how far the clock moves for every start made before it to count as unverified: the
// guard counts starts by the minute they were made in, and a minute settles once all of it is older
// than SettleAfter (5m), so a start made at hh:mm:00 settles a minute past SettleAfter at worst.
const settleTime = 6 * time.Minute

// pumped is the prefix the tests pump: +1 415 555, a block of 10,000 US numbers.
const pumped = "1415555"

// numberIn is the i-th number of prefix (E.164 digits without the last 4).
func numberIn(prefix string, i int) string { return fmt.Sprintf("%s%04d", prefix, i) }

// pump starts a verification to each of n numbers of prefix from its first-th, as a pumper does:
// nobody will enter their codes. It returns their request_ids.
func pump(t *testing.T, h *harness, prefix string, first, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = startOK(t, h, numberIn(prefix, first+i))
	}
	return ids
}

// cancelAll cancels each verification: nobody will enter its code, so each counts as unverified at
// once instead of after SettleAfter.
func cancelAll(t *testing.T, h *harness, ids []string) {
	t.Helper()
	for _, id := range ids {
		if r := h.postJSON("/cancel", cancelBody(id)); r.status != http.StatusOK {
			t.Fatalf("cancel %s: %d %s", id, r.status, r.raw)
		}
	}
}

// verifyNumber starts a verification of number and enters its right code, as a real user does.
func verifyNumber(t *testing.T, h *harness, number string) {
	t.Helper()
	id := startOK(t, h, number)
	if r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); r.status != http.StatusOK {
		t.Fatalf("right code for %s: %d %s", number, r.status, r.raw)
	}
}

// wrongCodeFor is a code that is not id's.
func wrongCodeFor(h *harness, id string) string {
	if h.fake.CodeFor(id) == "0000" {
		return "1111"
	}
	return "0000"
}

// wantPaused fails t unless r is the fraud guard's refusal: 403 verification_blocked, with a text
// that tells a pumper nothing it could tune its traffic by (no threshold, figure or prefix).
func wantPaused(t *testing.T, r *response) {
	t.Helper()
	if r.status != http.StatusForbidden || r.str("error") != "verification_blocked" {
		t.Fatalf("got %d %s, want 403 verification_blocked", r.status, r.raw)
	}
	text := strings.ToLower(r.str("error_text"))
	for _, giveaway := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "%", "conversion", "threshold", "prefix", "settled"} {
		if strings.Contains(text, giveaway) {
			t.Fatalf("error_text %q gives %q away", r.str("error_text"), giveaway)
		}
	}
}

// wantStarted fails t unless r started a verification at the Verify API.
func wantStarted(t *testing.T, r *response) {
	t.Helper()
	if r.status != http.StatusOK || r.str("request_id") == "" {
		t.Fatalf("got %d %s, want a started verification", r.status, r.raw)
	}
}

// records are the log records with message msg, in order.
func records(t *testing.T, h *harness, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

const (
	msgPaused  = "fraud guard: verifications paused"
	msgResumed = "fraud guard: verifications resumed"
)

// wantMetric fails t unless the series of name with labels adds up to want.
func wantMetric(t *testing.T, m metricstest.Families, want float64, name string, labels ...string) {
	t.Helper()
	if got := m.Sum(name, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// wantNone fails t unless the series of name with labels counted nothing, shown at 0 or not at all.
func wantNone(t *testing.T, m metricstest.Families, name string, labels ...string) {
	t.Helper()
	if got := m.Sum(name, labels...); got > 0 {
		t.Errorf("%s%v = %v, want none", name, labels, got)
	}
}

// TestFraudGuardPausesAPrefixWhoseCodesAreNeverEntered: three starts to one prefix that nobody
// verifies, once settled, pause the prefix: its next starts are refused before the Verify API is
// called, while other prefixes and countries go on. In shadow mode the same block is recorded, and
// nothing is refused.
func TestFraudGuardPausesAPrefixWhoseCodesAreNeverEntered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mode  guard.FraudMode
		store func(t *testing.T) state.Store
	}{
		{"enforced, in memory", guard.FraudEnforce, func(*testing.T) state.Store { return nil }},
		{"enforced, in Redis", guard.FraudEnforce, func(t *testing.T) state.Store { return redisStore(t, redistest.Start(t)) }},
		{"in shadow mode nothing is refused", guard.FraudShadow, func(*testing.T) state.Store { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{fraud: fraudOptions(tt.mode), store: tt.store(t)})
			pump(t, h, pumped, 0, 3)
			h.clock.Advance(settleTime)

			starts := h.upstreamCalls(v1test.PathStart)
			for i := range 2 {
				r := h.postJSON("/request", requestBody(numberIn(pumped, 100+i)))
				if tt.mode == guard.FraudShadow {
					wantStarted(t, r)
				} else {
					wantPaused(t, r)
				}
			}
			sent := 0
			if tt.mode == guard.FraudShadow {
				sent = 2
			}
			if n := h.upstreamCalls(v1test.PathStart) - starts; n != sent {
				t.Fatalf("the Verify API got %d starts to the paused prefix, want %d", n, sent)
			}
			// Another prefix of the same country, and another country, are not paused.
			wantStarted(t, h.postJSON("/request", requestBody("14155560100")))
			wantStarted(t, h.postJSON("/request", requestBody("442071838750")))

			m := metricstest.Scrape(t, h.metrics+"/metrics")
			wantMetric(t, m, 1, "verify_proxy_fraud_blocks_total", "scope", "prefix")
			wantNone(t, m, "verify_proxy_fraud_blocks_total", "scope", "country")
			wantMetric(t, m, 4+float64(sent), "verify_proxy_fraud_starts_total", "country", "US")
			wantMetric(t, m, 1, "verify_proxy_fraud_starts_total", "country", "GB")
			if tt.mode == guard.FraudShadow {
				wantMetric(t, m, 2, "verify_proxy_fraud_shadow_refusals_total", "rule", "fraud_prefix")
				wantNone(t, m, "verify_proxy_refusals_total", "reason", "verification_blocked")
				if n := len(records(t, h, "fraud guard (shadow): this start would have been refused")); n != 2 {
					t.Errorf("%d shadow refusals logged, want 2", n)
				}
			} else {
				wantMetric(t, m, 2, "verify_proxy_refusals_total", "reason", "verification_blocked", "rule", "fraud_prefix")
				wantNone(t, m, "verify_proxy_fraud_shadow_refusals_total")
			}

			paused := records(t, h, msgPaused)
			if len(paused) != 1 {
				t.Fatalf("%d %q lines, want 1:\n%s", len(paused), msgPaused, h.logs)
			}
			got := paused[0]
			if got["scope"] != "prefix" || got["key"] != "+"+pumped || got["settled"] != 3.0 || got["verified"] != 0.0 ||
				got["repeat"] != 1.0 || got["mode"] != string(tt.mode) {
				t.Errorf("paused line: %v", got)
			}
			if h.logs.Holds(numberIn(pumped, 100)) {
				t.Errorf("the log holds a whole number:\n%s", h.logs)
			}
		})
	}
}

// TestFraudBlockSparesVerificationsStartedBeforeIt: a user whose code was sent before the prefix was
// paused can still enter it, and cancel.
func TestFraudBlockSparesVerificationsStartedBeforeIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{fraud: fraudOptions(guard.FraudEnforce)})
	early := startOK(t, h, numberIn(pumped, 0))
	other := startOK(t, h, numberIn(pumped, 1))
	cancelAll(t, h, pump(t, h, pumped, 10, 3))
	wantPaused(t, h.postJSON("/request", requestBody(numberIn(pumped, 20))))

	if r := h.postJSON("/check", checkBody(early, h.fake.CodeFor(early))); r.status != http.StatusOK || r.str("status") != "0" {
		t.Fatalf("right code of a start made before the block: %d %s", r.status, r.raw)
	}
	if r := h.postJSON("/cancel", cancelBody(other)); r.status != http.StatusOK {
		t.Fatalf("cancel of a start made before the block: %d %s", r.status, r.raw)
	}
}

// TestFraudGuardSparesVerifiedAndTestNumbers: a number verified here before passes its paused
// prefix; a test number is never refused, and its starts, sent nowhere, are never counted.
func TestFraudGuardSparesVerifiedAndTestNumbers(t *testing.T) {
	t.Parallel()
	reviewer, idle := numberIn(pumped, 9999), "14155569999" // test numbers in the pumped prefix and in a quiet one
	h := newHarness(t, options{fraud: fraudOptions(guard.FraudEnforce),
		testNumbers: map[string]string{reviewer: "123456", idle: "123456"}})
	returning := numberIn(pumped, 0)
	verifyNumber(t, h, returning)
	cancelAll(t, h, pump(t, h, pumped, 1, 5)) // 1 verified of 6 settled: below 20%
	wantPaused(t, h.postJSON("/request", requestBody(numberIn(pumped, 100))))

	starts := h.upstreamCalls(v1test.PathStart)
	wantStarted(t, h.postJSON("/request", requestBody("+1 415 555 0000"))) // the returning number, typed another way
	if n := h.upstreamCalls(v1test.PathStart); n != starts+1 {
		t.Fatalf("the returning user's start did not reach the Verify API: %d calls, want %d", n, starts+1)
	}
	for range 3 {
		startTest(t, h, reviewer)
	}

	// Test numbers started and never verified do not make their prefix look pumped.
	for range 5 {
		startTest(t, h, idle)
	}
	h.clock.Advance(settleTime)
	wantStarted(t, h.postJSON("/request", requestBody("14155560100")))

	m := metricstest.Scrape(t, h.metrics+"/metrics")
	wantMetric(t, m, 8, "verify_proxy_fraud_starts_total", "country", "US") // 1+5 pumped, the returning user twice, 14155560100
	wantMetric(t, m, 1, "verify_proxy_fraud_verified_total", "country", "US")
	wantMetric(t, m, 1, "verify_proxy_refusals_total", "reason", "verification_blocked")
}

// TestFraudBlockEndsAfterBlockForAndARepeatLastsTwiceAsLong: a block lifts by itself after
// BlockFor, logged once; the prefix is then suspect, so one more unverified start pauses it again,
// for twice as long.
func TestFraudBlockEndsAfterBlockForAndARepeatLastsTwiceAsLong(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{fraud: fraudOptions(guard.FraudEnforce)})
	pump(t, h, pumped, 0, 3)
	h.clock.Advance(settleTime)
	wantPaused(t, h.postJSON("/request", requestBody(numberIn(pumped, 100))))

	h.clock.Advance(time.Hour - time.Second)
	wantPaused(t, h.postJSON("/request", requestBody(numberIn(pumped, 101))))
	if n := len(records(t, h, msgResumed)); n != 0 {
		t.Fatalf("resumed logged %d times before the block's end", n)
	}
	h.clock.Advance(time.Second)
	again := startOK(t, h, numberIn(pumped, 200))
	h.clock.Advance(2 * time.Second) // past the guard's once-a-second look for ended blocks
	startOK(t, h, numberIn(pumped, 201))
	resumed := records(t, h, msgResumed)
	if len(resumed) != 1 || resumed[0]["scope"] != "prefix" || resumed[0]["key"] != "+"+pumped {
		t.Fatalf("resumed lines: %v, want one for the prefix", resumed)
	}

	// One unverified start is enough now: the bar of a prefix blocked within a day drops.
	cancelAll(t, h, []string{again})
	wantPaused(t, h.postJSON("/request", requestBody(numberIn(pumped, 300))))
	paused := records(t, h, msgPaused)
	if len(paused) != 2 || paused[1]["repeat"] != 2.0 {
		t.Fatalf("paused lines: %v, want a second one with repeat 2", paused)
	}
	since, until := h.clock.Now(), h.clock.Now().Add(2*time.Hour)
	if paused[1]["until"] != until.Format(time.RFC3339Nano) {
		t.Errorf("the repeat block lasts until %v, want %v (2h from %v)", paused[1]["until"], until, since)
	}
	h.clock.Advance(2*time.Hour - time.Second)
	wantPaused(t, h.postJSON("/request", requestBody(numberIn(pumped, 301))))
	h.clock.Advance(time.Second)
	wantStarted(t, h.postJSON("/request", requestBody(numberIn(pumped, 302))))
	if n := len(records(t, h, msgResumed)); n != 2 {
		t.Fatalf("resumed logged %d times, want 2", n)
	}
	wantMetric(t, metricstest.Scrape(t, h.metrics+"/metrics"), 2, "verify_proxy_fraud_blocks_total", "scope", "prefix")
}

// TestFraudBlockEndIsNotUndoneByTheStartsThatCausedIt: when a block's time is up the prefix opens,
// even while the starts that caused it are still within the window (FRAUD_BLOCK_FOR shorter than
// FRAUD_WINDOW, or starts that settled in the block's own minute): only new unverified starts may
// pause it again. Otherwise a pumping that stopped is paused again, for twice as long, by the
// evidence it was already paused for.
func TestFraudBlockEndIsNotUndoneByTheStartsThatCausedIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		blockFor time.Duration
		settle   func(t *testing.T, h *harness, ids []string)
	}{
		{"a block shorter than the window", 15 * time.Minute,
			func(_ *testing.T, h *harness, _ []string) { h.clock.Advance(settleTime) }},
		{"starts that settled in the block's own minute", time.Hour, cancelAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := fraudOptions(guard.FraudEnforce)
			opts.BlockFor = tt.blockFor
			h := newHarness(t, options{fraud: opts})
			tt.settle(t, h, pump(t, h, pumped, 0, 3))
			wantPaused(t, h.postJSON("/request", requestBody(numberIn(pumped, 100))))
			h.clock.Advance(tt.blockFor)
			r := h.postJSON("/request", requestBody(numberIn(pumped, 101)))
			if r.status != http.StatusOK {
				t.Errorf("the first start after the block's end: %d %s, want 200; logged:\n%v\n%v",
					r.status, r.raw, records(t, h, msgResumed), records(t, h, msgPaused))
			}
		})
	}
}

// TestFraudGuardSuspectsACountryPumpedAcrossPrefixes: a pumper that spreads its starts over many
// prefixes, each too few to judge, still pauses the country. There, a prefix that converted today
// passes freely; any other gets one start a day (a new user still gets a code), then is refused;
// a number verified here before always passes; other countries are untouched.
func TestFraudGuardSuspectsACountryPumpedAcrossPrefixes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{fraud: fraudOptions(guard.FraudEnforce)})
	longAgo := "14155590100"
	verifyNumber(t, h, longAgo) // trusted for 30 days; its prefix's conversion is forgotten after one
	h.clock.Advance(25 * time.Hour)
	converting := "1415558"
	verifyNumber(t, h, numberIn(converting, 0))
	for _, prefix := range []string{"1415551", "1415552", "1415553", "1415554", "1415555"} {
		pump(t, h, prefix, 0, 2) // 2 each: below the prefix's threshold of 3
	}
	h.clock.Advance(settleTime) // 11 settled in the country, 1 verified

	fresh := "1415557"
	wantStarted(t, h.postJSON("/request", requestBody(numberIn(fresh, 0)))) // the probation start
	paused := records(t, h, msgPaused)
	if len(paused) != 1 || paused[0]["scope"] != "country" || paused[0]["key"] != "US" {
		t.Fatalf("paused lines: %v, want one for the country US", paused)
	}
	wantPaused(t, h.postJSON("/request", requestBody(numberIn(fresh, 1))))
	wantPaused(t, h.postJSON("/request", requestBody(numberIn(fresh, 2))))

	for i := 1; i <= 3; i++ {
		wantStarted(t, h.postJSON("/request", requestBody(numberIn(converting, i))))
	}
	wantStarted(t, h.postJSON("/request", requestBody(numberIn("1415559", 1)))) // its probation
	wantPaused(t, h.postJSON("/request", requestBody(numberIn("1415559", 2))))
	wantStarted(t, h.postJSON("/request", requestBody(longAgo)))
	wantStarted(t, h.postJSON("/request", requestBody(numberIn("1415551", 10)))) // a pumped prefix's probation
	wantPaused(t, h.postJSON("/request", requestBody(numberIn("1415551", 11))))
	wantStarted(t, h.postJSON("/request", requestBody("442071838750")))

	m := metricstest.Scrape(t, h.metrics+"/metrics")
	wantMetric(t, m, 1, "verify_proxy_fraud_blocks_total", "scope", "country")
	wantNone(t, m, "verify_proxy_fraud_blocks_total", "scope", "prefix")
	wantMetric(t, m, 4, "verify_proxy_refusals_total", "reason", "verification_blocked", "rule", "fraud_country")
}

// TestProbationIsSpentOnlyByAStartThatHappened: in a suspect country a prefix that has not
// converted today gets one start a day, so that a new user there still gets a code. A start that
// never happened (refused by a rate limit, or never accepted by the Verify API) sent no code: it
// must not spend that start, or the user's retry is refused for a day.
func TestProbationIsSpentOnlyByAStartThatHappened(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limits guard.Limits
		fail   func(h *harness) int // makes the probation start fail, answering the status it gets
		heal   func(h *harness)     // makes the retry possible
	}{
		{"refused by the global limit the pump used up", guard.Limits{Global: limit(10, time.Hour)},
			func(*harness) int { return http.StatusTooManyRequests },
			func(h *harness) { h.clock.Advance(time.Hour - settleTime) }}, // the pump's starts leave the limit's window
		{"never accepted by the Verify API", guard.Limits{},
			func(h *harness) int {
				h.fake.Script(v1test.PathStart, http.StatusInternalServerError, "oops")
				return http.StatusBadGateway
			},
			func(h *harness) { h.fake.Respond(v1test.PathStart, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{fraud: fraudOptions(guard.FraudEnforce), limits: tt.limits})
			for _, prefix := range []string{"1415551", "1415552", "1415553", "1415554", "1415555"} {
				pump(t, h, prefix, 0, 2)
			}
			h.clock.Advance(settleTime)

			want := tt.fail(h)
			if r := h.postJSON("/request", requestBody("14155570100")); r.status != want {
				t.Fatalf("the probation start: %d %s, want %d", r.status, r.raw, want)
			}
			if paused := records(t, h, msgPaused); len(paused) != 1 || paused[0]["scope"] != "country" {
				t.Fatalf("paused lines: %v, want the country's", paused)
			}
			tt.heal(h)
			if r := h.postJSON("/request", requestBody("14155570100")); r.status != http.StatusOK {
				t.Errorf("the user's retry, the first start that could send a code: %d %s, want 200", r.status, r.raw)
			}
		})
	}
}

// TestFraudConversionCountsOnlySettledStarts: a start is a failure only once it is settled (too
// many wrong codes, cancelled, or older than SettleAfter); a start still pending, or one the Verify
// API never accepted, is not; and verified starts keep a prefix open.
func TestFraudConversionCountsOnlySettledStarts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// Of starts to the prefix, the first verified are verified, the next cancelled cancelled,
		// the next failed get three wrong codes, the next wrongOnce one wrong code.
		starts, verified, cancelled, failed, wrongOnce int
		unaccepted                                     int // starts the Verify API answered with HTTP 500
		advance                                        time.Duration
		paused                                         bool
	}{
		{name: "pending starts never pause", starts: 5, advance: 5 * time.Minute},
		{name: "unverified starts count once older than SettleAfter", starts: 3, advance: settleTime, paused: true},
		{name: "half verified keeps the prefix open", starts: 10, verified: 5, advance: settleTime},
		{name: "a conversion of exactly MinConversion keeps it open", starts: 10, verified: 2, advance: settleTime},
		{name: "a conversion below MinConversion pauses", starts: 10, verified: 1, advance: settleTime, paused: true},
		{name: "one verified among cancelled ones keeps it open", starts: 5, verified: 1, cancelled: 4},
		{name: "cancelled starts count at once", starts: 3, cancelled: 3, paused: true},
		{name: "three wrong codes count at once", starts: 3, failed: 3, paused: true},
		{name: "one wrong code leaves a start pending", starts: 3, wrongOnce: 3},
		{name: "fewer settled starts than MinStartsPrefix never pause", starts: 2, cancelled: 2, advance: settleTime},
		{name: "starts older than the window are forgotten", starts: 3, advance: time.Hour + time.Minute},
		{name: "starts the Verify API never accepted are not starts", unaccepted: 5, advance: settleTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := fraudOptions(guard.FraudEnforce)
			opts.MinStartsCountry = 1000 // the prefix alone is judged here
			h := newHarness(t, options{fraud: opts})
			if tt.unaccepted > 0 {
				h.fake.Script(v1test.PathStart, http.StatusInternalServerError, "oops")
				for i := range tt.unaccepted {
					if r := h.postJSON("/request", requestBody(numberIn(pumped, 500+i))); r.status != http.StatusBadGateway {
						t.Fatalf("start against a failing Verify API: %d %s", r.status, r.raw)
					}
				}
				h.fake.Respond(v1test.PathStart, nil)
			}
			ids := pump(t, h, pumped, 0, tt.starts)
			next := func(n int) []string {
				out := ids[:n]
				ids = ids[n:]
				return out
			}
			for _, id := range next(tt.verified) {
				if r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); r.status != http.StatusOK {
					t.Fatalf("right code: %d %s", r.status, r.raw)
				}
			}
			cancelAll(t, h, next(tt.cancelled))
			for _, id := range next(tt.failed) {
				for _, want := range []string{"code_mismatch", "code_mismatch", "too_many_attempts"} {
					if r := h.postJSON("/check", checkBody(id, wrongCodeFor(h, id))); r.str("error") != want {
						t.Fatalf("wrong code: %d %s, want %s", r.status, r.raw, want)
					}
				}
			}
			for _, id := range next(tt.wrongOnce) {
				if r := h.postJSON("/check", checkBody(id, wrongCodeFor(h, id))); r.str("error") != "code_mismatch" {
					t.Fatalf("wrong code: %d %s", r.status, r.raw)
				}
			}
			h.clock.Advance(tt.advance)

			r := h.postJSON("/request", requestBody(numberIn(pumped, 9000)))
			if tt.paused {
				wantPaused(t, r)
			} else {
				wantStarted(t, r)
			}
		})
	}
}

// TestPrefixRateLimitSparesVerifiedNumbers: RATE_LIMIT_PREFIX bounds starts to a block of 10,000
// numbers, as pumping walks a range; a number verified here before, and a test number, are not
// counted, so returning users are never limited by a pump in their range. The README promises it
// of RATE_LIMIT_PREFIX whatever FRAUD_GUARD says, and FRAUD_GUARD=off leaves the limit on.
func TestPrefixRateLimitSparesVerifiedNumbers(t *testing.T) {
	t.Parallel()
	for _, mode := range []guard.FraudMode{guard.FraudEnforce, guard.FraudShadow, guard.FraudOff} {
		t.Run("fraud guard "+string(mode), func(t *testing.T) {
			t.Parallel()
			opts := fraudOptions(mode)
			opts.MinStartsPrefix = 1000 // the limit, not the fraud guard, is tried here
			reviewer := numberIn(pumped, 9999)
			h := newHarness(t, options{fraud: opts, limits: guard.Limits{Prefix: limit(2, time.Hour)},
				testNumbers: map[string]string{reviewer: "123456"}})

			returning := numberIn(pumped, 0)
			verifyNumber(t, h, returning)
			for range 3 {
				startTest(t, h, reviewer)
			}
			startOK(t, h, numberIn(pumped, 1))
			starts := h.upstreamCalls(v1test.PathStart)
			r := h.postJSON("/request", requestBody(numberIn(pumped, 2)))
			if r.status != http.StatusTooManyRequests || r.str("error") != "rate_limited" ||
				!strings.Contains(r.str("error_text"), "per number prefix (2/1h)") || r.header.Get("Retry-After") != "3600" {
				t.Fatalf("3rd start to the prefix in the hour: %d %s (Retry-After %q), want 429 for the prefix limit",
					r.status, r.raw, r.header.Get("Retry-After"))
			}
			if n := h.upstreamCalls(v1test.PathStart); n != starts {
				t.Fatalf("the limited start reached the Verify API")
			}
			if r := h.postJSON("/request", requestBody(returning)); r.status != http.StatusOK {
				t.Errorf("the returning user, verified here before: %d %s, want 200", r.status, r.raw)
			}
			wantStarted(t, h.postJSON("/request", requestBody("14155560100"))) // another prefix
			startTest(t, h, reviewer)
			wantMetric(t, metricstest.Scrape(t, h.metrics+"/metrics"), 1, "verify_proxy_refusals_total",
				"reason", "rate_limited", "rule", "prefix")

			h.clock.Advance(time.Hour)
			wantStarted(t, h.postJSON("/request", requestBody(numberIn(pumped, 2))))
		})
	}
}

// TestBudgetsCountOnlyWhatTheVerifyAPIAccepted: a start or check the Verify API never accepted (it
// failed, timed out or throttled us) costs nothing, so it uses up no budget: once Vonage is back,
// the user goes on at once. What Vonage did answer, a refusal of its own or a wrong code, counts.
func TestBudgetsCountOnlyWhatTheVerifyAPIAccepted(t *testing.T) {
	t.Parallel()
	down := func(h *harness, path string) { h.fake.Script(path, http.StatusInternalServerError, "oops") }
	throttled := func(h *harness, path string) {
		h.fake.Script(path, http.StatusOK, `{"status":"1","error_text":"Throttled"}`)
	}
	hung := func(h *harness, path string) { h.fake.Hang(path) }
	tests := []struct {
		name   string
		limits guard.Limits
		fail   func(h *harness, path string)
		// status is what the app gets while the Verify API fails.
		status int
		// retry is started after the Verify API is back; then over is refused by the same limit.
		retry, over string
		rule        string
	}{
		{"per number, Verify API failing", guard.Limits{Number: limit(1, 10*time.Minute)}, down, http.StatusBadGateway,
			"14155550100", "14155550100", "per phone number"},
		{"per number, Verify API throttling", guard.Limits{Number: limit(1, 10*time.Minute)}, throttled, http.StatusTooManyRequests,
			"14155550100", "14155550100", "per phone number"},
		{"per number, Verify API timing out", guard.Limits{Number: limit(1, 10*time.Minute)}, hung, http.StatusGatewayTimeout,
			"14155550100", "14155550100", "per phone number"},
		{"per prefix", guard.Limits{Prefix: limit(1, time.Hour)}, down, http.StatusBadGateway,
			"14155550100", "14155550101", "per number prefix"},
		{"per country", guard.Limits{Country: limit(1, time.Hour)}, down, http.StatusBadGateway,
			"14155550100", "13102000000", "per country"},
		{"global", guard.Limits{Global: limit(1, time.Hour)}, down, http.StatusBadGateway,
			"14155550100", "442071838750", "global"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{limits: tt.limits, timeout: 200 * time.Millisecond})
			tt.fail(h, v1test.PathStart)
			for i := range 3 { // more than the limit: none of them counted
				if r := h.postJSON("/request", requestBody(tt.retry)); r.status != tt.status {
					t.Fatalf("start %d against a failing Verify API: %d %s, want %d", i+1, r.status, r.raw, tt.status)
				}
			}
			h.fake.Respond(v1test.PathStart, nil)
			wantStarted(t, h.postJSON("/request", requestBody(tt.retry)))
			r := h.postJSON("/request", requestBody(tt.over))
			if r.status != http.StatusTooManyRequests || !strings.Contains(r.str("error_text"), tt.rule) {
				t.Fatalf("a start over the limit once Vonage answered: %d %s, want 429 naming %q", r.status, r.raw, tt.rule)
			}
		})
	}
}

// TestCheckBudgetCountsOnlyWhatTheVerifyAPIAccepted: per request_id, a check the Verify API never
// accepted is given back; a wrong code it answered is not.
func TestCheckBudgetCountsOnlyWhatTheVerifyAPIAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{Check: limit(1, 10*time.Minute)}})
	id := startOK(t, h, "14155550100")
	h.fake.Script(v1test.PathCheck, http.StatusInternalServerError, "oops")
	for i := range 3 {
		if r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); r.status != http.StatusBadGateway {
			t.Fatalf("check %d against a failing Verify API: %d %s", i+1, r.status, r.raw)
		}
	}
	h.fake.Script(v1test.PathCheck, http.StatusOK, `{"status":"1","error_text":"Throttled"}`)
	if r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); r.status != http.StatusTooManyRequests || r.str("error") != "throttled" {
		t.Fatalf("check while Vonage throttles: %d %s", r.status, r.raw)
	}
	h.fake.Respond(v1test.PathCheck, nil)
	if r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))); r.status != http.StatusOK {
		t.Fatalf("right code once Vonage is back: %d %s", r.status, r.raw)
	}

	other := startOK(t, h, "442071838750")
	if r := h.postJSON("/check", checkBody(other, wrongCodeFor(h, other))); r.str("error") != "code_mismatch" {
		t.Fatalf("wrong code: %d %s", r.status, r.raw)
	}
	r := h.postJSON("/check", checkBody(other, h.fake.CodeFor(other)))
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.str("error_text"), "per request_id") {
		t.Fatalf("a check after a wrong code, with a budget of one: %d %s, want 429", r.status, r.raw)
	}
}

// TestAStartVonageRefusedStillCounts: a start the Verify API answered (here: a verification to
// that number is already running) was accepted, and counts against the number.
func TestAStartVonageRefusedStillCounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{Number: limit(2, 10*time.Minute)}})
	startOK(t, h, "14155550100")
	if r := h.postJSON("/request", requestBody("14155550100")); r.str("error") != "concurrent_verification" {
		t.Fatalf("second start: %d %s", r.status, r.raw)
	}
	if r := h.postJSON("/request", requestBody("14155550100")); r.status != http.StatusTooManyRequests {
		t.Fatalf("third start: %d %s, want 429", r.status, r.raw)
	}
}

// TestFraudBlockHoldsAcrossReplicas: replicas on one Redis share what the guard learns and its
// blocks: a prefix one paused is refused by the other, each block is announced once, and a number
// verified through one is trusted by the other.
func TestFraudBlockHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	fake := v1test.NewServer(t)
	a := newHarness(t, options{fake: fake, fraud: fraudOptions(guard.FraudEnforce), store: redisStore(t, srv)})
	b := newHarness(t, options{fake: fake, fraud: fraudOptions(guard.FraudEnforce), store: redisStore(t, srv)})

	returning := numberIn(pumped, 0)
	verifyNumber(t, b, returning)
	ids := pump(t, a, pumped, 1, 3)
	ids = append(ids, pump(t, b, pumped, 4, 3)...)
	cancelAll(t, b, ids) // 1 verified of 7 settled, counted on both
	wantPaused(t, a.postJSON("/request", requestBody(numberIn(pumped, 100))))
	starts := a.upstreamCalls(v1test.PathStart)
	wantPaused(t, b.postJSON("/request", requestBody(numberIn(pumped, 101))))
	wantPaused(t, a.postJSON("/request", requestBody(numberIn(pumped, 102))))
	if n := a.upstreamCalls(v1test.PathStart); n != starts {
		t.Fatalf("the Verify API got %d starts to the paused prefix", n-starts)
	}
	wantStarted(t, b.postJSON("/request", requestBody(returning)))

	if na, nb := len(records(t, a, msgPaused)), len(records(t, b, msgPaused)); na+nb != 1 {
		t.Fatalf("the block was announced %d+%d times, want once", na, nb)
	}
	wantMetric(t, metricstest.Scrape(t, b.metrics+"/metrics"), 1, "verify_proxy_refusals_total", "rule", "fraud_prefix")

	// Its end is announced once too, whichever replica finds it. Past the window as well, so that
	// the starts that caused it are gone. The first start after it may still be refused here: Redis
	// expires the block on its own clock, not on the tests'; the guard ends it on the guard's.
	for _, h := range []*harness{a, b} {
		h.clock.Advance(time.Hour + 2*time.Minute)
	}
	a.postJSON("/request", requestBody(numberIn(pumped, 200)))
	for _, h := range []*harness{a, b} {
		h.clock.Advance(2 * time.Second) // past each replica's once-a-second look for ended blocks
	}
	wantStarted(t, b.postJSON("/request", requestBody(numberIn(pumped, 201))))
	wantStarted(t, a.postJSON("/request", requestBody(numberIn(pumped, 202))))
	if na, nb := len(records(t, a, msgResumed)), len(records(t, b, msgResumed)); na+nb != 1 {
		t.Fatalf("the block's end was announced %d+%d times, want once", na, nb)
	}
}
