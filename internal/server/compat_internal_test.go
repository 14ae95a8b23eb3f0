package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/verify-proxy/verify-proxy/api"
)

func TestASCIIForms(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"+1 (415) 555-0100", "+1 (415) 555-0100"},
		{" +14155550100\n", "+14155550100"},
		{"\u202a+1 (415) 555\u20110100\u202c", "+1 (415) 555-0100"}, // an iPhone contact card, copied
		{"+44\u00a020\u00a07183\u00a08750", "+44 20 7183 8750"},
		{"+33\u202f1\u202f23\u202f45\u202f67\u202f89", "+33 1 23 45 67 89"}, // narrow no-break spaces
		{"+1 415\u2013555\u20140100", "+1 415-555-0100"},
		{"\u2212", "-"},
		{"\uff0b\uff11\uff08\uff14\uff11\uff15\uff09\uff15\uff15\uff15\uff0e\uff10\uff11\uff10\uff10", "+1(415)555.0100"},
		{"+٢٠ ١٠٠ ١٢٣ ٤٥٦٧", "+20 100 123 4567"}, // Arabic-Indic
		{"+۹۸ ۹۱۲ ۳۴۵ ۶۷۸۹", "+98 912 345 6789"}, // Persian
		{"+९१ ९८७६५ ४३२१०", "+91 98765 43210"},   // Devanagari
		{"+৮৮০ ১৭১১ ২৩৪৫৬৭", "+880 1711 234567"}, // Bengali
		{"+๖๖ ๘๑ ๒๓๔ ๕๖๗๘", "+66 81 234 5678"},   // Thai
		{"𝟏𝟒𝟏𝟓𝟓𝟓𝟓𝟎𝟏𝟎𝟎", "14155550100"},           // mathematical bold
		{"𝟷𝟺𝟷𝟻𝟻𝟻𝟻𝟶𝟷𝟶𝟶", "14155550100"},           // mathematical monospace, the last of five runs
		{"1\u200b2\u200d3\ufeff4", "1234"},
		{"📞14155550100", "📞14155550100"}, // kept, so the validator refuses it
		{"1415CALLNOW", "1415CALLNOW"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := asciiForms(tt.in); got != tt.want {
			t.Errorf("asciiForms(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDigitValueRestsOnUnicodesDigitRuns checks the fact digitValue relies on, for every decimal
// digit Go knows: each maximal run of digits is whole sets of ten. (The values themselves are
// checked script by script above.)
func TestDigitValueRestsOnUnicodesDigitRuns(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.IsDigit(r) || unicode.IsDigit(r-1) {
			continue
		}
		end := r
		for unicode.IsDigit(end + 1) {
			end++
		}
		if n := end - r + 1; n%10 != 0 {
			t.Errorf("the digits from %U to %U are not whole sets of ten", r, end)
		}
	}
}

// TestReadBodyReadsWhatioReadAllReads checks the sized read against io.ReadAll, including bodies
// longer or shorter than they declare.
func TestReadBodyReadsWhatioReadAllReads(t *testing.T) {
	t.Parallel()
	body := `{"request_id":"abcdef0123456789abcdef0123456789","code":"1234"}`
	for _, declared := range []int64{-1, 0, 1, 10, int64(len(body)) - 1, int64(len(body)), int64(len(body)) + 1, MaxBodyBytes + 1} {
		got, err := readBody(iotest.OneByteReader(strings.NewReader(body)), declared)
		if err != nil || string(got) != body {
			t.Errorf("declared %d: readBody = %q, %v; want the whole body", declared, got, err)
		}
	}
	if _, err := readBody(iotest.ErrReader(io.ErrUnexpectedEOF), 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a body that ends early: error %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestDecodedBodiesValidateAsKinOpenAPIDoes checks the validator's one-decode path against
// kin-openapi's own (which reads and decodes the bytes again), on bodies of every shape: the same
// error, word for word, or the same validated value.
func TestDecodedBodiesValidateAsKinOpenAPIDoes(t *testing.T) {
	t.Parallel()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	spec.Servers = nil
	routes, err := contractRoutes(spec)
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		`{"number":"14155550100"}`, `{"number":14155550100}`, `{"number":"+1 (415) 555-0100"}`,
		`{"number":""}`, `{"number":null}`, `{"number":-1}`, `{"number":1.5}`, `{"number":"1415CALLNOW"}`,
		`{"number":"14155550100","extra":{"b":1,"a":[1,"x",null]}}`, `{"NUMBER":"14155550100"}`, `{}`,
		`[]`, `"x"`, `null`, `3`, `true`,
		`{"request_id":"abcdef0123456789abcdef0123456789","code":"1234"}`,
		`{"request_id":"abcdef0123456789abcdef0123456789","code":1234}`,
		`{"requestId":"abcdef0123456789abcdef0123456789","code":"1234"}`,
		`{"request_id":"1234","requestId":"abcdef0123456789abcdef0123456789"}`,
		`{"request_id":" abcdef0123456789abcdef0123456789 ","code":" 1234 "}`,
		`{"request_id":"abcdef0123456789abcdef0123456789","code":"١٢٣٤"}`,
		`{"request_id":"not an id!","code":"12"}`, `{"request_id":"abcdef0123456789abcdef0123456789"}`,
		`{"request_id":"abcdef0123456789abcdef0123456789","code":"12345678901"}`,
		`{"request_id":7,"code":{"x":1}}`,
	}
	for path := range opByRoute {
		for _, body := range bodies {
			validate := func(decoded bool) (string, any) {
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				req.Header.Set("Idempotency-Key", "k1")
				b := []byte(body)
				options := &openapi3filter.Options{KeepValidatedValue: true, ExcludeResponseBody: true}
				input := &openapi3filter.RequestValidationInput{Request: req, Route: routes[path], Options: options}
				var err error
				if value, ok := decodeBody(b, false, req.Header); decoded && ok {
					if fields, ok := value.(map[string]any); ok && upgradeLegacyBody(path, fields) {
						b, _ = json.Marshal(fields)
					}
					body := &decodedBody{Reader: bytes.NewReader(b), value: value}
					req.Body = body
					withoutBody := *options
					withoutBody.ExcludeRequestBody = true
					input.Options = &withoutBody
					if err = openapi3filter.ValidateRequest(context.Background(), input); err == nil {
						err = validateDecoded(context.Background(), input, routes[path].Operation.RequestBody.Value, body)
					}
				} else { // as before: the rewritten bytes, read and decoded again by kin-openapi
					if value, ok := decodeBody(b, false, req.Header); ok {
						if fields, ok := value.(map[string]any); ok && upgradeLegacyBody(path, fields) {
							b, _ = json.Marshal(fields)
						}
					}
					req.Body = io.NopCloser(bytes.NewReader(b))
					err = openapi3filter.ValidateRequest(context.Background(), input)
				}
				if err != nil {
					return err.Error(), nil
				}
				vb, ok := req.Body.(interface{ ValidatedValue() any })
				if !ok {
					return "no validated value", nil
				}
				return "", vb.ValidatedValue()
			}
			wantErr, wantValue := validate(false)
			gotErr, gotValue := validate(true)
			if gotErr != wantErr || !reflect.DeepEqual(gotValue, wantValue) {
				t.Errorf("%s %s:\n got %q %#v\nwant %q %#v", path, body, gotErr, gotValue, wantErr, wantValue)
			}
		}
	}
}
