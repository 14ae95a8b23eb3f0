package main

// The documentation is held to the server it describes. Every JSON block in README.md and
// docs/*.md follows a marker, <!-- example: NAME -->, and the scenario of that name produces the
// same JSON from the real program (configuration, Echo, validator, guard, sandbox backend) over HTTP:
// the same keys, the same values, where a string holding "…" matches any string with the text
// around it. A JSON answer written any other way (as a comment in a shell block, say) fails, so
// none can drift unseen. Links between the documents are followed, anchors included.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/verify-proxy/verify-proxy/internal/app"
	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/porttest"
	"github.com/verify-proxy/verify-proxy/internal/token/tokentest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

// documents are the files whose examples and links are checked, relative to the repository root.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"README.md", "ARCHITECTURE.md"}, docs...)
}

func TestEveryDocumentedAnswerIsTheServersAnswer(t *testing.T) {
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	byScenario := map[string][]block{}
	for _, doc := range documents(t) {
		blocks, problems := examples(t, doc)
		for _, p := range problems {
			t.Error(p)
		}
		for _, b := range blocks {
			if _, ok := scenarios[b.scenario]; !ok {
				t.Errorf("%s:%d: no scenario %q in docs_test.go", b.file, b.line, b.scenario)
				continue
			}
			byScenario[b.scenario] = append(byScenario[b.scenario], b)
		}
	}
	for name := range scenarios {
		if len(byScenario[name]) == 0 {
			t.Errorf("scenario %q is shown nowhere; remove it or mark an example with <!-- example: %s -->", name, name)
		}
	}
	// The program reads a .env in its working directory; a developer's own must not change the answers.
	t.Chdir(t.TempDir())

	for name, blocks := range byScenario {
		sc := scenarios[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startSandbox(t, sc.env)
			got := sc.run(s)
			if got.status != sc.status {
				t.Fatalf("answered %d, not %d: %s", got.status, sc.status, got.body)
			}
			var actual any
			if err := json.Unmarshal(got.body, &actual); err != nil {
				t.Fatalf("the answer is not JSON: %v: %s", err, got.body)
			}
			for _, b := range blocks {
				for _, d := range match("", b.want, actual, sc.vary) {
					t.Errorf("%s:%d: %s\n  the server's answer: %s", filepath.Join(root, b.file), b.line, d, got.body)
				}
			}
		})
	}
}

// block is one JSON example in a document.
type block struct {
	file, scenario string
	line           int // of the opening fence
	want           any
}

var (
	fenceLine  = regexp.MustCompile("^\\s*(```+|~~~+)\\s*([A-Za-z0-9_+-]*)")
	markerLine = regexp.MustCompile(`^<!-- example: ([a-z0-9-]+) -->$`)
	// commentPrefix is how an answer hides in another block: "# {...}" in a shell session.
	commentPrefix = regexp.MustCompile(`^\s*(#|//|>|\$)?\s*`)
)

// examples reads the JSON blocks of file, and says what breaks the convention: a JSON block without
// a marker, a marker without a JSON block, JSON that does not parse, a JSON answer inside another
// kind of block.
func examples(t *testing.T, file string) (blocks []block, problems []string) {
	t.Helper()
	text := lines(t, file)
	var marker []string // the marker on the last non-blank line outside a fence, if it was one
	markerAt := 0
	dangling := func() {
		if marker != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %s is not followed by a ```json block", file, markerAt, marker[0]))
		}
	}
	for i := 0; i < len(text); i++ {
		open := fenceLine.FindStringSubmatch(text[i])
		if open == nil {
			if l := strings.TrimSpace(text[i]); l != "" {
				dangling()
				marker, markerAt = markerLine.FindStringSubmatch(l), i+1
			}
			continue
		}
		start, lang := i+1, strings.ToLower(open[2])
		var body []string
		for i++; i < len(text); i++ {
			if c := fenceLine.FindStringSubmatch(text[i]); c != nil && c[2] == "" && strings.HasPrefix(c[1], open[1]) {
				break
			}
			body = append(body, text[i])
		}
		switch {
		case lang == "markdown" || lang == "md": // an example of these documents' own syntax
			dangling()
		case lang != "json":
			dangling()
			for n, l := range body {
				if s := commentPrefix.ReplaceAllString(l, ""); strings.HasPrefix(s, "{") && json.Valid([]byte(s)) {
					problems = append(problems, fmt.Sprintf("%s:%d: a JSON answer inside a %q block; show it in a ```json block of its own, after <!-- example: NAME -->", file, start+n+1, lang))
				}
			}
		case marker == nil:
			problems = append(problems, fmt.Sprintf("%s:%d: a ```json block without <!-- example: NAME --> on the line before it", file, start))
		default:
			var want any
			if err := json.Unmarshal([]byte(strings.Join(body, "\n")), &want); err != nil {
				problems = append(problems, fmt.Sprintf("%s:%d: the example is not JSON: %v", file, start, err))
				break
			}
			blocks = append(blocks, block{file: file, scenario: marker[1], line: start, want: want})
		}
		marker = nil
	}
	dangling()
	return blocks, problems
}

