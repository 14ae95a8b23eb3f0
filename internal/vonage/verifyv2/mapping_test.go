package verifyv2_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

// mappingCase is one answer of Verify v2 and the failure it must be.
type mappingCase struct {
	name   string
	call   call
	status int
	body   string
	want   verify.Error // Detail is checked for the instance instead
}

// TestProblemsMapToV1Statuses is the mapping table of issue 4, one row per documented answer.
func TestProblemsMapToV1Statuses(t *testing.T) {
	t.Parallel()
	const problemType = "application/problem+json"
	tests := []mappingCase{
		{"409 to start is a concurrent verification (status 10)", start, 409,
			documented("Conflict", "Concurrent verifications to the same number are not allowed.", "#concurrent").json(),
			verify.Error{Kind: verify.KindConcurrentVerification, Status: "10", Text: "Concurrent verifications to the same number are not allowed."}},
		{"409 to start keeps the request_id in flight when the problem carries one", start, 409,
			problem{Title: "Conflict", Detail: "Concurrent verifications to the same number are not allowed.", Instance: traceInstance, RequestID: someID}.json(),
			verify.Error{Kind: verify.KindConcurrentVerification, Status: "10", Text: "Concurrent verifications to the same number are not allowed.", RequestID: someID}},
		{"409 to start drops a request_id the contract could not carry", start, 409,
			problem{Title: "Conflict", Detail: "busy", Instance: traceInstance, RequestID: "../../admin"}.json(),
			verify.Error{Kind: verify.KindConcurrentVerification, Status: "10", Text: "busy"}},
		{"422 naming the number is an invalid parameter (status 3)", start, 422,
			invalidParams(invalidParam{Name: "workflow[0].to", Reason: "Invalid number"}).json(),
			verify.Error{Kind: verify.KindInvalidParameter, Status: "3", Text: "The value of one or more parameters is invalid."}},
		{"422 naming our brand is our configuration: an upstream error", start, 422,
			invalidParams(invalidParam{Name: "brand", Reason: "Brand is required"}).json(),
			verify.Error{Kind: verify.KindUpstreamError}},
		{"400 to check is a wrong code (status 16) naming the request", check, 400,
			documented("Invalid Code", "The code you provided does not match the expected value.", "#invalid-code").json(),
			verify.Error{Kind: verify.KindCodeMismatch, Status: "16", Text: "The code you provided does not match the expected value.", RequestID: someID}},
		{"410 after too many wrong codes is too_many_attempts (status 17)", check, 410,
			documented("Invalid Code", "An incorrect code has been provided too many times. Workflow terminated.", "#expired").json(),
			verify.Error{Kind: verify.KindTooManyAttempts, Status: "17", Text: "An incorrect code has been provided too many times. Workflow terminated.", RequestID: someID}},
		{"410 for a request that ran out of time is expired (status 17)", check, 410,
			documented("Gone", "The verification request has expired.", "#expired").json(),
			verify.Error{Kind: verify.KindExpired, Status: "17", Text: "The verification request has expired.", RequestID: someID}},
		{"410 that says neither is Vonage's documented meaning, too many codes", check, 410,
			documented("Gone", "Workflow terminated.", "#expired").json(),
			verify.Error{Kind: verify.KindTooManyAttempts, Status: "17", Text: "Workflow terminated.", RequestID: someID}},
		{"404 to check is not found (status 6)", check, 404,
			documented("Not Found", "Request was not found or it has been verified already.", "#request-not-found").json(),
			verify.Error{Kind: verify.KindNotFound, Status: "6", Text: "Request was not found or it has been verified already.", RequestID: someID}},
		{"409 to check passes the problem's detail on", check, 409,
			documented("Conflict", "The current Verify workflow step does not support a code.", "#no-code").json(),
			verify.Error{Kind: verify.KindRejected, Text: "The current Verify workflow step does not support a code.", RequestID: someID}},
		{"404 to cancel is not found (status 6)", cancel, 404,
			documented("Not Found", "Request was not found.", "#request-not-found").json(),
			verify.Error{Kind: verify.KindNotFound, Status: "6", Text: "Request was not found."}},
		{"409 to cancel is a cancel not allowed (status 19)", cancel, 409,
			documented("Conflict", "Verification request can't be cancelled within the first 30 seconds.", "#conflict").json(),
			verify.Error{Kind: verify.KindCancelNotAllowed, Status: "19", Text: "Verification request can't be cancelled within the first 30 seconds."}},
	}
	for _, code := range []int{401, 402, 403} {
		for _, c := range []call{start, check, cancel} {
			tests = append(tests, mappingCase{http.StatusText(code) + " to " + c.route + " is an upstream error", c, code,
				documented(http.StatusText(code), "Account 1a2b3c cannot do this.", "#unauthorized").json(),
				verify.Error{Kind: verify.KindUpstreamError}})
		}
	}
	for _, code := range []int{500, 503} {
		tests = append(tests, mappingCase{"HTTP " + http.StatusText(code) + " is upstream unavailable", check, code,
			documented("Internal error", "There was an error processing your request in the Platform.", "#internal-error").json(),
			verify.Error{Kind: verify.KindUpstreamUnavailable}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Script(tt.call.route, tt.status, problemType, tt.body)
			err := tt.call.do(t.Context(), newClient(t, fake))
			got := wantVerifyError(t, err, tt.want.Kind)
			if !strings.Contains(got.Detail, traceInstance) {
				t.Errorf("Detail %q does not carry the problem's instance for Vonage support", got.Detail)
			}
			if got.Status != tt.want.Status || got.Text != tt.want.Text || got.RequestID != tt.want.RequestID {
				t.Errorf("got status %q text %q request_id %q\nwant   %q      %q            %q",
					got.Status, got.Text, got.RequestID, tt.want.Status, tt.want.Text, tt.want.RequestID)
			}
			if !got.Kind.UserCaused() && got.Text != "" {
				t.Errorf("an account or upstream failure must not carry text for the app: %q", got.Text)
			}
		})
	}
}

