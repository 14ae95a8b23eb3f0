package verifyv1_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

func TestVerifyStatusesMapToKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		call       call
		body       string
		retryAfter string // Retry-After header to send, if any
		want       verify.Error
	}{
		{
			name: "status 1 is throttling with a 1s default wait and its text kept out of the app's reach",
			call: start, body: answer{"status": "1", "error_text": "Throttled"}.json(),
			want: verify.Error{Kind: verify.KindThrottled, Status: "1", Detail: "Throttled", RetryAfter: time.Second},
		},
		{
			name: "status 1 waits as long as Retry-After says",
			call: check, body: answer{"status": "1", "error_text": "Throttled"}.json(), retryAfter: "3",
			want: verify.Error{Kind: verify.KindThrottled, Status: "1", Detail: "Throttled", RetryAfter: 3 * time.Second},
		},
		{
			name: "status 2 is an upstream error whose text stays in the log detail",
			call: start, body: answer{"status": "2", "error_text": "Missing api_key"}.json(),
			want: verify.Error{Kind: verify.KindUpstreamError, Status: "2", Detail: "Missing api_key"},
		},
		{
			name: "status 3 is an invalid parameter the app may see",
			call: start, body: answer{"status": "3", "error_text": "Invalid value for parameter: number"}.json(),
			want: verify.Error{Kind: verify.KindInvalidParameter, Status: "3", Text: "Invalid value for parameter: number"},
		},
		{
			name: "status 4 is an upstream error whose text stays in the log detail",
			call: check, body: answer{"status": "4", "error_text": "Bad Credentials"}.json(),
			want: verify.Error{Kind: verify.KindUpstreamError, Status: "4", Detail: "Bad Credentials"},
		},
		{
			name: "status 5 is an upstream error",
			call: cancel, body: answer{"status": "5", "error_text": "Internal Error"}.json(),
			want: verify.Error{Kind: verify.KindUpstreamError, Status: "5", Detail: "Internal Error"},
		},
		{
			name: "status 6 is not found and keeps the request_id",
			call: check, body: answer{"status": "6", "request_id": someRequestID, "error_text": "Request was not found"}.json(),
			want: verify.Error{Kind: verify.KindNotFound, Status: "6", Text: "Request was not found", RequestID: someRequestID},
		},
		{
			name: "status 7 is a blocked number, with the network that blocked it",
			call: start, body: answer{"status": "7", "network": "25503", "error_text": "The number you are trying to verify is blacklisted for verification"}.json(),
			want: verify.Error{Kind: verify.KindNumberBlocked, Status: "7", Network: "25503", Text: "The number you are trying to verify is blacklisted for verification"},
		},
		{
			name: "status 7 without a network (spec 1.1.x) names none",
			call: start, body: answer{"status": "7", "error_text": "The number you are trying to verify is blacklisted for verification"}.json(),
			want: verify.Error{Kind: verify.KindNumberBlocked, Status: "7", Text: "The number you are trying to verify is blacklisted for verification"},
		},
		{
			name: "a network that is not a mobile network code is not passed on",
			call: start, body: answer{"status": "7", "network": "<script>", "error_text": "blocked"}.json(),
			want: verify.Error{Kind: verify.KindNumberBlocked, Status: "7", Text: "blocked"},
		},
		{
			name: "a network on another status is not passed on",
			call: start, body: answer{"status": "15", "network": "25503", "error_text": "The destination number is not in a supported network"}.json(),
			want: verify.Error{Kind: verify.KindUnsupportedNetwork, Status: "15", Text: "The destination number is not in a supported network"},
		},
		{
			name: "status 8 is an upstream error",
			call: start, body: answer{"status": "8", "error_text": "The api_key you supplied is for an account that has been barred"}.json(),
			want: verify.Error{Kind: verify.KindUpstreamError, Status: "8", Detail: "The api_key you supplied is for an account that has been barred"},
		},
		{
			name: "status 9 is an upstream error",
			call: start, body: answer{"status": "9", "error_text": "Partner quota exceeded"}.json(),
			want: verify.Error{Kind: verify.KindUpstreamError, Status: "9", Detail: "Partner quota exceeded"},
		},
		{
			name: "status 10 is a concurrent verification that keeps the request_id in flight",
			call: start, body: answer{"request_id": someRequestID, "status": "10", "error_text": "Concurrent verifications to the same number are not allowed"}.json(),
			want: verify.Error{Kind: verify.KindConcurrentVerification, Status: "10", Text: "Concurrent verifications to the same number are not allowed", RequestID: someRequestID},
		},
		{
			name: "status 15 is an unsupported network",
			call: start, body: answer{"status": "15", "error_text": "The destination number is not in a supported network"}.json(),
			want: verify.Error{Kind: verify.KindUnsupportedNetwork, Status: "15", Text: "The destination number is not in a supported network"},
		},
		{
			name: "status 16 is a code mismatch the app may see",
			call: check, body: answer{"request_id": someRequestID, "status": "16", "error_text": "The code provided does not match the expected value"}.json(),
			want: verify.Error{Kind: verify.KindCodeMismatch, Status: "16", Text: "The code provided does not match the expected value", RequestID: someRequestID},
		},
		{
			name: "status 17 is too many attempts",
			call: check, body: answer{"request_id": someRequestID, "status": "17", "error_text": "The wrong code was provided too many times. Workflow terminated"}.json(),
			want: verify.Error{Kind: verify.KindTooManyAttempts, Status: "17", Text: "The wrong code was provided too many times. Workflow terminated", RequestID: someRequestID},
		},
		{
			name: "status 19 is a cancel that is not allowed",
			call: cancel, body: answer{"status": "19", "error_text": "Verification request ['" + someRequestID + "'] can't be cancelled within the first 30 seconds."}.json(),
			want: verify.Error{Kind: verify.KindCancelNotAllowed, Status: "19", Text: "Verification request ['" + someRequestID + "'] can't be cancelled within the first 30 seconds."},
		},
		{
			name: "status 20 is an upstream error",
			call: start, body: answer{"status": "20", "error_text": "This account does not support the parameter: pin_code."}.json(),
			want: verify.Error{Kind: verify.KindUpstreamError, Status: "20", Detail: "This account does not support the parameter: pin_code."},
		},
		{
			name: "status 29 is an upstream error",
			call: start, body: answer{"status": "29", "error_text": "Non-Permitted Destination"}.json(),
			want: verify.Error{Kind: verify.KindUpstreamError, Status: "29", Detail: "Non-Permitted Destination"},
		},
		{
			name: "status 101 is not found",
			call: check, body: answer{"status": "101", "error_text": "No response found"}.json(),
			want: verify.Error{Kind: verify.KindNotFound, Status: "101", Text: "No response found"},
		},
		{
			name: "an unknown status 42 is a refusal the app may see",
			call: start, body: answer{"status": "42", "error_text": "Something new"}.json(),
			want: verify.Error{Kind: verify.KindRejected, Status: "42", Text: "Something new"},
		},
		{
			name: "a status sent as a JSON number is read like a string",
			call: check, body: `{"status":16,"request_id":"` + someRequestID + `","error_text":"The code provided does not match the expected value"}`,
			want: verify.Error{Kind: verify.KindCodeMismatch, Status: "16", Text: "The code provided does not match the expected value", RequestID: someRequestID},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Respond(tt.call.path, func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			})
			c := newClient(t, fake.URL())
			err := tt.call.do(t.Context(), c)
			got := wantVerifyError(t, err, tt.want.Kind)
			if *got != tt.want {
				t.Errorf("error = %+v\nwant    %+v", *got, tt.want)
			}
		})
	}
}