// match says where got differs from want. A string of want holding "…" matches any string that has
// the rest of its text in that order ("…" alone: any string); a number under a key in vary matches
// any number. Everything else must be equal, and objects must have the same keys.
func match(path string, want, got any, vary []string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: the example has an object, the server %s", at(path), show(got))}
		}
		var diffs []string
		for _, k := range sortedKeys(w) {
			if _, ok := g[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: the example has %q, the server does not answer it", at(path), k))
				continue
			}
			diffs = append(diffs, match(path+"."+k, w[k], g[k], vary)...)
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: the server answers %q (%s), the example does not show it", at(path), k, show(g[k])))
			}
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: the example has %d items, the server %s", at(path), len(w), show(got))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], vary)...)
		}
		return diffs
	case string:
		g, ok := got.(string)
		if !ok || !glob(w, g) {
			return []string{fmt.Sprintf("%s: the example has %q, the server %s", at(path), w, show(got))}
		}
	case float64:
		if _, ok := got.(float64); ok && slices.Contains(vary, path[strings.LastIndex(path, ".")+1:]) {
			return nil
		}
		if got != want {
			return []string{fmt.Sprintf("%s: the example has %v, the server %s", at(path), w, show(got))}
		}
	default: // true, false, null
		if got != want {
			return []string{fmt.Sprintf("%s: the example has %v, the server %s", at(path), w, show(got))}
		}
	}
	return nil
}

// glob reports whether s is pattern, each "…" in pattern standing for any text.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "…")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func at(path string) string {
	if path == "" {
		return "the answer"
	}
	return strings.TrimPrefix(path, ".")
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return "has " + string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// scenario produces one documented answer from a fresh sandbox server.
type scenario struct {
	env    map[string]string // beyond VERIFY_BACKEND=sandbox and the test's own PORT and ADMIN_ADDR
	status int               // the answer's HTTP status; 0 for what is not an HTTP answer (a log line)
	vary   []string          // keys whose numbers change on every run (times, latencies)
	run    func(s *sandbox) answer
}

// answer is what a scenario produced: an HTTP answer, or a log line or a token's claims.
type answer struct {
	status int
	body   []byte
}

// The number the scenarios verify (a fictional 555-01xx one), and a test number with its code, as the
// documents show them.
const (
	number     = "+1 415 555 0100"
	testNumber = "15555550100"
	testCode   = "123456"
)