func TestAnswersThatAreNotVerifys(t *testing.T) {
	t.Parallel()
	fixedNow := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		call        call
		status      int
		contentType string
		header      map[string]string
		body        string
		wantKind    verify.Kind
		wantDetail  string
		wantRetry   time.Duration
	}{
		{name: "429 is throttling for the seconds in Retry-After", call: start, status: 429, contentType: "application/problem+json",
			header: map[string]string{"Retry-After": "7"}, body: documented("Rate Limit Hit", "Please wait, then retry your request", "#throttled").json(),
			wantKind: verify.KindThrottled, wantDetail: "Rate Limit Hit", wantRetry: 7 * time.Second},
		{name: "429 is throttling until the date in Retry-After", call: check, status: 429,
			header:   map[string]string{"Retry-After": fixedNow.Add(30 * time.Second).Format(http.TimeFormat)},
			wantKind: verify.KindThrottled, wantDetail: "HTTP 429", wantRetry: 30 * time.Second},
		{name: "429 without Retry-After waits 1s", call: cancel, status: 429,
			wantKind: verify.KindThrottled, wantDetail: "HTTP 429", wantRetry: time.Second},
		{name: "a 404 to check without a problem body is a gateway, not an unknown request", call: check, status: 404,
			contentType: "text/html", body: "<html>Not Found</html>", wantKind: verify.KindUpstreamUnavailable, wantDetail: "without a problem body"},
		{name: "a 400 to check with an empty body is not a wrong code", call: check, status: 400,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "without a problem body"},
		{name: "a 410 with JSON that is not a problem is refused", call: check, status: 410, contentType: "application/json",
			body: `{"error":"gone"}`, wantKind: verify.KindUpstreamUnavailable, wantDetail: "without a problem body"},
		{name: "a 404 to start is a wrong base URL: an upstream error", call: start, status: 404, contentType: "application/problem+json",
			body: documented("Not Found", "No such resource", "#not-found").json(), wantKind: verify.KindUpstreamError, wantDetail: "HTTP 404"},
		{name: "a redirect is not followed, so the credentials are not replayed elsewhere", call: start, status: 307,
			header: map[string]string{"Location": "/elsewhere"}, wantKind: verify.KindUpstreamError, wantDetail: "HTTP 307"},
		{name: "202 with an HTML body is upstream unavailable", call: start, status: 202, contentType: "text/html",
			body: "<html>ok</html>", wantKind: verify.KindUpstreamUnavailable, wantDetail: "request_id"},
		{name: "202 without a request_id is upstream unavailable", call: start, status: 202, contentType: "application/json",
			body: `{"check_url":"https://example.test"}`, wantKind: verify.KindUpstreamUnavailable, wantDetail: "request_id"},
		{name: "202 with a request_id the contract cannot carry is upstream unavailable", call: start, status: 202, contentType: "application/json",
			body: `{"request_id":"a/b?c"}`, wantKind: verify.KindUpstreamUnavailable, wantDetail: "request_id"},
		{name: "200 to check with a body that is not JSON is upstream unavailable", call: check, status: 200, contentType: "text/plain",
			body: "completed", wantKind: verify.KindUpstreamUnavailable, wantDetail: "not JSON"},
		{name: "a body over 1 MiB is upstream unavailable", call: check, status: 400, contentType: "application/problem+json",
			body: problem{Title: strings.Repeat("a", 1<<20)}.json(), wantKind: verify.KindUpstreamUnavailable, wantDetail: "more than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Respond(tt.call.route, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			c := newClient(t, fake, func(o *verifyv2.Options) { o.Now = func() time.Time { return fixedNow } })
			err := tt.call.do(t.Context(), c)
			got := wantVerifyError(t, err, tt.wantKind)
			if !strings.Contains(got.Detail, tt.wantDetail) {
				t.Errorf("Detail = %q, want it to contain %q", got.Detail, tt.wantDetail)
			}
			if got.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %s, want %s", got.RetryAfter, tt.wantRetry)
			}
			if got.Text != "" || got.Status != "" {
				t.Errorf("Text = %q, Status = %q: such a failure has no text or status for the app", got.Text, got.Status)
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("upstream got %d requests, want exactly 1", n)
			}
		})
	}
}

func TestAProblemQuotingTheNumberIsMaskedInTheLogDetail(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Script(v2test.RouteStart, 422, "application/problem+json",
		problem{
			Title: "Invalid params", Detail: "Number " + testNumber + " is not reachable", Instance: "i1",
			InvalidParameters: []invalidParam{{Name: "brand", Reason: "x"}},
		}.json())
	_, err := newClient(t, fake).Start(t.Context(), testNumber)
	got := wantVerifyError(t, err, verify.KindUpstreamError)
	if strings.Contains(got.Detail, testNumber) || !strings.Contains(got.Detail, "0100") {
		t.Errorf("Detail %q must hold the number masked", got.Detail)
	}
}
