package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

const idemKey = "8e03978e-40d5-43e8-bc93-6894a57f9324"

func withKey(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

func TestIdempotentRetryReplaysTheFirstAnswerWithoutASecondSMS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{Number: limit(1, time.Hour)}})
	first := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	again := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	if first.status != http.StatusOK || again.status != http.StatusOK || !bytes.Equal(first.raw, again.raw) {
		t.Fatalf("first %d %s, retry %d %s", first.status, first.raw, again.status, again.raw)
	}
	if n := h.upstreamCalls(v1test.PathStart); n != 1 {
		t.Fatalf("the Verify API got %d starts, want 1", n)
	}
}

func TestIdempotencyKeyLosesOnlyOnePairOfSurroundingQuotes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	for _, key := range []string{`"k1`, `k1"`, `""k1""`} {
		if r := h.postWith("/request", requestBody("14155550100"), withKey("k1")); r.status != http.StatusOK {
			t.Fatalf("key k1: %d %s", r.status, r.raw)
		}
		// Another body under a key that only looks like k1 is another key: not 422.
		if r := h.postWith("/request", requestBody("442071838750"), withKey(key)); r.status == http.StatusUnprocessableEntity {
			t.Errorf("key %s was taken for k1: %s", key, r.raw)
		}
	}
}

func TestIdempotencyKeyMayBeSentAsAQuotedString(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	first := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	again := h.postWith("/request", requestBody("14155550100"), withKey(`"`+idemKey+`"`))
	if !bytes.Equal(first.raw, again.raw) || h.upstreamCalls(v1test.PathStart) != 1 {
		t.Fatalf("quoted key not the same key: %s / %s", first.raw, again.raw)
	}
}

func TestIdempotentRetryReplaysAFinalRefusal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.fake.Script(v1test.PathStart, http.StatusOK, `{"status":"7","error_text":"The number you are trying to verify is blacklisted for verification"}`)
	first := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	again := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	if first.status != http.StatusBadRequest || !bytes.Equal(first.raw, again.raw) || h.upstreamCalls(v1test.PathStart) != 1 {
		t.Fatalf("first %d %s, retry %d %s", first.status, first.raw, again.status, again.raw)
	}
}

// TestRefusalBeforeTheVerifyAPIKeepsNothingForTheKey: otherwise anyone with many keys and invalid
// numbers could fill the store for a day, free.
func TestRefusalBeforeTheVerifyAPIKeepsNothingForTheKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{destinations: guard.Destinations{AllowedCountries: []string{"GB"}}})
	for _, refused := range []string{`{"number":"12345"}`, requestBody("14155550100")} {
		if r := h.postWith("/request", refused, withKey(idemKey)); r.status != http.StatusBadRequest && r.status != http.StatusForbidden {
			t.Fatalf("refused start: %d %s", r.status, r.raw)
		}
	}
	// The key was never spent: it serves a real start, once.
	first := h.postWith("/request", requestBody("442071838750"), withKey(idemKey))
	again := h.postWith("/request", requestBody("442071838750"), withKey(idemKey))
	if first.status != http.StatusOK || !bytes.Equal(first.raw, again.raw) || h.upstreamCalls(v1test.PathStart) != 1 {
		t.Fatalf("first %d %s, retry %d %s", first.status, first.raw, again.status, again.raw)
	}
}

func TestIdempotencyKeyWithAnotherBodyIs422(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	r := h.postWith("/request", requestBody("442071838750"), withKey(idemKey))
	if r.status != http.StatusUnprocessableEntity || r.str("error") != "idempotency_key_reused" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	if n := h.upstreamCalls(v1test.PathStart); n != 1 {
		t.Fatalf("the Verify API got %d starts, want 1", n)
	}
}

