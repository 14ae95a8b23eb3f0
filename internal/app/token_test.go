package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/logtest"
	"github.com/verify-proxy/verify-proxy/internal/porttest"
	"github.com/verify-proxy/verify-proxy/internal/token/tokentest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

// The RSA keys the package's tests share: generating one per test would cost more than the test.
var (
	rsaKey      = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	shortRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(1024) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// verifiedNumber is the number every token test verifies; the token carries it with its '+'.
const (
	verifiedNumber = "14155550100"
	verifiedClaim  = "+" + verifiedNumber
)

func TestVerificationTokenFromEachKeyType(t *testing.T) {
	t.Parallel()
	ecKey, edKey := newP256(t), newEd25519(t)
	ecPEM, edPEM, rsaPEM := pkcs8PEM(t, ecKey), pkcs8PEM(t, edKey), pkcs8PEM(t, rsaKey())
	// openssl's traditional formats: `ecparam -genkey` writes the curve's parameters before the key,
	// `genrsa -traditional` writes PKCS#1.
	fileKey := newP256(t)
	sec1, err := x509.MarshalECPrivateKey(fileKey)
	if err != nil {
		t.Fatal(err)
	}
	curve, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}) // prime256v1
	if err != nil {
		t.Fatal(err)
	}
	filePEM := pemText("EC PARAMETERS", curve) + pemText("EC PRIVATE KEY", sec1)
	keyPath := writeFile(t, t.TempDir(), "token.pem", filePEM)
	pkcs1PEM := pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey()))

	tests := []struct {
		name     string
		env      map[string]string
		private  string // the PEM text of the signing key, which must never be logged
		alg      string
		issuer   string
		audience []string
		ttl      time.Duration
	}{
		{"ECDSA P-256 inline (PKCS#8)", map[string]string{"VERIFICATION_TOKEN_KEY": ecPEM},
			ecPEM, "ES256", "verify-proxy", nil, 10 * time.Minute},
		{"Ed25519 inline, with two audiences", map[string]string{"VERIFICATION_TOKEN_KEY": edPEM, "VERIFICATION_TOKEN_AUDIENCE": "a,b"},
			edPEM, "EdDSA", "verify-proxy", []string{"a", "b"}, 10 * time.Minute},
		{"RSA 2048 inline, with an issuer and a ttl", map[string]string{
			"VERIFICATION_TOKEN_KEY": rsaPEM, "VERIFICATION_TOKEN_ISSUER": "https://verify.example.com", "VERIFICATION_TOKEN_TTL": "90s",
		}, rsaPEM, "RS256", "https://verify.example.com", nil, 90 * time.Second},
		{"ECDSA P-256 from a file, as openssl ecparam writes it", map[string]string{"VERIFICATION_TOKEN_KEY_PATH": keyPath},
			filePEM, "ES256", "verify-proxy", nil, 10 * time.Minute},
		{"RSA 2048 PKCS#1 inline on one line with \\n escapes", map[string]string{"VERIFICATION_TOKEN_KEY": strings.ReplaceAll(pkcs1PEM, "\n", `\n`)},
			pkcs1PEM, "RS256", "verify-proxy", nil, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"VERIFY_BACKEND": "sandbox", "LOG_LEVEL": "debug"}
			maps.Copy(env, tt.env)
			base, _, _, out := start(t, env)
			id, tok := sandboxToken(t, base, out)
			set := keySet(t, base)

			kids := publishedKids(t, set)
			header, err := tokentest.Header(tok)
			if err != nil {
				t.Fatal(err)
			}
			if len(kids) != 1 || header["kid"] != kids[0] || header["alg"] != tt.alg || header["typ"] != "JWT" {
				t.Errorf("token header %v, published kids %v; want alg %s and the one published kid", header, kids, tt.alg)
			}
			if alg, _ := out.Find(map[string]string{"msg": "verification tokens are signed"}, "alg"); alg != tt.alg {
				t.Errorf("start-up log names alg %q, want %s:\n%s", alg, tt.alg, out)
			}

			claims, err := tokentest.Verify(set, tok, tokentest.Expect{Issuer: tt.issuer})
			if err != nil {
				t.Fatalf("the token does not verify against the published keys: %v", err)
			}
			if claims.PhoneNumber != verifiedClaim || claims.Subject != verifiedClaim || !claims.PhoneNumberVerified || claims.RequestID != id {
				t.Errorf("claims %+v, want phone_number and sub %s, verified, request_id %s", claims, verifiedClaim, id)
			}
			if lived := claims.ExpiresAt.Sub(claims.IssuedAt.Time); lived != tt.ttl {
				t.Errorf("exp - iat = %s, want %s", lived, tt.ttl)
			}
			for _, aud := range tt.audience {
				if _, err := tokentest.Verify(set, tok, tokentest.Expect{Issuer: tt.issuer, Audience: aud}); err != nil {
					t.Errorf("a backend whose audience is %q refuses the token: %v", aud, err)
				}
			}
			// A backend of another audience, or trusting another issuer, must refuse it.
			if _, err := tokentest.Verify(set, tok, tokentest.Expect{Issuer: tt.issuer, Audience: "c"}); err == nil {
				t.Error("a backend whose audience is \"c\" accepts the token")
			}
			if _, err := tokentest.Verify(set, tok, tokentest.Expect{Issuer: "someone-else"}); err == nil {
				t.Error("a backend that trusts another issuer accepts the token")
			}

			if logged := out.String(); strings.Contains(logged, "ephemeral") {
				t.Errorf("a configured key is reported as ephemeral:\n%s", logged)
			}
			assertNotLogged(t, out, tok, pemBody(tt.private)...)
		})
	}
}

