package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// TestInputFormsOfTheFirstApps sends what the guide, the Android and the iOS apps send, and checks
// what reaches the Verify API.
func TestInputFormsOfTheFirstApps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		defaultCountry string
		path, body     string
		upstream       string
		want           map[string]string // form fields the Verify API must receive
	}{
		{"guide sends the number as a JSON number", "", "/request", `{"number": 14155550100}`,
			v1test.PathStart, map[string]string{"number": "14155550100", "brand": "Acme"}},
		{"13-digit JSON number keeps every digit", "", "/request", `{"number": 4915112345678}`,
			v1test.PathStart, map[string]string{"number": "4915112345678"}},
		{"Android sends + spaces dashes and parentheses", "", "/request", `{"number":"+1 (415) 555-0100"}`,
			v1test.PathStart, map[string]string{"number": "14155550100"}},
		{"a UTF-8 byte-order mark is ignored", "", "/request", "\ufeff" + `{"number":"14155550100"}`,
			v1test.PathStart, map[string]string{"number": "14155550100"}},
		{"iOS sends plain digits", "", "/request", `{"number":"442071838750"}`,
			v1test.PathStart, map[string]string{"number": "442071838750"}},
		{"dots as separators", "", "/request", `{"number":"+44.20.7183.8750"}`,
			v1test.PathStart, map[string]string{"number": "442071838750"}},
		{"a number pasted from an iPhone contact card", "", "/request", `{"number":"\u202a+1 (415) 555\u20110100\u202c"}`,
			v1test.PathStart, map[string]string{"number": "14155550100"}},
		{"no-break spaces and an en dash", "", "/request", `{"number":"+44\u00a020\u00a07183\u20138750"}`,
			v1test.PathStart, map[string]string{"number": "442071838750"}},
		{"Arabic-Indic digits, as an iPhone set to Arabic types them", "", "/request", `{"number":"+٢٠ ١٠٠ ١٢٣ ٤٥٦٧"}`,
			v1test.PathStart, map[string]string{"number": "201001234567"}},
		{"Persian digits read with DEFAULT_COUNTRY", "IR", "/request", `{"number":"۰۹۱۲ ۳۴۵ ۶۷۸۹"}`,
			v1test.PathStart, map[string]string{"number": "989123456789"}},
		{"full-width forms", "", "/request", `{"number":"＋１ ４１５ ５５５ ０１００"}`,
			v1test.PathStart, map[string]string{"number": "14155550100"}},
		{"white space around the number, a trailing newline from a paste", "", "/request", `{"number":" +14155550100\n"}`,
			v1test.PathStart, map[string]string{"number": "14155550100"}},
		{"a code typed in Arabic-Indic digits", "", "/check", checkBody(requestID, "٥٣٠٩"),
			v1test.PathCheck, map[string]string{"request_id": requestID, "code": "5309"}},
		{"a code with a trailing space", "", "/check", checkBody(requestID, "5309 "),
			v1test.PathCheck, map[string]string{"request_id": requestID, "code": "5309"}},
		{"national number read with DEFAULT_COUNTRY", "GB", "/request", `{"number":"020 7183 8750"}`,
			v1test.PathStart, map[string]string{"number": "442071838750"}},
		{"valid international digits win over DEFAULT_COUNTRY", "GB", "/request", `{"number":"14155550100"}`,
			v1test.PathStart, map[string]string{"number": "14155550100"}},
		{"code as a JSON number", "", "/check", `{"request_id":"` + requestID + `","code":1234}`,
			v1test.PathCheck, map[string]string{"request_id": requestID, "code": "1234"}},
		{"guide's check reads requestId", "", "/check", `{"requestId":"` + requestID + `","code":"5309"}`,
			v1test.PathCheck, map[string]string{"request_id": requestID, "code": "5309"}},
		{"Android final commit swaps request_id and requestId", "", "/check", `{"request_id":"8571","requestId":"` + requestID + `"}`,
			v1test.PathCheck, map[string]string{"request_id": requestID, "code": "8571"}},
		{"a request_id copied with a zero-width space and a newline", "", "/cancel", `{"request_id":"` + requestID + `\u200b\n"}`,
			v1test.PathControl, map[string]string{"request_id": requestID, "cmd": "cancel"}},
		{"cancel with requestId", "", "/cancel", `{"requestId":"` + requestID + `"}`,
			v1test.PathControl, map[string]string{"request_id": requestID, "cmd": "cancel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{defaultCountry: tt.defaultCountry})
			switch tt.upstream {
			case v1test.PathCheck:
				h.fake.Script(tt.upstream, 200, `{"request_id":"`+requestID+`","status":"0","event_id":"E","price":"0.1","currency":"EUR"}`)
			case v1test.PathControl:
				h.fake.Script(tt.upstream, 200, `{"status":"0","command":"cancel"}`)
			}
			r := h.postJSON(tt.path, tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			reqs := h.fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("want exactly one upstream call, got %d", len(reqs))
			}
			for k, v := range tt.want {
				if got := reqs[0].Form.Get(k); got != v {
					t.Errorf("upstream %s: got %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestBadInputIsAClearJSONError covers every field in every way it can be wrong. Each answer is
// checked against the contract by the harness; none may reach the paid API.
func TestBadInputIsAClearJSONError(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("1", 20<<10)
	tests := []struct {
		name, method, path, contentType, body string
		wantHTTP                              int
		wantError                             string
		wantInText                            string
	}{
		{"missing number", "POST", "/request", "application/json", `{}`, 400, "invalid_request", "number"},
		{"number null", "POST", "/request", "application/json", `{"number":null}`, 400, "invalid_number", "number: send the phone number as a string of digits"},
		{"number empty", "POST", "/request", "application/json", `{"number":""}`, 400, "invalid_number", "number"},
		{"number boolean", "POST", "/request", "application/json", `{"number":true}`, 400, "invalid_number", "number"},
		{"number object", "POST", "/request", "application/json", `{"number":{"a":1}}`, 400, "invalid_number", "number"},
		{"number negative JSON number", "POST", "/request", "application/json", `{"number":-14155550100}`, 400, "invalid_number", "whole positive number"},
		{"number in exponent form", "POST", "/request", "application/json", `{"number":1.41555501e10}`, 400, "invalid_number", "whole positive number"},
		{"number with letters", "POST", "/request", "application/json", `{"number":"1415CALLNOW"}`, 400, "invalid_number", "number: use digits"},
		{"number too long", "POST", "/request", "application/json", requestBody(strings.Repeat("1", 40)), 400, "invalid_number", "number"},
		{"number that is no real number", "POST", "/request", "application/json", `{"number":"12345"}`, 400, "invalid_number", "valid phone number"},
		{"number unicode letters", "POST", "/request", "application/json", `{"number":"+1 ４１５ ＣＡＬＬ"}`, 400, "invalid_number", "number"},
		{"number only invisible marks", "POST", "/request", "application/json", `{"number":"\u202a\u202c"}`, 400, "invalid_number", "number"},
		{"number only spaces", "POST", "/request", "application/json", `{"number":" \u00a0 "}`, 400, "invalid_number", "number: send a phone number"},
		{"code only a space", "POST", "/check", "application/json", checkBody(requestID, " "), 400, "invalid_request", "code: send the code the user received"},
		{"number emoji", "POST", "/request", "application/json", `{"number":"📞14155550100"}`, 400, "invalid_number", "number"},
		{"number SQL injection", "POST", "/request", "application/json", `{"number":"14155550100'; DROP TABLE users;--"}`, 400, "invalid_number", "number"},
		{"number script injection", "POST", "/request", "application/json", `{"number":"<script>alert(1)</script>"}`, 400, "invalid_number", "number"},
		{"number form injection", "POST", "/request", "application/json", `{"number":"14155550100&api_key=x"}`, 400, "invalid_number", "number"},
		{"body is an array", "POST", "/request", "application/json", `[{"number":"14155550100"}]`, 400, "invalid_request", "request body: send a JSON object"},
		{"body is a string", "POST", "/request", "application/json", `"14155550100"`, 400, "invalid_request", ""},
		{"body is null", "POST", "/request", "application/json", `null`, 400, "invalid_request", "request body: send a JSON object"},
		{"malformed JSON", "POST", "/request", "application/json", `{"number": "14155550100"`, 400, "invalid_request", "JSON"},
		{"trailing garbage after the JSON", "POST", "/request", "application/json", `{"number":"14155550100"} trailing`, 400, "invalid_request", "JSON"},
		{"two JSON objects", "POST", "/request", "application/json", `{"number":"14155550100"}{"number":"19005550100"}`, 400, "invalid_request", "JSON"},
		{"empty body", "POST", "/request", "application/json", ``, 400, "invalid_request", "required"},
		{"form-encoded body", "POST", "/request", "application/x-www-form-urlencoded", `number=14155550100`, 415, "unsupported_media_type", "application/json"},
		{"no content type", "POST", "/request", "", `{"number":"14155550100"}`, 415, "unsupported_media_type", "application/json"},
		{"text/plain JSON", "POST", "/check", "text/plain", `{"request_id":"a","code":"1234"}`, 415, "unsupported_media_type", ""},
		{"body over 16 KiB", "POST", "/request", "application/json", requestBody(huge), 413, "payload_too_large", "16384"},
		{"missing code", "POST", "/check", "application/json", `{"request_id":"` + requestID + `"}`, 400, "invalid_request", "code"},
		{"missing request_id", "POST", "/check", "application/json", `{"code":"1234"}`, 400, "invalid_request", "request_id"},
		{"code too short", "POST", "/check", "application/json", checkBody(requestID, "12"), 400, "invalid_request", "code"},
		{"code too long", "POST", "/check", "application/json", checkBody(requestID, "12345678901"), 400, "invalid_request", "code"},
		{"code with symbols", "POST", "/check", "application/json", checkBody(requestID, "12;4"), 400, "invalid_request", "code: use only the letters and digits"},
		{"code as array", "POST", "/check", "application/json", `{"request_id":"` + requestID + `","code":[1,2,3,4]}`, 400, "invalid_request", `code: send the code as a string, e.g. "1234"`},
		{"request_id empty", "POST", "/check", "application/json", `{"request_id":"","code":"1234"}`, 400, "invalid_request", "request_id"},
		{"request_id as number", "POST", "/cancel", "application/json", `{"request_id":123}`, 400, "invalid_request", "request_id: send the request_id string that /request returned"},
		{"request_id path traversal", "POST", "/cancel", "application/json", `{"request_id":"../../etc/passwd"}`, 400, "invalid_request", "request_id: use the request_id that /request returned"},
		{"request_id too long", "POST", "/cancel", "application/json", cancelBody(strings.Repeat("a", 37)), 400, "invalid_request", "request_id"},
		{"request_id unicode", "POST", "/cancel", "application/json", `{"request_id":"ａｂｃ"}`, 400, "invalid_request", "request_id"},
		{"cancel empty object (the Android app with no stored id)", "POST", "/cancel", "application/json", `{}`, 400, "invalid_request", "request_id"},
		{"unknown path", "POST", "/verify", "application/json", `{}`, 404, "unknown_route", ""},
		{"wrong method", "GET", "/request", "", ``, 405, "method_not_allowed", "POST"},
		{"PUT on check", "PUT", "/check", "application/json", `{}`, 405, "method_not_allowed", "POST"},
		{"POST on healthz names GET", "POST", "/healthz", "application/json", `{}`, 405, "method_not_allowed", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			r := h.send(tt.method, tt.path, tt.contentType, tt.body)
			if r.status != tt.wantHTTP || r.str("error") != tt.wantError {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.str("error"), tt.wantHTTP, tt.wantError, r.raw)
			}
			if !strings.Contains(r.str("error_text"), tt.wantInText) {
				t.Errorf("error_text %q should mention %q", r.str("error_text"), tt.wantInText)
			}
			if strings.Contains(r.str("error_text"), "regular expression") {
				t.Errorf("error_text %q makes the app developer read a regular expression", r.str("error_text"))
			}
			if tt.wantHTTP == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if n := len(h.fake.Requests()); n != 0 {
				t.Errorf("bad input reached the paid API %d times", n)
			}
		})
	}
}

// TestDuplicateKeysCannotSmuggleUnvalidatedValues: Echo's binder matches JSON names without regard
// to case; the handler must act on the value the validator checked.
func TestDuplicateKeysCannotSmuggleUnvalidatedValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	r := h.postJSON("/request", `{"number":"14155550100","NUMBER":"19005550100"}`)
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	if got := h.fake.Requests()[0].Form.Get("number"); got != "14155550100" {
		t.Errorf("upstream got number %q, want the validated 14155550100", got)
	}
}

func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}

// unreachableVonage is a Vonage client pointed at a port where nothing listens.
func unreachableVonage(logger *slog.Logger) verify.Provider {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := verifyv1.New(verifyv1.Options{Endpoint: transport.Endpoint{BaseURL: "http://" + addr}, APIKey: "k", APISecret: "s", Brand: "Acme"},
		transport.NewHTTPClient(0), logger)
	if err != nil {
		panic(err)
	}
	return c
}

// TestCompressedBodyIsNamedAsSuch: a gzip body may well be JSON; the answer says what is wrong.
func TestCompressedBodyIsNamedAsSuch(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{"gzip", "br", "deflate"} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			r := h.postWith("/request", "\x1f\x8b\x08\x00", map[string]string{"Content-Encoding": enc})
			if r.status != http.StatusUnsupportedMediaType || r.str("error") != "unsupported_media_type" ||
				!strings.Contains(r.str("error_text"), "compressed") {
				t.Errorf("Content-Encoding %s: %d %s", enc, r.status, r.raw)
			}
		})
	}
	t.Run("identity", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, options{})
		if r := h.postWith("/request", `{"number":"14155550100"}`, map[string]string{"Content-Encoding": "identity"}); r.status != http.StatusOK {
			t.Errorf("Content-Encoding identity: %d %s", r.status, r.raw)
		}
	})
}

// TestTruncatedBodyIsTheClientsFault: a body shorter than its Content-Length (a phone that lost
// signal mid-upload) is a 400 in the ErrorBody shape, not a 500 that would page an operator.
func TestTruncatedBodyIsTheClientsFault(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/request", "/check", "/cancel"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				"Content-Length: 100\r\n\r\n"+`{"number":"1415`)
			_ = conn.(*net.TCPConn).CloseWrite()
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if res.StatusCode != http.StatusBadRequest || body["error"] != "invalid_request" || body["error_text"] == "" {
				t.Fatalf("got %d %v", res.StatusCode, body)
			}
			if strings.Contains(h.logs.String(), `"level":"ERROR"`) {
				t.Errorf("a client's broken upload was logged as an error:\n%s", h.logs.String())
			}
			if n := len(h.fake.Requests()); n != 0 {
				t.Errorf("a truncated body reached the Verify API %d times", n)
			}
		})
	}
}