// TestSameNumberTypedAnotherWayUnderOneKeyIsAReplay: an app that reformats the number between its
// first try and its retry (a pasted "+1 (415)…" cleaned up, a country code added) is still retrying,
// so it is given the first answer, not 422 and not a second SMS.
func TestSameNumberTypedAnotherWayUnderOneKeyIsAReplay(t *testing.T) {
	t.Parallel()
	for _, retry := range []string{"+14155550100", "+1 415 555 0100", "+1 (415) 555-0100", "1-415-555-0100"} {
		t.Run(retry, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			first := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
			again := h.postWith("/request", requestBody(retry), withKey(idemKey))
			if first.status != http.StatusOK || again.status != http.StatusOK || !bytes.Equal(first.raw, again.raw) {
				t.Fatalf("first %d %s, retry as %q: %d %s", first.status, first.raw, retry, again.status, again.raw)
			}
			if n := h.upstreamCalls(v1test.PathStart); n != 1 {
				t.Fatalf("the Verify API got %d starts, want 1", n)
			}
		})
	}
}

func TestDifferentIdempotencyKeysAreDifferentStarts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	h.postWith("/request", requestBody("14155550100"), withKey("another-key"))
	if n := h.upstreamCalls(v1test.PathStart); n != 2 {
		t.Fatalf("the Verify API got %d starts, want 2", n)
	}
}

// TestTryAgainAnswerIsNotKeptForTheKey: a retry with the key tries again.
func TestTryAgainAnswerIsNotKeptForTheKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.fake.Script(v1test.PathStart, http.StatusServiceUnavailable, "<html>down</html>")
	if r := h.postWith("/request", requestBody("14155550100"), withKey(idemKey)); r.status != http.StatusBadGateway {
		t.Fatalf("first: %d %s", r.status, r.raw)
	}
	h.fake.Respond(v1test.PathStart, nil)
	if r := h.postWith("/request", requestBody("14155550100"), withKey(idemKey)); r.status != http.StatusOK {
		t.Fatalf("retry: %d %s", r.status, r.raw)
	}
	if n := h.upstreamCalls(v1test.PathStart); n != 2 {
		t.Fatalf("the Verify API got %d starts, want 2", n)
	}
}

func TestRateLimitedAnswerIsNotKeptForTheKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{limits: guard.Limits{Number: limit(1, time.Minute)}})
	h.postJSON("/request", requestBody("14155550100"))
	if r := h.postWith("/request", requestBody("14155550100"), withKey(idemKey)); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "60" {
		t.Fatalf("limited: %d %v %s", r.status, r.header, r.raw)
	}
	h.clock.Advance(time.Minute)
	h.fake.Script(v1test.PathStart, http.StatusOK, `{"request_id":"`+requestID+`","status":"0"}`)
	if r := h.postWith("/request", requestBody("14155550100"), withKey(idemKey)); r.status != http.StatusOK {
		t.Fatalf("after the window: %d %s", r.status, r.raw)
	}
}

func TestIdempotencyKeyStartsAfreshAfterItsWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.fake.Script(v1test.PathStart, http.StatusOK, `{"request_id":"`+requestID+`","status":"0"}`)
	h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	h.clock.Advance(24*time.Hour - time.Second)
	h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	if n := h.upstreamCalls(v1test.PathStart); n != 1 {
		t.Fatalf("within 24h: %d starts", n)
	}
	h.clock.Advance(time.Second)
	h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	if n := h.upstreamCalls(v1test.PathStart); n != 2 {
		t.Fatalf("after 24h: %d starts, want 2", n)
	}
}

func TestTestNumberStartsAreIdempotentToo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{testNumbers: reviewNumbers})
	first := h.postWith("/request", requestBody("15555550100"), withKey(idemKey))
	again := h.postWith("/request", requestBody("15555550100"), withKey(idemKey))
	if first.status != http.StatusOK || !bytes.Equal(first.raw, again.raw) {
		t.Fatalf("first %s, retry %s", first.raw, again.raw)
	}
}