// TestVerificationTokenSurvivesAKeyRotation: a server that signs with a new key and still publishes
// the old one lets the old server's tokens verify, whether the old key is handed over as its public
// or its private key; a key it does not publish signs nothing it vouches for.
func TestVerificationTokenSurvivesAKeyRotation(t *testing.T) {
	t.Parallel()
	keyA, keyC := newP256(t), newP256(t)
	baseA, _, _, outA := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "VERIFICATION_TOKEN_KEY": pkcs8PEM(t, keyA)})
	_, tokA := sandboxToken(t, baseA, outA)
	kidA := publishedKids(t, keySet(t, baseA))[0]
	baseC, _, _, outC := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "VERIFICATION_TOKEN_KEY": pkcs8PEM(t, keyC)})
	_, tokC := sandboxToken(t, baseC, outC)

	publicA, err := x509.MarshalPKIXPublicKey(keyA.Public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		retired string // the PEM file of VERIFICATION_TOKEN_PREVIOUS_KEYS_PATH
	}{
		{"the retired key given as its public key (PKIX)", pemText("PUBLIC KEY", publicA)},
		{"the retired key given as its private key", pkcs8PEM(t, keyA)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			previous := writeFile(t, t.TempDir(), "previous.pem", tt.retired)
			baseB, _, _, outB := start(t, map[string]string{
				"VERIFY_BACKEND": "sandbox", "VERIFICATION_TOKEN_KEY": pkcs8PEM(t, newEd25519(t)),
				"VERIFICATION_TOKEN_PREVIOUS_KEYS_PATH": previous,
			})
			_, tokB := sandboxToken(t, baseB, outB)
			setB := keySet(t, baseB)
			header, err := tokentest.Header(tokB)
			if err != nil {
				t.Fatal(err)
			}
			if kids := publishedKids(t, setB); !slices.Equal(kids, []string{header["kid"].(string), kidA}) {
				t.Errorf("published kids %v, want the new key %v first, then the retired %s", kids, header["kid"], kidA)
			}
			if n, _ := outB.Find(map[string]string{"msg": "verification tokens are signed"}, "previous_keys"); n != "1" {
				t.Errorf("start-up log counts %q previous keys, want 1:\n%s", n, outB)
			}
			for name, tok := range map[string]string{"new": tokB, "retired": tokA} {
				if _, err := tokentest.Verify(setB, tok, tokentest.Expect{Issuer: "verify-proxy"}); err != nil {
					t.Errorf("a token of the %s key does not verify after the rotation: %v", name, err)
				}
			}
			if _, err := tokentest.Verify(setB, tokC, tokentest.Expect{Issuer: "verify-proxy"}); err == nil {
				t.Error("a token signed by a key the server does not publish verifies")
			}
			assertNotLogged(t, outB, tokB, pemBody(tt.retired)...)
		})
	}
}