// scenarios are every answer the documents show, by the name their markers give.
var scenarios = map[string]scenario{
	"request": {status: 200, run: func(s *sandbox) answer {
		return s.post("/request", `{"number": "`+number+`"}`)
	}},
	"check": {status: 200, run: func(s *sandbox) answer {
		id := s.start(number)
		return s.post("/check", checkBody(id, s.code(id)))
	}},
	"cancel": {status: 200, run: func(s *sandbox) answer {
		return s.post("/cancel", `{"request_id": "`+s.start(number)+`"}`)
	}},
	"code-mismatch": {status: 400, run: func(s *sandbox) answer {
		id := s.start(number)
		return s.post("/check", checkBody(id, wrongCode(s.code(id))))
	}},
	"too-many-attempts": {status: 400, run: func(s *sandbox) answer {
		id := s.start(number)
		wrong := checkBody(id, wrongCode(s.code(id)))
		s.post("/check", wrong)
		s.post("/check", wrong)
		return s.post("/check", wrong)
	}},
	"not-found": {status: 400, run: func(s *sandbox) answer {
		id := s.start(number)
		s.expect(200, s.post("/check", checkBody(id, s.code(id))))
		return s.post("/cancel", `{"request_id": "`+id+`"}`)
	}},
	"concurrent-verification": {status: 400, run: func(s *sandbox) answer {
		s.start(number)
		return s.post("/request", `{"number": "`+number+`"}`)
	}},
	"invalid-request": {status: 400, run: func(s *sandbox) answer {
		return s.post("/request", `{"phone": "`+number+`"}`)
	}},
	"invalid-number": {status: 400, run: func(s *sandbox) answer {
		return s.post("/request", `{"number": "+1 415 555"}`)
	}},
	"destination-not-allowed": {status: 403, run: func(s *sandbox) answer {
		return s.post("/request", `{"number": "+44 909 879 0000"}`)
	}},
	"rate-limited": {status: 429, run: func(s *sandbox) answer {
		for range 3 { // RATE_LIMIT_NUMBER's default, 3/10m
			s.post("/cancel", `{"request_id": "`+s.start(number)+`"}`)
		}
		return s.post("/request", `{"number": "`+number+`"}`)
	}},
	"idempotency-key-reused": {status: 422, run: func(s *sandbox) answer {
		key := "Idempotency-Key: 8e03978e-40d5-43e8-bc93-6894a57f9324"
		s.expect(200, s.post("/request", `{"number": "`+number+`"}`, key))
		return s.post("/request", `{"number": "+1 415 555 0101"}`, key)
	}},
	"verification-blocked": {status: 403, env: fraudEnv, run: func(s *sandbox) answer {
		pumpPrefix(s)
		return s.post("/request", `{"number": "+1 415 555 0199"}`)
	}},
	"fraud-blocks": {status: 200, env: fraudEnv, run: func(s *sandbox) answer {
		pumpPrefix(s)
		s.expect(403, s.post("/request", `{"number": "+1 415 555 0199"}`)) // the start that begins the pause
		return s.get(s.admin + "/fraud/blocks")
	}},
	"test-number-request": {status: 200, env: testNumbers, run: func(s *sandbox) answer {
		return s.post("/request", `{"number": "`+testNumber+`"}`)
	}},
	"test-number-check": {status: 200, env: testNumbers, run: func(s *sandbox) answer {
		return s.post("/check", checkBody(s.start(testNumber), testCode))
	}},
	"check-v2": {status: 200, env: map[string]string{"VONAGE_VERIFY_API": "v2"}, run: func(s *sandbox) answer {
		id := s.start(number)
		return s.post("/check", checkBody(id, s.code(id)))
	}},
	"request-silent-auth": {status: 200, env: silentAuth, run: func(s *sandbox) answer {
		return s.post("/request", `{"number": "`+number+`"}`)
	}},
	"silent-auth-check-url": {status: 200, env: silentAuth, run: func(s *sandbox) answer {
		started := s.expect(200, s.post("/request", `{"number": "`+number+`"}`))
		var body struct {
			CheckURL string `json:"check_url"`
		}
		if err := json.Unmarshal(started.body, &body); err != nil || body.CheckURL == "" {
			s.t.Fatalf("no check_url: %s", started.body)
		}
		return s.get(body.CheckURL)
	}},
	"jwks": {status: 200, run: func(s *sandbox) answer {
		return s.get(s.base + "/.well-known/jwks.json")
	}},
	"token-claims": {vary: []string{"iat", "nbf", "exp"}, env: map[string]string{"VERIFICATION_TOKEN_AUDIENCE": "my-backend"}, run: func(s *sandbox) answer {
		id := s.start(number)
		checked := s.expect(200, s.post("/check", checkBody(id, s.code(id))))
		var body struct {
			Token string `json:"verification_token"`
		}
		if err := json.Unmarshal(checked.body, &body); err != nil {
			s.t.Fatal(err)
		}
		parts := strings.Split(body.Token, ".")
		if len(parts) != 3 {
			s.t.Fatalf("not a compact JWS: %q", body.Token)
		}
		claims, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			s.t.Fatal(err)
		}
		return answer{body: claims}
	}},
	"healthz": {status: 200, run: func(s *sandbox) answer { return s.get(s.base + "/healthz") }},
	"readyz":  {status: 200, run: func(s *sandbox) answer { return s.get(s.base + "/readyz") }},
	// As SIGTERM does: the server serves on for SHUTDOWN_DELAY, with /readyz failing from the start.
	"readyz-shutting-down": {status: 503, env: map[string]string{"SHUTDOWN_DELAY": "1s"}, run: func(s *sandbox) answer {
		s.stop()
		deadline := time.Now().Add(time.Second)
		for {
			a := s.get(s.base + "/readyz")
			if a.status != http.StatusOK || time.Now().After(deadline) {
				return a
			}
			time.Sleep(5 * time.Millisecond)
		}
	}},
	"access-log": {vary: []string{"latency_ms"}, run: func(s *sandbox) answer {
		s.start(number)
		return answer{body: s.logLine("http request")}
	}},
	"sandbox-code-log": {run: func(s *sandbox) answer {
		s.start(number)
		return answer{body: s.logLine("sandbox verification code")}
	}},
}

