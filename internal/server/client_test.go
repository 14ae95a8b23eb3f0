package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/apiclient"
)

// doerFunc lets a function be the generated client's HTTP transport.
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(req *http.Request) (*http.Response, error) { return f(req) }

// client is the Go client oapi-codegen generates from openapi.yaml, pointed at the harness. Every
// response it receives is still checked against the contract before the client decodes it.
func (h *harness) client() *apiclient.ClientWithResponses {
	h.t.Helper()
	checked := doerFunc(func(req *http.Request) (*http.Response, error) {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		h.checkContract(req, &response{status: res.StatusCode, header: res.Header, raw: raw})
		res.Body = io.NopCloser(bytes.NewReader(raw))
		return res, nil
	})
	c, err := apiclient.NewClientWithResponses(h.url, apiclient.WithHTTPClient(checked))
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// TestGeneratedGoClientWalksTheFlow drives both backends through the generated client, as a Go app
// would: every answer decodes into the contract's types, failures into its Error.
func TestGeneratedGoClientWalksTheFlow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		sandbox bool
	}{
		{"through the Verify API", false},
		{"through the sandbox", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{sandbox: tt.sandbox})
			c := h.client()
			ctx := context.Background()
			codeFor := func(id string) string {
				if tt.sandbox {
					return codeFromLog(t, h.logs.String(), id)
				}
				return h.fake.CodeFor(id)
			}

			started, err := c.RequestVerificationWithResponse(ctx, nil, apiclient.VerificationRequest{Number: "+1 415 555 0100"})
			if err != nil || started.JSON200 == nil || started.JSON200.Status != "0" {
				t.Fatalf("request: %v %s", err, started.Body)
			}
			id := started.JSON200.RequestId
			code := codeFor(id)

			wrong, err := c.CheckVerificationWithResponse(ctx, apiclient.CheckRequest{RequestId: id, Code: wrongCode(code)})
			if err != nil || wrong.JSON400 == nil {
				t.Fatalf("wrong code: %v %d %s", err, wrong.StatusCode(), wrong.Body)
			}
			if e := wrong.JSON400; e.Error != "code_mismatch" || e.ErrorText == "" || deref(e.Status) != "16" || deref(e.RequestId) != id {
				t.Fatalf("wrong code decoded as %+v, want code_mismatch with status 16 and the request_id", e)
			}

			checked, err := c.CheckVerificationWithResponse(ctx, apiclient.CheckRequest{RequestId: id, Code: code})
			if err != nil || checked.JSON200 == nil || checked.JSON200.RequestId != id || checked.JSON200.Status != "0" {
				t.Fatalf("right code: %v %d %s", err, checked.StatusCode(), checked.Body)
			}

			// A retry with the same Idempotency-Key, as a phone on a flaky network sends it, gets
			// the first answer again: one verification, one code.
			key := &apiclient.RequestVerificationParams{IdempotencyKey: ptr("7f1c6a2e-9b4d-4c1e-a0f2-5d8e3b6c1a90")}
			again, err := c.RequestVerificationWithResponse(ctx, key, apiclient.VerificationRequest{Number: "14155550100"})
			if err != nil || again.JSON200 == nil {
				t.Fatalf("request after verifying: %v %s", err, again.Body)
			}
			retried, err := c.RequestVerificationWithResponse(ctx, key, apiclient.VerificationRequest{Number: "14155550100"})
			if err != nil || retried.JSON200 == nil || retried.JSON200.RequestId != again.JSON200.RequestId {
				t.Fatalf("retry with the same Idempotency-Key: %v %d %s", err, retried.StatusCode(), retried.Body)
			}
			cancelled, err := c.CancelVerificationWithResponse(ctx, apiclient.CancelRequest{RequestId: again.JSON200.RequestId})
			if err != nil || cancelled.JSON200 == nil || cancelled.JSON200.Command != apiclient.Cancel || cancelled.JSON200.Status != "0" {
				t.Fatalf("cancel: %v %d %s", err, cancelled.StatusCode(), cancelled.Body)
			}
		})
	}
}

func TestGeneratedGoClientDecodesRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	c := h.client()
	r, err := c.RequestVerificationWithResponse(context.Background(), nil, apiclient.VerificationRequest{Number: "12"})
	if err != nil || r.JSON400 == nil || r.JSON400.Error != "invalid_number" || r.JSON400.ErrorText == "" {
		t.Fatalf("invalid number: %v %d %s", err, r.StatusCode(), r.Body)
	}
	cancelled, err := c.CancelVerificationWithResponse(context.Background(), apiclient.CancelRequest{RequestId: requestID})
	if err != nil || cancelled.JSON400 == nil || cancelled.JSON400.Error != "not_found" {
		t.Fatalf("cancel of an unknown verification: %v %d %s", err, cancelled.StatusCode(), cancelled.Body)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ptr[T any](v T) *T { return &v }