// TestDigitsThatMeanAnotherNumberAreAnotherRequest: with DEFAULT_COUNTRY, bare digits are read as a
// national number first, so "15555550100" in China is not the test number +1 555 555 0100 even
// though its digits are that number's E.164 form. Under one key, the second is a new request: 422,
// in either order.
func TestDigitsThatMeanAnotherNumberAreAnotherRequest(t *testing.T) {
	t.Parallel()
	for _, order := range [][2]string{{"+1 555 555 0100", "15555550100"}, {"15555550100", "+1 555 555 0100"}} {
		t.Run(order[0]+" then "+order[1], func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{testNumbers: reviewNumbers, defaultCountry: "CN"})
			if r := h.postWith("/request", requestBody(order[0]), withKey(idemKey)); r.status != http.StatusOK {
				t.Fatalf("first start: %d %s", r.status, r.raw)
			}
			if r := h.postWith("/request", requestBody(order[1]), withKey(idemKey)); r.status != http.StatusUnprocessableEntity {
				t.Fatalf("another number under the same key: %d %s, want 422", r.status, r.raw)
			}
		})
	}
}

// TestAnInvalidNumberUnderATakenKeyIsAnInvalidNumber: the number is what the app must fix, so it is
// told that, not to send a new key.
func TestAnInvalidNumberUnderATakenKeyIsAnInvalidNumber(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	if r := h.postWith("/request", requestBody("14155550100"), withKey(idemKey)); r.status != http.StatusOK {
		t.Fatalf("first start: %d %s", r.status, r.raw)
	}
	for _, bad := range []string{"+1 415 555 01", "abc"} {
		if r := h.postWith("/request", requestBody(bad), withKey(idemKey)); r.status != http.StatusBadRequest || r.str("error") != "invalid_number" {
			t.Errorf("%q under a taken key: %d %s, want 400 invalid_number", bad, r.status, r.raw)
		}
	}
	if n := h.upstreamCalls(v1test.PathStart); n != 1 {
		t.Fatalf("the Verify API got %d starts, want 1", n)
	}
}

// TestDuplicateInFlightIs409: while the first start waits on the Verify API, a retry with its key
// is refused; once it is done, the retry gets its answer.
func TestDuplicateInFlightIs409(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	arrived, release := make(chan struct{}), make(chan struct{})
	h.fake.Respond(v1test.PathStart, func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"request_id":"`+requestID+`","status":"0"}`)
	})
	firstDone := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/request", strings.NewReader(requestBody("14155550100")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", idemKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			firstDone <- nil
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		firstDone <- res
	}()
	<-arrived
	r := h.postWith("/request", requestBody("14155550100"), withKey(idemKey))
	if r.status != http.StatusConflict || r.str("error") != "request_in_progress" {
		t.Fatalf("duplicate in flight: %d %s", r.status, r.raw)
	}
	close(release)
	if res := <-firstDone; res == nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the first request: %v", res)
	}
	if r := h.postWith("/request", requestBody("14155550100"), withKey(idemKey)); r.status != http.StatusOK || r.str("request_id") != requestID {
		t.Fatalf("retry after the first finished: %d %s", r.status, r.raw)
	}
	if n := h.upstreamCalls(v1test.PathStart); n != 1 {
		t.Fatalf("the Verify API got %d starts, want 1", n)
	}
}

func TestBadIdempotencyKeyIs400(t *testing.T) {
	t.Parallel()
	for name, key := range map[string]string{
		"too long":       strings.Repeat("k", 256),
		"with a space":   "two words",
		"with non-ASCII": "schlüssel",
		"empty quotes":   `""`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			r := h.postWith("/request", requestBody("14155550100"), withKey(key))
			if r.status != http.StatusBadRequest || r.str("error") != "invalid_request" || !strings.Contains(r.str("error_text"), "Idempotency-Key") {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if strings.Contains(r.str("error_text"), "regular expression") {
				t.Errorf("error_text %q makes the app developer read a regular expression", r.str("error_text"))
			}
			if len(h.fake.Requests()) != 0 {
				t.Fatal("a request with a bad key reached the Verify API")
			}
		})
	}
}
