package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// logLines parses every JSON line of a log.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		lines = append(lines, line)
	}
	return lines
}

// linesOf returns the log lines of one request, by its request id.
func linesOf(t *testing.T, logs, requestID string) (all []map[string]any, access []map[string]any) {
	t.Helper()
	for _, l := range logLines(t, logs) {
		if l["req_id"] != requestID {
			continue
		}
		all = append(all, l)
		if l["msg"] == "http request" {
			access = append(access, l)
		}
	}
	return all, access
}

// sendWithID posts body to path with an X-Request-ID header (none when id is "").
func (h *harness) sendWithID(method, path, id, body string) *response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	return h.do(req)
}

var generatedID = regexp.MustCompile(`^[A-Za-z0-9._-]{16,128}$`)

func TestRequestIDIsKeptWhenSaneAndMadeOtherwise(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"a sane id is kept", "req-42_a.B", true},
		{"128 characters are kept", strings.Repeat("a", 128), true},
		{"no id gets one", "", false},
		{"129 characters are replaced", strings.Repeat("a", 129), false},
		{"spaces are replaced", "abc def", false},
		{"a forged log field is replaced", `x","level":"ERROR`, false},
		{"markup is replaced", "<script>alert(1)</script>", false},
		{"unicode is replaced", "идентификатор", false},
	}
	// One server for all cases, one after another: each fresh id must differ from every id before it.
	h := newHarness(t, options{sandbox: true})
	seen := map[string]bool{}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			number := "1415555010" + string(rune('0'+i))
			r := h.sendWithID(http.MethodPost, "/request", tt.sent, requestBody(number))
			if r.status != 200 {
				t.Fatalf("request: %d %s", r.status, r.raw)
			}
			got := r.header.Get("X-Request-ID")
			if tt.kept && got != tt.sent {
				t.Fatalf("X-Request-ID %q answered %q, want it kept", tt.sent, got)
			}
			if !tt.kept && (got == tt.sent || !generatedID.MatchString(got) || seen[got]) {
				t.Fatalf("X-Request-ID %q answered %q, want a fresh sane id", tt.sent, got)
			}
			seen[got] = true

			all, access := linesOf(t, h.logs.String(), got)
			if len(access) != 1 {
				t.Fatalf("want one access line with req_id %q, got %d", got, len(access))
			}
			msgs := map[any]bool{}
			for _, l := range all {
				msgs[l["msg"]] = true
			}
			// Lines written by the handler and by the backend name the request too.
			for _, want := range []string{"verification started", "sandbox verification code"} {
				if !msgs[want] {
					t.Errorf("line %q does not carry req_id %q; lines: %v", want, got, all)
				}
			}
		})
	}
}

func TestErrorAnswersCarryTheRequestID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{sandbox: true})
	for _, path := range []string{"/nope", "/request"} {
		r := h.sendWithID(http.MethodPost, path, "err-"+strings.TrimPrefix(path, "/"), `{`)
		if r.status < 400 || r.header.Get("X-Request-ID") != "err-"+strings.TrimPrefix(path, "/") {
			t.Errorf("%s: %d with X-Request-ID %q", path, r.status, r.header.Get("X-Request-ID"))
		}
	}
}

func TestOneAccessLinePerRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	started := h.postJSON("/request", `{"number":"+1 415 555 0100"}`)
	id := started.str("request_id")

	tests := []struct {
		name, method, path, body string
		want                     map[string]any // fields the access line must have
		absent                   []string       // fields it must not have
	}{
		{"a started verification names the masked number and status 0", "POST", "/request", `{"number":"14155550199"}`,
			map[string]any{"method": "POST", "route": "/request", "status": 200.0, "number": "+1415•••0199",
				"verify_status": "0", "client_ip": "127.0.0.1", "level": "INFO"}, nil},
		{"a wrong code names the Verify status and the masked number, never the code", "POST", "/check", checkBody(id, "987654"),
			map[string]any{"route": "/check", "status": 400.0, "verify_status": "16", "number": "+1415•••0100"}, nil},
		{"a concurrent start names the Verify status", "POST", "/request", `{"number":"14155550100"}`,
			map[string]any{"status": 400.0, "verify_status": "10", "number": "+1415•••0100"}, nil},
		{"an invalid number is masked too", "POST", "/request", `{"number":"999999999999"}`,
			map[string]any{"status": 400.0, "number": "+9999•••9999"}, []string{"verify_status"}},
		{"a body that is not JSON has neither number nor status", "POST", "/request", `{"number":`,
			map[string]any{"status": 400.0}, []string{"number", "verify_status"}},
		{"an unknown route", "GET", "/wp-login.php", "",
			map[string]any{"method": "GET", "status": 404.0, "route": "unmatched"}, []string{"number"}},
		{"a wrong method names the route", "GET", "/check", "",
			map[string]any{"route": "/check", "status": 405.0}, nil},
		{"a passing probe is logged at debug", "GET", "/healthz", "",
			map[string]any{"route": "/healthz", "status": 200.0, "level": "DEBUG"}, nil},
	}
	// The cases share the server, in order (the concurrent start needs the first), so they run one
	// after another; the log is searched for numbers and codes once they are all done.
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rid := "line-" + string(rune('a'+i))
			req, err := http.NewRequest(tt.method, h.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Request-ID", rid)
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()

			_, access := linesOf(t, h.logs.String(), rid)
			if len(access) != 1 {
				t.Fatalf("want one access line, got %d", len(access))
			}
			line := access[0]
			for k, v := range tt.want {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v (line %v)", k, line[k], v, line)
				}
			}
			for _, k := range tt.absent {
				if _, ok := line[k]; ok {
					t.Errorf("line has %s: %v", k, line)
				}
			}
			if ms, ok := line["latency_ms"].(float64); !ok || ms < 0 {
				t.Errorf("latency_ms = %#v", line["latency_ms"])
			}
		})
	}
	for _, secret := range []string{"14155550199", "14155550100", "987654", "999999999999"} {
		if h.logs.Holds(secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
