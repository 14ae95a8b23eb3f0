package verifyv1

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestFormsAreWhatURLValuesEncodes checks the forms encoded once at New against url.Values.Encode,
// byte for byte, whatever optional parameters are set and whatever the values hold.
func TestFormsAreWhatURLValuesEncodes(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, string(b))
		_, _ = io.WriteString(w, `{"status":"0","request_id":"abcdef0123456789abcdef0123456789"}`)
	}))
	t.Cleanup(srv.Close)
	options := []Options{
		{APIKey: "key", APISecret: "secret", Brand: "Acme"},
		{APIKey: "k&y=1", APISecret: "s e+c/ret%", Brand: "Acme & Co ü", CodeLength: 6, Locale: "en-gb",
			WorkflowID: 6, PinExpiry: 300, NextEventWait: 60, SenderID: "ACME"},
		{APIKey: "key", APISecret: "secret", Brand: "Acme", SenderID: "zz"},
		{APIKey: "key", APISecret: "secret", Brand: "Acme", CodeLength: 4},
	}
	for _, opts := range options {
		opts.BaseURL = srv.URL
		c, err := New(opts, srv.Client(), nil)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		const id, code, number = "abcdef0123456789abcdef0123456789", "1234", "14155550100"
		ctx := context.Background()
		_, _ = c.Start(ctx, number)
		_, _ = c.Check(ctx, id, code)
		_ = c.Cancel(ctx, id)
		creds := url.Values{"api_key": {opts.APIKey}, "api_secret": {opts.APISecret}}
		with := func(extra url.Values) string {
			form := url.Values{}
			for k, v := range creds {
				form[k] = v
			}
			for k, v := range extra {
				form[k] = v
			}
			return form.Encode()
		}
		start := startForm(opts)
		start.Set("number", number)
		want := []string{
			with(start),
			with(url.Values{"request_id": {id}, "code": {code}}),
			with(url.Values{"request_id": {id}, "cmd": {"cancel"}}),
		}
		if len(got) != len(want) {
			t.Fatalf("%+v: %d calls, want %d", opts, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("call %d:\n got %s\nwant %s", i, got[i], want[i])
			}
		}
	}
}

// TestWireStringReadsAsTheDecoderDoes checks the decoder-free reading of plain strings against
// encoding/json, escapes and invalid UTF-8 included.
func TestWireStringReadsAsTheDecoderDoes(t *testing.T) {
	t.Parallel()
	for _, lit := range []string{`""`, `"0"`, `"0.10000000"`, `"EUR"`, `"The code provided does not match"`,
		`"caf\u00e9"`, `"a\"b"`, `"a\\b"`, `"ü"`, "\"\xff\xfe\"", `"\ud800"`} {
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatalf("%s: %v", lit, err)
		}
		var got struct {
			S wireString `json:"s"`
		}
		if err := json.Unmarshal([]byte(`{"s":`+lit+`}`), &got); err != nil || string(got.S) != want {
			t.Errorf("%s read as %q (%v), want %q", lit, got.S, err, want)
		}
	}
}
