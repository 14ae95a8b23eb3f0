package token_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/token"
)

// RSA keys are slow to generate, the more so under -race: each is made once per test binary and only
// read after, so parallel tests may share them.
var (
	rsaKey      = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	otherRSAKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	shortRSAKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 1024) })
)

// keyFixture is a signing key as an operator configures it.
type keyFixture struct {
	name    string
	pem     []byte
	signer  crypto.Signer
	alg     string
	secrets [][]byte // the private parts, which must never leave the package
}

// signingKeys is one fixture per accepted key type and PEM format. Only the RSA key is shared.
func signingKeys(t *testing.T) []keyFixture {
	t.Helper()
	ec := newP256(t)
	ed := newEd25519(t)
	rs := get(t, rsaKey)
	return []keyFixture{
		{"ECDSA P-256 PKCS#8", pkcs8PEM(t, ec), ec, "ES256", secretsOf(t, ec)},
		{"ECDSA P-256 SEC 1", sec1PEM(t, ec), ec, "ES256", secretsOf(t, ec)},
		{"ECDSA P-256 SEC 1 after EC PARAMETERS", append(ecParamsPEM(t), sec1PEM(t, ec)...), ec, "ES256", secretsOf(t, ec)},
		{"Ed25519 PKCS#8", pkcs8PEM(t, ed), ed, "EdDSA", secretsOf(t, ed)},
		{"RSA 2048 PKCS#8", pkcs8PEM(t, rs), rs, "RS256", secretsOf(t, rs)},
		{"RSA 2048 PKCS#1", pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rs)), rs, "RS256", secretsOf(t, rs)},
	}
}

func get[T any](t *testing.T, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	return get(t, func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
}

func newP384(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	return get(t, func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) })
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newX25519(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	return get(t, func() (*ecdh.PrivateKey, error) { return ecdh.X25519().GenerateKey(rand.Reader) })
}

func pemText(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemText("PRIVATE KEY", der)
}

func pkixPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemText("PUBLIC KEY", der)
}

func sec1PEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemText("EC PRIVATE KEY", der)
}

// ecParamsPEM is the block `openssl ecparam -genkey -name prime256v1` writes before the key: the
// curve's OID.
func ecParamsPEM(t *testing.T) []byte {
	t.Helper()
	der, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	if err != nil {
		t.Fatal(err)
	}
	return pemText("EC PARAMETERS", der)
}

// certPEM is a self-signed certificate for key.
func certPEM(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "verify-proxy token key"},
		NotBefore:    time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2027, time.January, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pemText("CERTIFICATE", der)
}

// secretsOf is every private part of key, as raw bytes.
func secretsOf(t *testing.T, key any) [][]byte {
	t.Helper()
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return [][]byte{get(t, k.Bytes)}
	case ed25519.PrivateKey:
		return [][]byte{k.Seed()} // the other half of k is the public key
	case *rsa.PrivateKey:
		return [][]byte{k.D.Bytes(), k.Primes[0].Bytes(), k.Primes[1].Bytes(),
			k.Precomputed.Dp.Bytes(), k.Precomputed.Dq.Bytes(), k.Precomputed.Qinv.Bytes()}
	case *ecdh.PrivateKey:
		return [][]byte{k.Bytes()}
	}
	t.Fatalf("no secrets known for %T", key)
	return nil
}