var (
	testNumbers = map[string]string{"TEST_NUMBERS": testNumber + ":" + testCode}
	silentAuth  = map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_WORKFLOW": "silent_auth,sms"}
	// fraudEnv is the fraud guard at its defaults; one test client sends every call, so the per-IP
	// limit is lifted, and the admin listener is on to list the pause.
	fraudEnv = map[string]string{"RATE_LIMIT_IP": "off", "ADMIN_ADDR": "on"}
)

// pumpPrefix starts and cancels FRAUD_MIN_STARTS_PREFIX' default (20) verifications in the range
// +1 415 555 xxxx, none verified: the next start there pauses the range.
func pumpPrefix(s *sandbox) {
	for n := range 20 {
		s.post("/cancel", `{"request_id": "`+s.start(fmt.Sprintf("+1 415 555 01%02d", n))+`"}`)
	}
}

func checkBody(requestID, code string) string {
	return `{"request_id": "` + requestID + `", "code": "` + code + `"}`
}

// wrongCode is a code of the same length that is not code.
func wrongCode(code string) string {
	if code == "0000" {
		return "1111"
	}
	return "0000"
}

// sandbox is the running program with the sandbox backend and production's limits (unless a test
// says otherwise), on a port of its own, with its log in hand.
type sandbox struct {
	t     *testing.T
	base  string // the API
	admin string // the admin listener, when the scenario asked for it ("ADMIN_ADDR": "on")
	log   *logtest.Buffer
	stop  context.CancelFunc // begins the shutdown, as SIGTERM does
}

// startSandbox starts the program with the sandbox backend and extra.
func startSandbox(t *testing.T, extra map[string]string) *sandbox {
	t.Helper()
	env := map[string]string{"VERIFY_BACKEND": "sandbox"}
	for k, v := range extra {
		env[k] = v
	}
	return startServer(t, env)
}

