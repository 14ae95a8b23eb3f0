package token_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/verify-proxy/verify-proxy/internal/token"
	"github.com/verify-proxy/verify-proxy/internal/token/tokentest"
)

const (
	issuerURL = "https://verify.example.com"
	ttl       = 10 * time.Minute
	number    = "447700900123"
	requestID = "c5d1a2b4-0000-4000-8000-000000000001"
)

// issuedAt is the fixed clock every Issuer in these tests reads.
func issuedAt() time.Time { return time.Date(2026, time.December, 4, 16, 30, 0, 0, time.UTC) }

func options(audience ...string) token.Options {
	return token.Options{Issuer: issuerURL, Audience: audience, TTL: ttl, Now: issuedAt}
}

func subject() token.Subject { return token.Subject{Number: number, RequestID: requestID} }

// expect is what a backend requires, at the moment the token was issued.
func expect() tokentest.Expect { return tokentest.Expect{Issuer: issuerURL, Now: issuedAt} }

func newIssuer(t *testing.T, current crypto.Signer, previous ...crypto.PublicKey) *token.Issuer {
	t.Helper()
	return newIssuerWith(t, options(), current, previous...)
}

func newIssuerWith(t *testing.T, opts token.Options, current crypto.Signer, previous ...crypto.PublicKey) *token.Issuer {
	t.Helper()
	iss, err := token.New(current, previous, opts)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func issue(t *testing.T, iss *token.Issuer, s token.Subject) string {
	t.Helper()
	tok, err := iss.Issue(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func verify(t *testing.T, keySet []byte, tok string) *tokentest.Claims {
	t.Helper()
	c, err := tokentest.Verify(keySet, tok, expect())
	if err != nil {
		t.Fatalf("a backend refuses the token: %v", err)
	}
	return c
}

// payloadOf is the token's claims as raw JSON members, numbers kept exact.
func payloadOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var claims map[string]any
	if err := d.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// jwksOf is the published key set, each key as its raw JSON members.
func jwksOf(t *testing.T, iss *token.Issuer) []map[string]any {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(iss.KeySet(), &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

func kidsOf(t *testing.T, iss *token.Issuer) []string {
	t.Helper()
	var kids []string
	for _, k := range jwksOf(t, iss) {
		kid, _ := k["kid"].(string)
		kids = append(kids, kid)
	}
	return kids
}

func TestIssuedTokenVerifiesWithEachKeyType(t *testing.T) {
	t.Parallel()
	for _, k := range signingKeys(t) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			key, err := token.ParsePrivateKey(k.pem)
			if err != nil {
				t.Fatal(err)
			}
			iss := newIssuer(t, key)
			tok := issue(t, iss, subject())
			verify(t, iss.KeySet(), tok)

			kid := wantThumbprint(t, k.signer.Public())
			header, err := tokentest.Header(tok)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"alg": k.alg, "typ": "JWT", "kid": kid}
			if !maps.Equal(header, want) {
				t.Errorf("header %v, want %v", header, want)
			}
			if iss.KeyID() != kid || iss.Algorithm() != k.alg {
				t.Errorf("KeyID %q Algorithm %q, want %q %q", iss.KeyID(), iss.Algorithm(), kid, k.alg)
			}
			jwks := jwksOf(t, iss)
			if len(jwks) != 1 || jwks[0]["kid"] != kid || jwks[0]["alg"] != k.alg || jwks[0]["use"] != "sig" {
				t.Errorf("key set %s, want the one key with kid %s, alg %s, use sig", iss.KeySet(), kid, k.alg)
			}
		})
	}
}

func TestKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	t.Parallel()
	// RFC 7638 section 3.1: the example key and its thumbprint.
	const (
		n    = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
		e    = "AQAB"
		want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	)
	nBytes, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	eBytes, err := base64.RawURLEncoding.DecodeString(e)
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nBytes), E: int(new(big.Int).SetBytes(eBytes).Int64())}
	if got := wantThumbprint(t, pub); got != want {
		t.Fatalf("the test's own thumbprint is %s, want %s", got, want)
	}

	iss := newIssuer(t, newP256(t), pub)
	jwks := jwksOf(t, iss)
	if len(jwks) != 2 {
		t.Fatalf("key set %s, want the current key and the RFC's", iss.KeySet())
	}
	if got := jwks[1]; got["kid"] != want || got["n"] != n || got["e"] != e || got["kty"] != "RSA" {
		t.Errorf("published %v, want kid %s with the RFC's n and e", got, want)
	}
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		audience []string
		wantAud  any // the raw aud member; nil: absent
	}{
		{"no audience leaves aud out", nil, nil},
		{"an empty audience list leaves aud out", []string{}, nil},
		{"one audience is a string", []string{"app-backend"}, "app-backend"},
		{"several audiences are an array", []string{"app-backend", "admin"}, []any{"app-backend", "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := newIssuerWith(t, options(tt.audience...), newP256(t))
			tok := issue(t, iss, subject())
			claims := payloadOf(t, tok)

			members := []string{"iss", "sub", "iat", "nbf", "exp", "jti", "phone_number", "phone_number_verified", "request_id"}
			if tt.wantAud != nil {
				members = append(members, "aud")
			}
			if got := slices.Sorted(maps.Keys(claims)); !slices.Equal(got, slices.Sorted(slices.Values(members))) {
				t.Errorf("claims %v, want exactly %v", got, members)
			}
			if aud, ok := claims["aud"]; tt.wantAud == nil && ok {
				t.Errorf("aud %v, want none", aud)
			} else if tt.wantAud != nil && !jsonEqual(t, aud, tt.wantAud) {
				t.Errorf("aud %#v, want %#v", aud, tt.wantAud)
			}
			for name, want := range map[string]any{
				"iss":                   issuerURL,
				"sub":                   "+" + number,
				"phone_number":          "+" + number,
				"phone_number_verified": true,
				"request_id":            requestID,
			} {
				if claims[name] != want {
					t.Errorf("%s %#v, want %#v", name, claims[name], want)
				}
			}
			iat, nbf, exp := numericDate(t, claims["iat"]), numericDate(t, claims["nbf"]), numericDate(t, claims["exp"])
			if now := issuedAt().Unix(); iat != now || nbf != now {
				t.Errorf("iat %d nbf %d, want both %d", iat, nbf, now)
			}
			if want := iat + int64(ttl/time.Second); exp != want {
				t.Errorf("exp %d, want iat + ttl = %d", exp, want)
			}
			jti, _ := claims["jti"].(string)
			if raw, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(raw) != 16 {
				t.Errorf("jti %q, want 16 random bytes in base64url", jti)
			}

			c := verify(t, iss.KeySet(), tok)
			if c.Subject != "+"+number || c.PhoneNumber != "+"+number || !c.PhoneNumberVerified || c.RequestID != requestID || c.TestNumber {
				t.Errorf("a backend reads %+v", c)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

func numericDate(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%#v is not a number", v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%s is not whole seconds: %v", n, err)
	}
	return i
}

func TestIssuedAtIsWholeSeconds(t *testing.T) {
	t.Parallel()
	opts := options()
	opts.Now = func() time.Time { return issuedAt().Add(999 * time.Millisecond) }
	claims := payloadOf(t, issue(t, newIssuerWith(t, opts, newP256(t)), subject()))
	if iat := numericDate(t, claims["iat"]); iat != issuedAt().Unix() {
		t.Errorf("iat %d, want %d", iat, issuedAt().Unix())
	}
}

func TestTestNumberClaimOnlyForTestNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		test bool
	}{
		{"a test number says so", true},
		{"a real number has no test_number claim", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := newIssuer(t, newP256(t))
			tok := issue(t, iss, token.Subject{Number: number, RequestID: requestID, Test: tt.test})
			got, present := payloadOf(t, tok)["test_number"]
			if tt.test && got != true {
				t.Errorf("test_number %#v, want true", got)
			}
			if !tt.test && present {
				t.Errorf("test_number %#v, want it absent", got)
			}
			if c := verify(t, iss.KeySet(), tok); c.TestNumber != tt.test {
				t.Errorf("a backend reads test_number %v", c.TestNumber)
			}
		})
	}
}