// wantThumbprint is pub's RFC 7638 thumbprint, computed without go-jose: the required members in
// lexicographic order, no whitespace, SHA-256, base64url without padding.
func wantThumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	var canonical string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		point := get(t, k.Bytes) // 0x04 || x || y, each the curve's full length as RFC 7518 requires
		size := (len(point) - 1) / 2
		canonical = `{"crv":"` + k.Curve.Params().Name + `","kty":"EC","x":"` + b64(point[1:1+size]) + `","y":"` + b64(point[1+size:]) + `"}`
	case ed25519.PublicKey:
		canonical = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(k) + `"}`
	case *rsa.PublicKey:
		canonical = `{"e":"` + b64(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`
	default:
		t.Fatalf("no thumbprint for %T", pub)
	}
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

// assertNoKeyMaterial fails when text repeats a stretch of any PEM body in pemBytes, or of its DER or
// a secret in any encoding a careless message or marshaller might use. A stretch is long enough that a match
// by chance is out of the question.
func assertNoKeyMaterial(t *testing.T, text string, pemBytes []byte, secrets ...[]byte) {
	t.Helper()
	const stretch = 16
	var encoded []string
	var body strings.Builder
	for line := range strings.Lines(string(pemBytes)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "-----") && !strings.Contains(line, ":") {
			body.WriteString(line)
		}
	}
	encoded = append(encoded, body.String())
	for rest := pemBytes; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		secrets = append(secrets, block.Bytes) // the DER, which a message might print in hex
	}
	for _, s := range secrets {
		for _, b := range [][]byte{s, bytes.TrimLeft(s, "\x00")} {
			encoded = append(encoded,
				string(b),
				hex.EncodeToString(b),
				strings.ToUpper(hex.EncodeToString(b)),
				base64.StdEncoding.EncodeToString(b),
				base64.RawStdEncoding.EncodeToString(b),
				base64.URLEncoding.EncodeToString(b),
				base64.RawURLEncoding.EncodeToString(b),
				new(big.Int).SetBytes(b).String(),
			)
		}
	}
	for _, e := range encoded {
		for i := 0; i+stretch <= len(e); i++ {
			if strings.Contains(text, e[i:i+stretch]) {
				t.Fatalf("%q repeats key material %q", text, e[i:i+stretch])
			}
		}
	}
}

func TestParsePrivateKeyReadsEachFormat(t *testing.T) {
	t.Parallel()
	type test struct {
		name string
		pem  []byte
		want crypto.Signer
	}
	var tests []test
	for _, k := range signingKeys(t) {
		tests = append(tests, test{k.name, k.pem, k.signer})
	}
	ec := newP256(t)
	tests = append(tests,
		test{"a key followed by its certificate", append(pkcs8PEM(t, ec), certPEM(t, ec)...), ec},
		test{"a key after a public key", append(pkixPEM(t, newP256(t).Public()), pkcs8PEM(t, ec)...), ec},
		test{"a key with CRLF line ends", bytes.ReplaceAll(pkcs8PEM(t, ec), []byte("\n"), []byte("\r\n")), ec},
		test{"a key after the bag attributes openssl pkcs12 writes",
			append([]byte("Bag Attributes\n    localKeyID: 01 00 00 00\nKey Attributes: <No Attributes>\n"), pkcs8PEM(t, ec)...), ec},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := token.ParsePrivateKey(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			if !got.(interface{ Equal(crypto.PrivateKey) bool }).Equal(tt.want) {
				t.Error("parsed a different key")
			}
		})
	}
}

func TestParsePrivateKeyRefuses(t *testing.T) {
	t.Parallel()
	p384 := newP384(t)
	short := get(t, shortRSAKey)
	x25519 := newX25519(t)
	first, second := newP256(t), newEd25519(t)
	ecDER, err := x509.MarshalPKCS8PrivateKey(first)
	if err != nil {
		t.Fatal(err)
	}
	encrypted := make([]byte, 200)
	if _, err := rand.Read(encrypted); err != nil {
		t.Fatal(err)
	}
	corruptBase64 := pkcs8PEM(t, first)
	corruptBase64[len("-----BEGIN PRIVATE KEY-----\n")+10] = '*'

	tests := []struct {
		name    string
		pem     []byte
		want    string // what the message must name
		secrets [][]byte
	}{
		{"an ECDSA key on P-384", pkcs8PEM(t, p384), "P-384", secretsOf(t, p384)},
		{"an ECDSA key on P-384 in SEC 1", sec1PEM(t, p384), "P-384", secretsOf(t, p384)},
		{"an RSA key of 1024 bits", pkcs8PEM(t, short), "1024 bits", secretsOf(t, short)},
		{"an RSA key of 1024 bits in PKCS#1", pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(short)), "1024 bits", secretsOf(t, short)},
		{"an X25519 key, which agrees on keys and cannot sign", pkcs8PEM(t, x25519), "cannot sign", secretsOf(t, x25519)},
		{"an encrypted key", pemText("ENCRYPTED PRIVATE KEY", encrypted), "encrypted", [][]byte{encrypted}},
		{"text that is not PEM", []byte("MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg"), "not PEM", nil},
		{"an empty input", nil, "no private key", nil},
		{"only a public key", pkixPEM(t, first.Public()), "no private key", nil},
		{"only a certificate", certPEM(t, first), "no private key", nil},
		{"two private keys", append(pkcs8PEM(t, first), pkcs8PEM(t, second)...), "2 private keys", append(secretsOf(t, first), secretsOf(t, second)...)},
		{"a body that is not base64", corruptBase64, "does not decode", secretsOf(t, first)},
		{"a body cut short", pemText("PRIVATE KEY", ecDER[:len(ecDER)/2]), "PEM block 1 (PRIVATE KEY)", secretsOf(t, first)},
		{"a body that is not a key", pemText("PRIVATE KEY", []byte("not a key at all")), "PEM block 1 (PRIVATE KEY): not a PKCS#8 private key", nil},
		{"an EC key labelled as PKCS#1 RSA", pemText("RSA PRIVATE KEY", ecDER), "PEM block 1 (RSA PRIVATE KEY): not a PKCS#1 RSA private key", secretsOf(t, first)},
		{"an encrypted key in the old PEM form", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"},
			Bytes:   encrypted}), "encrypted", [][]byte{encrypted}},
		{"an OpenSSH key", pemText("OPENSSH PRIVATE KEY", encrypted), "OpenSSH", [][]byte{encrypted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := token.ParsePrivateKey(tt.pem)
			if err == nil {
				t.Fatalf("accepted a %T", key)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			assertNoKeyMaterial(t, err.Error(), tt.pem, tt.secrets...)
		})
	}
}

func TestParsePublicKeysReadsEachFormat(t *testing.T) {
	t.Parallel()
	ec, ed, rs := newP256(t), newEd25519(t), get(t, rsaKey)
	type test struct {
		name string
		pem  []byte
		want []crypto.PublicKey
	}
	tests := []test{
		{"an ECDSA P-256 public key", pkixPEM(t, ec.Public()), []crypto.PublicKey{ec.Public()}},
		{"an Ed25519 public key", pkixPEM(t, ed.Public()), []crypto.PublicKey{ed.Public()}},
		{"an RSA public key", pkixPEM(t, rs.Public()), []crypto.PublicKey{rs.Public()}},
		{"a PKCS#1 RSA public key", pemText("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rs.PublicKey)), []crypto.PublicKey{rs.Public()}},
		{"an ECDSA P-256 certificate", certPEM(t, ec), []crypto.PublicKey{ec.Public()}},
		{"an Ed25519 certificate", certPEM(t, ed), []crypto.PublicKey{ed.Public()}},
		{"an RSA certificate", certPEM(t, rs), []crypto.PublicKey{rs.Public()}},
		{"several keys, in order",
			bytes.Join([][]byte{pkixPEM(t, ec.Public()), pkcs8PEM(t, ed), certPEM(t, rs)}, nil),
			[]crypto.PublicKey{ec.Public(), ed.Public(), rs.Public()}},
	}
	for _, k := range signingKeys(t) {
		tests = append(tests, test{"the private key " + k.name, k.pem, []crypto.PublicKey{k.signer.Public()}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := token.ParsePublicKeys(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tt.want))
			}
			for i, pub := range got {
				if _, private := pub.(crypto.Signer); private {
					t.Errorf("key %d is a private %T", i+1, pub)
				}
				if !tt.want[i].(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
					t.Errorf("key %d is a different %T", i+1, pub)
				}
			}
		})
	}
}

func TestParsePublicKeysRefuses(t *testing.T) {
	t.Parallel()
	p384 := newP384(t)
	short := get(t, shortRSAKey)
	x25519 := newX25519(t)
	good := newP256(t)
	corrupt := pkixPEM(t, newEd25519(t).Public())
	corrupt[len("-----BEGIN PUBLIC KEY-----\n")+10] = '*'

	tests := []struct {
		name    string
		pem     []byte
		want    string
		secrets [][]byte
	}{
		{"an ECDSA P-384 public key", pkixPEM(t, p384.Public()), "P-384", nil},
		{"an ECDSA P-384 certificate", certPEM(t, p384), "P-384", nil},
		{"an ECDSA P-384 private key", pkcs8PEM(t, p384), "P-384", secretsOf(t, p384)},
		{"an RSA public key of 1024 bits", pkixPEM(t, short.Public()), "1024 bits", nil},
		{"a PKCS#1 RSA public key of 1024 bits", pemText("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&short.PublicKey)), "1024 bits", nil},
		{"an RSA private key of 1024 bits", pkcs8PEM(t, short), "1024 bits", secretsOf(t, short)},
		{"an X25519 public key", pkixPEM(t, x25519.Public()), "cannot sign", nil},
		{"an X25519 private key", pkcs8PEM(t, x25519), "cannot sign", secretsOf(t, x25519)},
		{"a bad key after a good one", append(pkixPEM(t, good.Public()), pkixPEM(t, p384.Public())...), "key 2", nil},
		{"an encrypted key", pemText("ENCRYPTED PRIVATE KEY", []byte("ciphertext")), "encrypted", nil},
		{"an empty input", nil, "no key", nil},
		{"only EC PARAMETERS", ecParamsPEM(t), "no key", nil},
		{"text that is not PEM", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG"), "not PEM", nil},
		{"a block that does not decode, among good ones", bytes.Join([][]byte{pkixPEM(t, good.Public()), corrupt, pkcs8PEM(t, good)}, nil), "does not decode", secretsOf(t, good)},
		{"a body that is not a key", pemText("PUBLIC KEY", []byte("not a key at all")), "PEM block 1 (PUBLIC KEY)", nil},
		{"a certificate body that is not a certificate", append(pkixPEM(t, good.Public()), pemText("CERTIFICATE", []byte("not a certificate at all"))...), "PEM block 2 (CERTIFICATE)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := token.ParsePublicKeys(tt.pem)
			if err == nil {
				t.Fatalf("accepted %d keys", len(keys))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			assertNoKeyMaterial(t, err.Error(), tt.pem, tt.secrets...)
		})
	}
}

func TestGenerateMakesAP256KeyThatSigns(t *testing.T) {
	t.Parallel()
	key, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("generated a %T, want an ECDSA P-256 key", key)
	}
	again, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if ec.Equal(again) {
		t.Error("two calls generated the same key")
	}
	iss := newIssuer(t, key)
	if iss.Algorithm() != "ES256" {
		t.Errorf("algorithm %q, want ES256", iss.Algorithm())
	}
	verify(t, iss.KeySet(), issue(t, iss, subject()))
}