// startServer starts the program with env, on loopback ports of its own, and waits until it answers.
func startServer(t *testing.T, env map[string]string) *sandbox {
	t.Helper()
	for attempt := 1; ; attempt++ {
		own := map[string]string{"LISTEN_HOST": "127.0.0.1", "ADMIN_ADDR": "off"}
		for k, v := range env {
			own[k] = v
		}
		s := &sandbox{t: t, log: &logtest.Buffer{}}
		own["PORT"] = porttest.Free(t)
		s.base = "http://127.0.0.1:" + own["PORT"]
		if own["ADMIN_ADDR"] == "on" {
			own["ADMIN_ADDR"] = "127.0.0.1:" + porttest.Free(t)
			s.admin = "http://" + own["ADMIN_ADDR"]
		}
		err := s.launch(own)
		// Between freePort and the bind, a parallel scenario may take the port; a new one then does.
		if errors.Is(err, syscall.EADDRINUSE) && attempt < 5 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// launch runs the program and waits until /healthz answers.
func (s *sandbox) launch(env map[string]string) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	done := make(chan error, 1)
	program := app.Program{Version: "docs-test", SpecYAML: specYAML}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() { done <- program.Run(ctx, nil, lookup, s.log) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if res, err := http.Get(s.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				s.t.Cleanup(func() {
					cancel()
					if err := <-done; err != nil {
						s.t.Errorf("the server stopped with %v", err)
					}
				})
				return nil
			}
		}
		select {
		case err := <-done:
			cancel()
			return fmt.Errorf("the server stopped while starting: %w\n%s", err, s.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			return fmt.Errorf("the server never answered /healthz:\n%s", s.log)
		}
	}
}

// post sends body to the API as an app does, with headers written "Name: value".
func (s *sandbox) post(path, body string, headers ...string) answer {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	return s.do(req)
}

func (s *sandbox) get(url string) answer {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.do(req)
}

func (s *sandbox) do(req *http.Request) answer {
	s.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return answer{status: res.StatusCode, body: body}
}

// expect fails the scenario unless a has status; a step before the one shown must succeed.
func (s *sandbox) expect(status int, a answer) answer {
	s.t.Helper()
	if a.status != status {
		s.t.Fatalf("a step answered %d, not %d: %s", a.status, status, a.body)
	}
	return a
}

// start starts a verification of number and returns its request_id.
func (s *sandbox) start(number string) string {
	s.t.Helper()
	a := s.expect(200, s.post("/request", `{"number": "`+number+`"}`))
	var body struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil || body.RequestID == "" {
		s.t.Fatalf("no request_id in %s", a.body)
	}
	return body.RequestID
}

// code reads the code of a verification from the log, as a developer does with `make run`.
func (s *sandbox) code(requestID string) string {
	s.t.Helper()
	code, ok := s.log.Find(map[string]string{"msg": "sandbox verification code", "request_id": requestID}, "code")
	if !ok {
		s.t.Fatalf("no code logged for %s:\n%s", requestID, s.log)
	}
	return code
}

// logLine is the first log record whose msg is msg. The access line is written after the answer,
// so it is waited for.
func (s *sandbox) logLine(msg string) []byte {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(s.log.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct {
				Msg string `json:"msg"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == msg {
				return bytes.Clone(sc.Bytes())
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no log line %q:\n%s", msg, s.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The README's production recipe is five lines that start a Verify v2 server; with its placeholders
// filled in (the fake's credentials, a real key), they must start one that verifies a number and
// signs a token a backend accepts.
func TestTheProductionRecipeStartsAVerifyV2Server(t *testing.T) {
	recipe := recipeLines(t, "README.md", "production")
	if len(recipe) != 5 {
		t.Fatalf("the README promises five lines, its recipe has %d: %v", len(recipe), recipe)
	}
	fake := v2test.NewServer(t)
	keyPath := filepath.Join(t.TempDir(), "token.pem")
	writeP256Key(t, keyPath)
	placeholders := map[string]string{
		"VONAGE_API_KEY": v2test.APIKey, "VONAGE_API_SECRET": v2test.APISecret,
		"VERIFICATION_TOKEN_KEY_PATH": keyPath,
	}
	env := map[string]string{}
	for name, value := range recipe {
		if v, ok := placeholders[name]; ok {
			value = v
		}
		env[name] = value
	}
	env["VONAGE_BASE_URL"] = fake.URL() // not Vonage's own
	t.Chdir(t.TempDir())                // no developer's .env
	s := startServer(t, env)

	id := s.start(number)
	if n := len(fake.Requests()); n != 1 || fake.Requests()[0].Route != v2test.RouteStart {
		t.Fatalf("the start did not reach Verify v2: %d calls %+v", n, fake.Requests())
	}
	checked := s.expect(200, s.post("/check", checkBody(id, fake.CodeFor(id))))
	var body struct {
		Token string `json:"verification_token"`
	}
	if err := json.Unmarshal(checked.body, &body); err != nil || body.Token == "" {
		t.Fatalf("no verification_token: %s", checked.body)
	}
	keys := s.expect(200, s.get(s.base+"/.well-known/jwks.json"))
	claims, err := tokentest.Verify(keys.body, body.Token, tokentest.Expect{Issuer: "verify-proxy"})
	if err != nil {
		t.Fatalf("a backend refuses the token: %v", err)
	}
	if claims.PhoneNumber != "+14155550100" {
		t.Fatalf("the token is for %q", claims.PhoneNumber)
	}
}

// recipeLines reads the NAME=value lines of the block after <!-- recipe: name --> in file.
func recipeLines(t *testing.T, file, name string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "<!-- recipe: "+name+" -->\n")
	if !ok {
		t.Fatalf("%s has no <!-- recipe: %s -->", file, name)
	}
	lines := strings.Split(after, "\n")
	if !strings.HasPrefix(lines[0], "```") {
		t.Fatalf("%s: <!-- recipe: %s --> is not followed by a fenced block", file, name)
	}
	vars := map[string]string{}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "```") {
			return vars
		}
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, value, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=value", file, l)
		}
		vars[name] = value
	}
	t.Fatalf("%s: the recipe's block never ends", file)
	return nil
}