func TestRunRefusesBadTokenKeys(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384PEM := pkcs8PEM(t, p384)
	p384Public, err := x509.MarshalPKIXPublicKey(p384.Public())
	if err != nil {
		t.Fatal(err)
	}
	shortPEM := pkcs8PEM(t, shortRSAKey())
	noise := make([]byte, 180)
	_, _ = rand.Read(noise)
	garbage := pemText("PRIVATE KEY", noise)
	p256PEM := pkcs8PEM(t, newP256(t))
	dir := t.TempDir()
	p256Path := writeFile(t, dir, "current.pem", p256PEM)
	p384Path := writeFile(t, dir, "previous.pem", pemText("PUBLIC KEY", p384Public))

	tests := []struct {
		name   string
		env    map[string]string
		secret string   // PEM text none of whose lines may be repeated
		want   []string // every string must appear in the error
	}{
		{"an ECDSA P-384 key", map[string]string{"VERIFICATION_TOKEN_KEY": p384PEM}, p384PEM,
			[]string{"VERIFICATION_TOKEN_KEY:", "P-384"}},
		{"an RSA 1024 key", map[string]string{"VERIFICATION_TOKEN_KEY": shortPEM}, shortPEM,
			[]string{"VERIFICATION_TOKEN_KEY:", "1024 bits"}},
		{"PEM-shaped garbage", map[string]string{"VERIFICATION_TOKEN_KEY": garbage}, garbage,
			[]string{"VERIFICATION_TOKEN_KEY:"}},
		{"both the inline key and its file", map[string]string{"VERIFICATION_TOKEN_KEY": p256PEM, "VERIFICATION_TOKEN_KEY_PATH": p256Path}, p256PEM,
			[]string{"VERIFICATION_TOKEN_KEY", "VERIFICATION_TOKEN_KEY_PATH", "not both"}},
		{"a key file that does not exist", map[string]string{"VERIFICATION_TOKEN_KEY_PATH": filepath.Join(dir, "missing.pem")}, "",
			[]string{"VERIFICATION_TOKEN_KEY_PATH:"}},
		{"a previous key on P-384", map[string]string{"VERIFICATION_TOKEN_KEY": p256PEM, "VERIFICATION_TOKEN_PREVIOUS_KEYS_PATH": p384Path},
			p256PEM + pemText("PUBLIC KEY", p384Public), []string{"VERIFICATION_TOKEN_PREVIOUS_KEYS_PATH:", "P-384"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"VERIFY_BACKEND": "sandbox", "ADMIN_ADDR": "off", "PORT": porttest.Free(t)}
			maps.Copy(env, tt.env)
			// A program that wrongly starts serves until the deadline, and then fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out := &logtest.Buffer{}
			err := program(nil).Run(ctx, nil, lookupOf(env), out)
			if err == nil {
				t.Fatalf("run started with a bad key:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			for _, line := range pemBody(tt.secret) {
				if strings.Contains(err.Error(), line) {
					t.Errorf("the error quotes the key: %v", err)
				}
				if strings.Contains(out.String(), line) {
					t.Errorf("the log quotes the key:\n%s", out)
				}
			}
		})
	}
}

// TestSandboxWithoutAKeySignsWithAnEphemeralKey: `make run` shows the whole flow with nothing to
// configure, and says once that its tokens die with the process.
func TestSandboxWithoutAKeySignsWithAnEphemeralKey(t *testing.T) {
	t.Parallel()
	base, _, _, out := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "LOG_LEVEL": "debug"})
	_, tok := sandboxToken(t, base, out)
	set := keySet(t, base)
	claims, err := tokentest.Verify(set, tok, tokentest.Expect{Issuer: "verify-proxy"})
	if err != nil {
		t.Fatalf("the token does not verify against the published keys: %v", err)
	}
	if claims.PhoneNumber != verifiedClaim {
		t.Errorf("phone_number %q, want %s", claims.PhoneNumber, verifiedClaim)
	}
	if kids := publishedKids(t, set); len(kids) != 1 {
		t.Errorf("published kids %v, want the ephemeral key alone", kids)
	}
	warnings := logRecords(t, out, func(r map[string]any) bool {
		msg, _ := r["msg"].(string)
		return r["level"] == "WARN" && strings.Contains(msg, "ephemeral")
	})
	if len(warnings) != 1 {
		t.Errorf("%d warnings about the ephemeral key, want 1:\n%s", len(warnings), out)
	}
	assertNotLogged(t, out, tok, "PRIVATE KEY")
}

