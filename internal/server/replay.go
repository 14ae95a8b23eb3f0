package server

import (
	"bytes"
	"net/http"

	"github.com/verify-proxy/verify-proxy/api"
	"github.com/verify-proxy/verify-proxy/internal/state"
)

// record renders a /request answer as the bytes the app will get, so that a retry with the same
// Idempotency-Key can be given the very same bytes. It also says whether the answer is final:
// "try again later" (429, 5xx) is not, and is never replayed.
func record(resp api.RequestVerificationResponseObject) (state.Response, bool) {
	rec := &recorder{header: http.Header{}}
	if err := resp.VisitRequestVerificationResponse(rec); err != nil {
		// Encoding our own response types does not fail; if it did, the app must not get half.
		return state.Response{Status: http.StatusInternalServerError, Body: internalErrorBody}, false
	}
	final := rec.status < http.StatusInternalServerError && rec.status != http.StatusTooManyRequests
	return state.Response{Status: rec.status, Body: rec.body.Bytes()}, final
}

// internalErrorBody is errorFor(codeInternalError, "") as it is written.
var internalErrorBody = []byte(`{"error":"` + codeInternalError + `","error_text":"` + answers[codeInternalError].text + `"}` + "\n")

// replay sends a recorded answer. The only other header an answer can carry, Retry-After, belongs
// to 429s, which are never recorded.
type replay state.Response

func (r replay) VisitRequestVerificationResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.Status)
	_, err := w.Write(r.Body)
	return err
}

// recorder is the smallest http.ResponseWriter that keeps what is written.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func (r *recorder) WriteHeader(status int) { r.status = status }