// writeP256Key writes a key as `openssl ecparam -name prime256v1 -genkey -noout` does.
func writeP256Key(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEveryLinkBetweenTheDocumentsLeadsSomewhere(t *testing.T) {
	anchors := map[string]map[string]bool{} // by file, as a link from the root names it
	anchorsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		a := headingAnchors(t, file)
		anchors[file] = a
		return a
	}
	for _, doc := range documents(t) {
		for _, l := range links(t, doc) {
			target, fragment, _ := strings.Cut(l.target, "#")
			file := doc
			if target != "" {
				file = filepath.ToSlash(filepath.Join(filepath.Dir(doc), target))
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("%s:%d: %s leads to %s, which does not exist", doc, l.line, l.target, file)
				continue
			}
			if fragment != "" && strings.HasSuffix(file, ".md") && !anchorsOf(file)[fragment] {
				t.Errorf("%s:%d: %s: %s has no heading whose anchor is #%s", doc, l.line, l.target, file, fragment)
			}
		}
	}
}

type link struct {
	target string
	line   int
}

var (
	inlineLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
	external   = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`)
)

// links are the relative links of file, outside code.
func links(t *testing.T, file string) []link {
	t.Helper()
	var out []link
	for n, l := range prose(lines(t, file)) {
		for _, m := range inlineLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(l, ""), -1) {
			if !external.MatchString(m[1]) {
				out = append(out, link{target: m[1], line: n + 1})
			}
		}
	}
	return out
}

// headingAnchors are the anchors GitHub gives file's headings: lower case, punctuation dropped,
// spaces as hyphens, a repeat numbered.
func headingAnchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	for _, l := range prose(lines(t, file)) {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(l, "#"))
		text = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(text, "$1")
		var slug strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				slug.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				slug.WriteRune(r)
			}
		}
		anchor := slug.String()
		for i := 1; anchors[anchor]; i++ {
			anchor = fmt.Sprintf("%s-%d", slug.String(), i)
		}
		anchors[anchor] = true
	}
	return anchors
}

// prose yields the lines outside fenced blocks, with their index: links and headings in code are
// not the document's.
func prose(all []string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		inFence := ""
		for n, l := range all {
			if f := fenceLine.FindStringSubmatch(l); f != nil {
				switch {
				case inFence == "":
					inFence = f[1]
				case f[2] == "" && strings.HasPrefix(f[1], inFence):
					inFence = ""
				}
				continue
			}
			if inFence == "" && !yield(n, l) {
				return
			}
		}
	}
}

func lines(t *testing.T, file string) []string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(raw), "\n")
}

// TestTheReadmeStaysAGuide: the README is what a newcomer reads first, whole; reference material
// belongs in docs/, which it links to.
func TestTheReadmeStaysAGuide(t *testing.T) {
	const limit = 12 << 10
	info, err := os.Stat("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > limit {
		t.Errorf("README.md is %d bytes, more than %d: move reference material to docs/", info.Size(), limit)
	}
}