func TestBackendChecksAudience(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		audience []string
		backend  string
		wantErr  error // nil: accepted
	}{
		{"the one audience is accepted", []string{"app-backend"}, "app-backend", nil},
		{"the first of several is accepted", []string{"app-backend", "admin"}, "app-backend", nil},
		{"the second of several is accepted", []string{"app-backend", "admin"}, "admin", nil},
		{"another audience is refused", []string{"app-backend"}, "someone-else", jwt.ErrTokenInvalidAudience},
		{"another audience is refused among several", []string{"app-backend", "admin"}, "someone-else", jwt.ErrTokenInvalidAudience},
		{"a backend that wants an audience refuses a token without one", nil, "app-backend", jwt.ErrTokenRequiredClaimMissing},
		{"a backend without an audience accepts a token with one", []string{"app-backend"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := newIssuerWith(t, options(tt.audience...), newP256(t))
			want := expect()
			want.Audience = tt.backend
			_, err := tokentest.Verify(iss.KeySet(), issue(t, iss, subject()), want)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestTokenIDsAreUnique(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t, newP256(t))
	const workers, each = 8, 100
	tokens := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { // the Issuer is shared, as the server shares it between requests
			for range each {
				tok, err := iss.Issue(subject())
				if err != nil {
					t.Error(err)
					return
				}
				tokens <- tok
			}
		})
	}
	wg.Wait()
	close(tokens)
	seen := map[string]bool{}
	for tok := range tokens {
		id, _ := payloadOf(t, tok)["jti"].(string)
		if seen[id] {
			t.Fatalf("jti %q issued twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d tokens, want %d", len(seen), workers*each)
	}
}

func TestBackendChecksTimeAndIssuer(t *testing.T) {
	t.Parallel()
	exp := issuedAt().Add(ttl)
	tests := []struct {
		name    string
		now     time.Time
		issuer  string
		wantErr error // nil: accepted
	}{
		{"accepted when issued", issuedAt(), issuerURL, nil},
		{"accepted a second before exp", exp.Add(-time.Second), issuerURL, nil},
		{"refused at exp", exp, issuerURL, jwt.ErrTokenExpired},
		{"refused a second after exp", exp.Add(time.Second), issuerURL, jwt.ErrTokenExpired},
		{"refused before nbf", issuedAt().Add(-time.Second), issuerURL, jwt.ErrTokenNotValidYet},
		{"refused by a backend expecting another issuer", issuedAt(), "https://other.example.com", jwt.ErrTokenInvalidIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := newIssuer(t, newP256(t))
			tok := issue(t, iss, subject())
			_, err := tokentest.Verify(iss.KeySet(), tok, tokentest.Expect{Issuer: tt.issuer, Now: func() time.Time { return tt.now }})
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestBackendRefusesForgedTokens(t *testing.T) {
	t.Parallel()
	type forgery struct {
		name    string
		forge   func(t *testing.T, tok string, genuine *token.Issuer, other crypto.Signer) string
		wantErr error // nil: any refusal
	}
	forgeries := []forgery{
		{"signed by a key not in the key set", func(t *testing.T, _ string, _ *token.Issuer, other crypto.Signer) string {
			return issue(t, newIssuer(t, other), subject())
		}, nil},
		{"signed by another key under the published kid", func(t *testing.T, tok string, genuine *token.Issuer, other crypto.Signer) string {
			signer, err := jose.NewSigner(
				jose.SigningKey{Algorithm: jose.SignatureAlgorithm(genuine.Algorithm()), Key: jose.JSONWebKey{Key: other, KeyID: genuine.KeyID()}},
				(&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				t.Fatal(err)
			}
			jws, err := signer.Sign(segment(t, tok, 1))
			if err != nil {
				t.Fatal(err)
			}
			forged, err := jws.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			return forged
		}, jwt.ErrTokenSignatureInvalid},
		{"another number in the payload", func(t *testing.T, tok string, _ *token.Issuer, _ crypto.Signer) string {
			claims := payloadOf(t, tok)
			claims["sub"], claims["phone_number"] = "+15550100000", "+15550100000"
			return withSegment(t, tok, 1, claims)
		}, jwt.ErrTokenSignatureInvalid},
		{"a later exp in the payload", func(t *testing.T, tok string, _ *token.Issuer, _ crypto.Signer) string {
			claims := payloadOf(t, tok)
			claims["exp"] = json.Number("4102444800")
			return withSegment(t, tok, 1, claims)
		}, jwt.ErrTokenSignatureInvalid},
		{"a signature with one byte changed", func(t *testing.T, tok string, _ *token.Issuer, _ crypto.Signer) string {
			sig := segment(t, tok, 2)
			sig[len(sig)/2] ^= 1
			parts := strings.Split(tok, ".")
			return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		}, jwt.ErrTokenSignatureInvalid},
		{"alg none and no signature", func(t *testing.T, tok string, genuine *token.Issuer, _ crypto.Signer) string {
			header := map[string]any{"alg": "none", "typ": "JWT", "kid": genuine.KeyID()}
			parts := strings.Split(withSegment(t, tok, 0, header), ".")
			return parts[0] + "." + parts[1] + "."
		}, nil},
	}
	keys := []struct {
		name         string
		key, another crypto.Signer
	}{
		{"ES256", newP256(t), newP256(t)},
		{"EdDSA", newEd25519(t), newEd25519(t)},
		{"RS256", get(t, rsaKey), get(t, otherRSAKey)},
	}
	for _, k := range keys {
		for _, f := range forgeries {
			t.Run(k.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				genuine := newIssuer(t, k.key)
				tok := issue(t, genuine, subject())
				forged := f.forge(t, tok, genuine, k.another)
				if forged == tok {
					t.Fatal("the forgery changed nothing")
				}
				_, err := tokentest.Verify(genuine.KeySet(), forged, expect())
				if err == nil || (f.wantErr != nil && !errors.Is(err, f.wantErr)) {
					t.Errorf("err %v, want a refusal (%v)", err, f.wantErr)
				}
			})
		}
	}
}

// segment is the decoded i-th part of a compact JWS.
func segment(t *testing.T, tok string, i int) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withSegment is tok with its i-th part replaced by v as JSON, the signature kept.
func withSegment(t *testing.T, tok string, i int, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	parts[i] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestRotationKeepsOldTokensVerifying(t *testing.T) {
	t.Parallel()
	type rotation struct {
		name     string
		previous func(t *testing.T, old keyFixture) []crypto.PublicKey
	}
	rotations := []rotation{
		{"the old public key", func(_ *testing.T, old keyFixture) []crypto.PublicKey {
			return []crypto.PublicKey{old.signer.Public()}
		}},
		{"the old private key read by ParsePublicKeys", func(t *testing.T, old keyFixture) []crypto.PublicKey {
			return get(t, func() ([]crypto.PublicKey, error) { return token.ParsePublicKeys(old.pem) })
		}},
	}
	for _, old := range signingKeys(t) {
		for _, r := range rotations {
			t.Run(old.name+"/"+r.name, func(t *testing.T) {
				t.Parallel()
				before := newIssuer(t, old.signer)
				oldToken := issue(t, before, subject())

				current := newP256(t)
				after := newIssuer(t, current, r.previous(t, old)...)
				want := []string{wantThumbprint(t, current.Public()), wantThumbprint(t, old.signer.Public())}
				if got := kidsOf(t, after); !slices.Equal(got, want) {
					t.Errorf("published kids %v, want the current key first then the old: %v", got, want)
				}
				verify(t, after.KeySet(), oldToken)
				verify(t, after.KeySet(), issue(t, after, subject()))
				if after.KeyID() != want[0] {
					t.Errorf("signs with kid %s, want the current key's %s", after.KeyID(), want[0])
				}
			})
		}
	}
}

func TestKeySetPublishesEachKeyOnce(t *testing.T) {
	t.Parallel()
	current, old := newP256(t), newEd25519(t)
	currentPEM := pkcs8PEM(t, current)
	tests := []struct {
		name     string
		previous func(t *testing.T) []crypto.PublicKey
		want     []string
	}{
		{"the current key also given as previous", func(*testing.T) []crypto.PublicKey {
			return []crypto.PublicKey{current.Public()}
		}, []string{wantThumbprint(t, current.Public())}},
		{"the current key's PEM also given as previous", func(t *testing.T) []crypto.PublicKey {
			return get(t, func() ([]crypto.PublicKey, error) { return token.ParsePublicKeys(currentPEM) })
		}, []string{wantThumbprint(t, current.Public())}},
		{"a previous key given twice", func(*testing.T) []crypto.PublicKey {
			return []crypto.PublicKey{old.Public(), current.Public(), old.Public()}
		}, []string{wantThumbprint(t, current.Public()), wantThumbprint(t, old.Public())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := kidsOf(t, newIssuer(t, current, tt.previous(t)...)); !slices.Equal(got, tt.want) {
				t.Errorf("published kids %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeySetHoldsNoPrivatePart(t *testing.T) {
	t.Parallel()
	fixtures := signingKeys(t)
	var allPEM []byte
	var allSecrets [][]byte
	for _, k := range fixtures {
		allPEM = append(allPEM, k.pem...)
		allSecrets = append(allSecrets, k.secrets...)
	}
	previous, err := token.ParsePublicKeys(allPEM)
	if err != nil {
		t.Fatal(err)
	}
	private := []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
	public := []string{"kty", "kid", "use", "alg", "crv", "x", "y", "n", "e"}
	for _, k := range fixtures {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			// Every key type at once: current, and the private keys of every type given as previous.
			iss := newIssuer(t, k.signer, previous...)
			jwks := jwksOf(t, iss)
			if len(jwks) != 3 {
				t.Errorf("published %d keys, want one each of P-256, Ed25519 and RSA", len(jwks))
			}
			for _, key := range jwks {
				for _, name := range private {
					if _, ok := key[name]; ok {
						t.Errorf("key %v has the private member %q", key["kid"], name)
					}
				}
				for name := range key {
					if !slices.Contains(public, name) {
						t.Errorf("key %v has the member %q, not one of a public key's", key["kid"], name)
					}
				}
			}
			assertNoKeyMaterial(t, string(iss.KeySet()), nil, allSecrets...)
		})
	}
}

func TestIssuerWithoutCurrentKey(t *testing.T) {
	t.Parallel()
	old := newEd25519(t)
	tests := []struct {
		name     string
		previous []crypto.PublicKey
		wantSet  string // the exact key set; "": the previous keys' kids
	}{
		{"no keys publishes an empty set", nil, `{"keys":[]}`},
		{"an empty list publishes an empty set", []crypto.PublicKey{}, `{"keys":[]}`},
		{"previous keys are published", []crypto.PublicKey{old.Public()}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss, err := token.New(nil, tt.previous, options())
			if err != nil {
				t.Fatal(err)
			}
			if iss.Signs() || iss.KeyID() != "" || iss.Algorithm() != "" {
				t.Errorf("Signs %v KeyID %q Algorithm %q, want false and none", iss.Signs(), iss.KeyID(), iss.Algorithm())
			}
			if tok, err := iss.Issue(subject()); err == nil {
				t.Errorf("issued %s without a key", tok)
			}
			if tt.wantSet != "" && string(iss.KeySet()) != tt.wantSet {
				t.Errorf("key set %s, want %s", iss.KeySet(), tt.wantSet)
			}
			if tt.wantSet == "" {
				if got, want := kidsOf(t, iss), []string{wantThumbprint(t, old.Public())}; !slices.Equal(got, want) {
					t.Errorf("published kids %v, want %v", got, want)
				}
				verify(t, iss.KeySet(), issue(t, newIssuer(t, old), subject()))
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	p384 := newP384(t)
	short := get(t, shortRSAKey)
	ec := newP256(t)
	tests := []struct {
		name     string
		current  crypto.Signer
		previous []crypto.PublicKey
		opts     func(*token.Options)
		want     string
		secrets  [][]byte
	}{
		{"an empty issuer", ec, nil, func(o *token.Options) { o.Issuer = "" }, "issuer", nil},
		{"a zero ttl", ec, nil, func(o *token.Options) { o.TTL = 0 }, "ttl", nil},
		{"a negative ttl", ec, nil, func(o *token.Options) { o.TTL = -time.Minute }, "ttl", nil},
		{"a current key on P-384", p384, nil, nil, "P-384", secretsOf(t, p384)},
		{"a current RSA key of 1024 bits", short, nil, nil, "1024 bits", secretsOf(t, short)},
		{"a previous key on P-384", ec, []crypto.PublicKey{p384.Public()}, nil, "previous key 1", nil},
		{"a previous RSA key of 1024 bits", nil, []crypto.PublicKey{ec.Public(), short.Public()}, nil, "previous key 2", nil},
		{"an X25519 key given as previous", nil, []crypto.PublicKey{newX25519(t).PublicKey()}, nil, "cannot sign", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := options()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			iss, err := token.New(tt.current, tt.previous, opts)
			if err == nil {
				t.Fatalf("built an Issuer publishing %s", iss.KeySet())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			assertNoKeyMaterial(t, err.Error(), nil, tt.secrets...)
		})
	}
}

// TestAPrivateKeyGivenAsPreviousPublishesOnlyItsPublicPart: an operator may keep the retired key file
// as it was; only its public part is ever published.
func TestAPrivateKeyGivenAsPreviousPublishesOnlyItsPublicPart(t *testing.T) {
	t.Parallel()
	old := newP256(t)
	iss, err := token.New(nil, []crypto.PublicKey{old}, options())
	if err != nil {
		t.Fatal(err)
	}
	fromPublic, err := token.New(nil, []crypto.PublicKey{old.Public()}, options())
	if err != nil {
		t.Fatal(err)
	}
	if string(iss.KeySet()) != string(fromPublic.KeySet()) {
		t.Fatalf("published %s, want what its public key publishes: %s", iss.KeySet(), fromPublic.KeySet())
	}
	assertNoKeyMaterial(t, string(iss.KeySet()), nil, secretsOf(t, old)...)
}

func TestIssueRefusesNoNumber(t *testing.T) {
	t.Parallel()
	tok, err := newIssuer(t, newP256(t)).Issue(token.Subject{RequestID: requestID})
	if err == nil {
		t.Errorf("issued %s proving no number", tok)
	}
}