func TestUpstreamHTTPFailures(t *testing.T) {
	t.Parallel()
	fixedNow := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		call       call
		status     int
		header     map[string]string
		body       string
		wantKind   verify.Kind
		wantDetail string
		wantRetry  time.Duration
	}{
		{name: "HTTP 429 is throttling for the seconds in Retry-After", call: start, status: 429,
			header: map[string]string{"Retry-After": "7"}, wantKind: verify.KindThrottled, wantDetail: "upstream HTTP 429", wantRetry: 7 * time.Second},
		{name: "HTTP 429 is throttling until the date in Retry-After", call: check, status: 429,
			header:   map[string]string{"Retry-After": fixedNow.Add(30 * time.Second).Format(http.TimeFormat)},
			wantKind: verify.KindThrottled, wantDetail: "upstream HTTP 429", wantRetry: 30 * time.Second},
		{name: "HTTP 429 without Retry-After waits 1s", call: cancel, status: 429,
			wantKind: verify.KindThrottled, wantDetail: "upstream HTTP 429", wantRetry: time.Second},
		{name: "HTTP 429 with an unreadable Retry-After waits 1s", call: start, status: 429,
			header: map[string]string{"Retry-After": "soon"}, wantKind: verify.KindThrottled, wantDetail: "upstream HTTP 429", wantRetry: time.Second},
		{name: "HTTP 429 with a past Retry-After date waits 1s", call: start, status: 429,
			header:   map[string]string{"Retry-After": fixedNow.Add(-time.Minute).Format(http.TimeFormat)},
			wantKind: verify.KindThrottled, wantDetail: "upstream HTTP 429", wantRetry: time.Second},
		{name: "HTTP 429 with an absurd Retry-After is capped at an hour", call: start, status: 429,
			header: map[string]string{"Retry-After": "99999999999999999"}, wantKind: verify.KindThrottled, wantDetail: "upstream HTTP 429", wantRetry: time.Hour},
		{name: "HTTP 500 is upstream unavailable", call: start, status: 500, body: "<html>oops</html>",
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "upstream HTTP 500"},
		{name: "HTTP 502 is upstream unavailable", call: check, status: 502,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "upstream HTTP 502"},
		{name: "HTTP 503 is upstream unavailable", call: cancel, status: 503, body: `{"status":"0"}`,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "upstream HTTP 503"},
		{name: "HTTP 401 is an upstream error", call: start, status: 401,
			wantKind: verify.KindUpstreamError, wantDetail: "upstream HTTP 401"},
		{name: "HTTP 403 is an upstream error", call: check, status: 403,
			wantKind: verify.KindUpstreamError, wantDetail: "upstream HTTP 403"},
		{name: "HTTP 404 is an upstream error", call: cancel, status: 404,
			wantKind: verify.KindUpstreamError, wantDetail: "upstream HTTP 404"},
		{name: "a redirect is not followed, so the credentials are not replayed elsewhere", call: start, status: 307,
			header: map[string]string{"Location": "/somewhere-else"}, wantKind: verify.KindUpstreamError, wantDetail: "upstream HTTP 307"},
		{name: "HTTP 200 with an HTML body is upstream unavailable", call: start, status: 200, body: "<html>maintenance</html>",
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "not a verify response"},
		{name: "HTTP 200 with an empty body is upstream unavailable", call: check, status: 200,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "not a verify response"},
		{name: "HTTP 200 with a JSON array is upstream unavailable", call: check, status: 200, body: `[{"status":"0"}]`,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "not a verify response"},
		{name: "HTTP 200 with a status that is an object is upstream unavailable", call: check, status: 200, body: `{"status":{"code":0}}`,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "not a verify response"},
		{name: "HTTP 200 JSON without status is upstream unavailable", call: cancel, status: 200, body: `{"command":"cancel"}`,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "without a status"},
		{name: "HTTP 200 JSON with a null status is upstream unavailable", call: cancel, status: 200, body: `{"status":null}`,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "without a status"},
		{name: "status 0 to start without a request_id is upstream unavailable", call: start, status: 200, body: `{"status":"0"}`,
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "without a request_id"},
		{name: "a body over 1 MiB is upstream unavailable", call: start, status: 200,
			body:     answer{"status": "0", "request_id": strings.Repeat("a", 1<<20)}.json(),
			wantKind: verify.KindUpstreamUnavailable, wantDetail: "more than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Respond(tt.call.path, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			c := newClient(t, fake.URL(), func(o *verifyv1.Options) { o.Now = func() time.Time { return fixedNow } })
			err := tt.call.do(t.Context(), c)
			got := wantVerifyError(t, err, tt.wantKind)
			if !strings.Contains(got.Detail, tt.wantDetail) {
				t.Errorf("Detail = %q, want it to contain %q", got.Detail, tt.wantDetail)
			}
			if got.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %s, want %s", got.RetryAfter, tt.wantRetry)
			}
			if got.Text != "" || got.Status != "" {
				t.Errorf("Text = %q, Status = %q: an HTTP-level failure has no Verify text or status", got.Text, got.Status)
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("upstream got %d requests, want exactly 1", n)
			}
		})
	}
}

func TestResponsesAreKeptAsSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want verify.Checked
	}{
		{
			name: "prices keep every trailing zero",
			body: answer{
				"request_id": someRequestID, "event_id": "0A00000012345678", "status": "0",
				"price": "0.10000000", "currency": "EUR", "estimated_price_messages_sent": "0.03330000",
			}.json(),
			want: verify.Checked{RequestID: someRequestID, EventID: "0A00000012345678", Price: "0.10000000", Currency: "EUR", EstimatedPriceMessagesSent: "0.03330000"},
		},
		{
			name: "a status and a price sent as JSON numbers keep their literal text",
			body: `{"request_id":"` + someRequestID + `","event_id":"0A00000012345678","status":0,"price":0.10000000,"currency":"EUR"}`,
			want: verify.Checked{RequestID: someRequestID, EventID: "0A00000012345678", Price: "0.10000000", Currency: "EUR"},
		},
		{
			name: "a missing estimated price stays empty and a missing request_id is the one asked about",
			body: `{"status":"0","event_id":"0A00000012345678","price":"0.05000000","currency":"GBP"}`,
			want: verify.Checked{RequestID: someRequestID, EventID: "0A00000012345678", Price: "0.05000000", Currency: "GBP"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Script(v1test.PathCheck, http.StatusOK, tt.body)
			c := newClient(t, fake.URL())
			got, err := c.Check(t.Context(), someRequestID, testCode)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got != tt.want {
				t.Errorf("checked = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

func TestAStartWhoseStatusIsTheJSONNumber0Succeeds(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Script(v1test.PathStart, http.StatusOK, `{"request_id":"`+someRequestID+`","status":0}`)
	c := newClient(t, fake.URL())
	got, err := c.Start(t.Context(), testNumber)
	if err != nil || got.RequestID != someRequestID {
		t.Errorf("Start = %+v, %v; want request_id %s", got, err, someRequestID)
	}
}

func TestNoAnswerWithinOurTimeoutIsAnUpstreamTimeout(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Hang(v1test.PathStart)
	c := newClient(t, fake.URL(), func(o *verifyv1.Options) { o.Timeout = 50 * time.Millisecond })
	err := start.do(t.Context(), c)
	wantVerifyError(t, err, verify.KindUpstreamTimeout)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want it to wrap context.DeadlineExceeded only", err)
	}
}

func TestABodyThatStallsPastOurTimeoutIsAnUpstreamTimeout(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Respond(v1test.PathCheck, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"0","pri`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	c := newClient(t, fake.URL(), func(o *verifyv1.Options) { o.Timeout = 50 * time.Millisecond })
	err := check.do(t.Context(), c)
	wantVerifyError(t, err, verify.KindUpstreamTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to wrap context.DeadlineExceeded", err)
	}
}

func TestACallerThatHangsUpGetsItsOwnCancellationNotAnUpstreamFailure(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	arrived := fake.Hang(v1test.PathCheck)
	c := newClient(t, fake.URL())
	ctx, cancelCall := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancelCall()
	}()
	err := check.do(ctx, c)
	assertNoSecret(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want it to wrap context.Canceled", err)
	}
	if ve, ok := verify.AsError(err); ok {
		t.Errorf("error is a *verify.Error of kind %s; the caller's cancellation is not an upstream failure", ve.Kind)
	}
}

func TestACallerDeadlineShorterThanOurTimeoutIsTheCallersNotAnUpstreamTimeout(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Hang(v1test.PathControl)
	c := newClient(t, fake.URL())
	ctx, cancelCall := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancelCall()
	err := cancel.do(ctx, c)
	assertNoSecret(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if ve, ok := verify.AsError(err); ok {
		t.Errorf("error is a *verify.Error of kind %s, want the caller's own context error", ve.Kind)
	}
}

func TestACallerAlreadyGoneNeverReachesTheUpstream(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	c := newClient(t, fake.URL())
	ctx, cancelCall := context.WithCancel(t.Context())
	cancelCall()
	err := start.do(ctx, c)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want it to wrap context.Canceled", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("upstream got %d requests, want none", n)
	}
}

// Not parallel: the port is free only until something else listens on it, and every parallel test
// starts servers on ports the system picks. Tests that are not parallel run before any parallel one
// resumes, so nothing else can take the port in between.
func TestARefusedConnectionIsUpstreamUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, "http://"+addr)
	for _, call := range []call{start, check, cancel} {
		err := call.do(t.Context(), c)
		ve := wantVerifyError(t, err, verify.KindUpstreamUnavailable)
		if ve.Err == nil {
			t.Errorf("%s: error has no cause", call.path)
		}
	}
}