// TestVonageWithoutAKeyIssuesNoToken: against Vonage, a server without a key signs nothing, and
// says so once at start rather than on every check. The code is fixed so that the log can be
// searched for it: unlike the sandbox, nothing here has a reason to log it.
func TestVonageWithoutAKeyIssuesNoToken(t *testing.T) {
	t.Parallel()
	const code = "918273"
	fake := v1test.NewServer(t)
	fake.SetCode(code)
	base, _, _, out := start(t, map[string]string{
		"VONAGE_API_KEY": v1test.APIKey, "VONAGE_API_SECRET": v1test.APISecret, "VERIFY_BRAND": "Acme",
		"VONAGE_BASE_URL": fake.URL(), "VERIFY_CODE_LENGTH": "6", "LOG_LEVEL": "debug",
	})
	id := startVerification(t, base)
	body := checkRightCode(t, base, id, code)
	if tok, ok := body["verification_token"]; ok {
		t.Errorf("the check answers verification_token %s without a key", tok)
	}
	if set := keySet(t, base); string(set) != `{"keys":[]}` {
		t.Errorf("key set %s, want {\"keys\":[]}", set)
	}

	records := logRecords(t, out, func(map[string]any) bool { return true })
	listening := slices.IndexFunc(records, func(r map[string]any) bool { return r["msg"] == "verify-proxy listening" })
	var said []int
	for i, r := range records {
		if msg, _ := r["msg"].(string); strings.Contains(msg, "verification_token") {
			said = append(said, i)
		}
	}
	if len(said) != 1 || said[0] > listening || records[said[0]]["level"] != "WARN" {
		t.Errorf("the log should warn once, before listening, that no verification_token is issued:\n%s", out)
	}
	assertNotLogged(t, out, code, v1test.APISecret)
}

// sandboxToken verifies verifiedNumber on the sandbox, reading the code from the log as a developer
// does, and returns the verification's request_id and the token its check answered.
func sandboxToken(t *testing.T, base string, out *logtest.Buffer) (requestID, tok string) {
	t.Helper()
	id := startVerification(t, base)
	code, ok := out.Find(map[string]string{"msg": "sandbox verification code", "request_id": id}, "code")
	if !ok {
		t.Fatalf("no code logged for %s:\n%s", id, out)
	}
	raw, ok := checkRightCode(t, base, id, code)["verification_token"]
	if !ok {
		t.Fatal("the check answers no verification_token")
	}
	if err := json.Unmarshal(raw, &tok); err != nil || tok == "" {
		t.Fatalf("verification_token %s is not a string: %v", raw, err)
	}
	return id, tok
}

// startVerification starts a verification of verifiedNumber, written as people write it.
func startVerification(t *testing.T, base string) string {
	t.Helper()
	status, body := postJSON(t, base, "/request", `{"number":"+1 415 555 0100"}`)
	var started struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &started); status != http.StatusOK || err != nil || started.RequestID == "" {
		t.Fatalf("request: %d %s", status, body)
	}
	return started.RequestID
}

// checkRightCode posts the right code and returns the 200 answer's members, so that a test can tell an
// absent member from an empty one.
func checkRightCode(t *testing.T, base, requestID, code string) map[string]json.RawMessage {
	t.Helper()
	status, body := postJSON(t, base, "/check", checkBody(t, requestID, code))
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &members); status != http.StatusOK || err != nil {
		t.Fatalf("check: %d %s", status, body)
	}
	return members
}

// keySet fetches the published JWKS as a backend does, compacted.
func keySet(t *testing.T, base string) []byte {
	t.Helper()
	res, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("jwks: %d %s %v", res.StatusCode, body, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatalf("jwks is not JSON: %v\n%s", err, body)
	}
	return compact.Bytes()
}

// publishedKids are the kids of set in order. It fails the test if a key carries a private part.
func publishedKids(t *testing.T, set []byte) []string {
	t.Helper()
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(set, &jwks); err != nil {
		t.Fatalf("jwks %s: %v", set, err)
	}
	kids := make([]string, len(jwks.Keys))
	for i, k := range jwks.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("the published key %d holds the private member %q", i, private)
			}
		}
		kids[i], _ = k["kid"].(string)
	}
	return kids
}

// logRecords are the JSON records of out that keep accepts, in order.
func logRecords(t *testing.T, out *logtest.Buffer, keep func(map[string]any) bool) []map[string]any {
	t.Helper()
	var records []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("a log line is not JSON: %s", sc.Bytes())
		}
		if keep(r) {
			records = append(records, r)
		}
	}
	return records
}

// assertNotLogged fails t if out holds tok (or its signature alone) or any of secrets.
func assertNotLogged(t *testing.T, out *logtest.Buffer, tok string, secrets ...string) {
	t.Helper()
	private := append([]string{tok}, secrets...)
	if i := strings.LastIndexByte(tok, '.'); i >= 0 {
		private = append(private, tok[i+1:])
	}
	for _, p := range private {
		if out.Holds(p) {
			t.Errorf("the log holds %q:\n%s", p, out)
		}
	}
}

// pemBody is the base64 lines of the PEM text, the part of a key that must never be repeated.
func pemBody(text string) []string {
	var lines []string
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "-----") {
			lines = append(lines, line)
		}
	}
	return lines
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pkcs8PEM is key as `openssl genpkey` writes it.
func pkcs8PEM(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemText("PRIVATE KEY", der)
}

func pemText(blockType string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}))
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
