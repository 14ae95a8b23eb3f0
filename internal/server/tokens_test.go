package server_test

import (
	"crypto"
	"net/http"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/token"
	"github.com/verify-proxy/verify-proxy/internal/token/tokentest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1/v1test"
)

const (
	tokenIssuer   = "https://verify.example.com"
	tokenAudience = "app-backend"
)

// newIssuer signs with a fresh P-256 key, and publishes previous too.
func newIssuer(t *testing.T, previous ...crypto.PublicKey) *token.Issuer {
	t.Helper()
	return issuerWith(t, newKey(t), previous...)
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func issuerWith(t *testing.T, key crypto.Signer, previous ...crypto.PublicKey) *token.Issuer {
	t.Helper()
	iss, err := token.New(key, previous, token.Options{Issuer: tokenIssuer, Audience: []string{tokenAudience}, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// keySet fetches the harness's JWKS, as a backend does.
func (h *harness) keySet() []byte {
	h.t.Helper()
	r := h.send(http.MethodGet, "/.well-known/jwks.json", "", "")
	if r.status != http.StatusOK {
		h.t.Fatalf("GET /.well-known/jwks.json: %d %s", r.status, r.raw)
	}
	return r.raw
}

// verified checks the token of a successful check as the app's backend would, with a JOSE library
// other than the server's, against the keys the server publishes.
func (h *harness) verified(r *response) *tokentest.Claims {
	h.t.Helper()
	if r.status != http.StatusOK {
		h.t.Fatalf("check: %d %s", r.status, r.raw)
	}
	tok := r.str("verification_token")
	if tok == "" {
		h.t.Fatalf("no verification_token: %s", r.raw)
	}
	c, err := tokentest.Verify(h.keySet(), tok, tokentest.Expect{Issuer: tokenIssuer, Audience: tokenAudience})
	if err != nil {
		h.t.Fatalf("the token does not verify: %v", err)
	}
	return c
}

func TestARightCodeAnswersATokenForTheNumberThatWasStarted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{tokens: newIssuer(t)})
	// The number as the app typed it; the token names it as E.164.
	id := h.postJSON("/request", requestBody("+1 (415) 555-0100")).str("request_id")
	if r := h.postJSON("/check", checkBody(id, "0000")); r.status != http.StatusBadRequest || r.body["verification_token"] != nil {
		t.Fatalf("a wrong code: %d %s", r.status, r.raw)
	}
	ok := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id)))
	c := h.verified(ok)
	if c.PhoneNumber != "+14155550100" || c.Subject != "+14155550100" || !c.PhoneNumberVerified || c.RequestID != id || c.TestNumber {
		t.Fatalf("claims %+v", c)
	}
	if c.ID == "" || c.ExpiresAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != 10*time.Minute {
		t.Fatalf("jti %q, iat %v, exp %v", c.ID, c.IssuedAt, c.ExpiresAt)
	}
	if h.logs.Holds(ok.str("verification_token")) {
		t.Fatal("the log holds the token")
	}
}

func TestATestNumbersTokenSaysSo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{tokens: newIssuer(t), testNumbers: reviewNumbers})
	id := startTest(t, h, "15555550100")
	c := h.verified(h.postJSON("/check", checkBody(id, "123456")))
	if !c.TestNumber || c.PhoneNumber != "+15555550100" {
		t.Fatalf("claims %+v", c)
	}
}

// TestEveryTokenIsUnique: two verifications of one number are two proofs.
func TestEveryTokenIsUnique(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{tokens: newIssuer(t)})
	seen := map[string]bool{}
	for range 3 {
		id := h.postJSON("/request", requestBody("14155550100")).str("request_id")
		c := h.verified(h.postJSON("/check", checkBody(id, h.fake.CodeFor(id))))
		if seen[c.ID] {
			t.Fatalf("jti %s issued twice", c.ID)
		}
		seen[c.ID] = true
	}
}

// TestAVerificationStartedElsewhereVerifiesWithoutAToken: the server signs only numbers it stored
// itself; the check still answers as the Verify API did, and the log says why there is no token.
func TestAVerificationStartedElsewhereVerifiesWithoutAToken(t *testing.T) {
	t.Parallel()
	fake := v1test.NewServer(t)
	elsewhere := newHarness(t, options{fake: fake})
	id := elsewhere.postJSON("/request", requestBody("14155550100")).str("request_id")
	h := newHarness(t, options{fake: fake, tokens: newIssuer(t)})
	r := h.postJSON("/check", checkBody(id, fake.CodeFor(id)))
	if r.status != http.StatusOK || r.str("status") != "0" {
		t.Fatalf("check: %d %s", r.status, r.raw)
	}
	if _, has := r.body["verification_token"]; has {
		t.Fatalf("a token for a number this server never stored: %s", r.raw)
	}
	if !h.logs.Holds("no verification_token: this server does not know which number") {
		t.Fatalf("the log does not say why there is no token:\n%s", h.logs)
	}
}

func TestWithoutAKeyThereIsNoTokenAndNoKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	id := h.postJSON("/request", requestBody("14155550100")).str("request_id")
	r := h.postJSON("/check", checkBody(id, h.fake.CodeFor(id)))
	if _, has := r.body["verification_token"]; has || r.status != http.StatusOK {
		t.Fatalf("check without a key: %d %s", r.status, r.raw)
	}
	if got := string(h.keySet()); got != "{\"keys\":[]}\n" {
		t.Fatalf("key set without a key: %q", got)
	}
}

// TestTheKeySetIsCacheableAndNeverRateLimited: backends fetch it on an unknown kid; a busy client
// address must not cut them off, and caches may keep it a few minutes.
func TestTheKeySetIsCacheableAndNeverRateLimited(t *testing.T) {
	t.Parallel()
	oldKey := newKey(t)
	old := issuerWith(t, oldKey)
	h := newHarness(t, options{tokens: newIssuer(t, oldKey.Public()), limits: guard.Limits{IP: limit(1, time.Hour)}})
	for i := range 5 {
		r := h.send(http.MethodGet, "/.well-known/jwks.json", "", "")
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "public, max-age=300" {
			t.Fatalf("fetch %d: %d %v %s", i+1, r.status, r.header, r.raw)
		}
		keys, _ := r.body["keys"].([]any)
		if len(keys) != 2 {
			t.Fatalf("want the current and the previous key, got %s", r.raw)
		}
		if first, _ := keys[0].(map[string]any); first["kid"] == old.KeyID() {
			t.Fatal("the previous key is listed first")
		}
	}
}

// TestATokenOfTheRetiredKeyStillVerifies: during a rotation, the old key stays published.
func TestATokenOfTheRetiredKeyStillVerifies(t *testing.T) {
	t.Parallel()
	fake := v1test.NewServer(t)
	oldKey := newKey(t)
	before := newHarness(t, options{fake: fake, tokens: issuerWith(t, oldKey)})
	id := before.postJSON("/request", requestBody("14155550100")).str("request_id")
	tok := before.postJSON("/check", checkBody(id, fake.CodeFor(id))).str("verification_token")

	after := newHarness(t, options{fake: fake, tokens: newIssuer(t, oldKey.Public())})
	if _, err := tokentest.Verify(after.keySet(), tok, tokentest.Expect{Issuer: tokenIssuer, Audience: tokenAudience}); err != nil {
		t.Fatalf("the old key's token after the rotation: %v", err)
	}
	unpublished := newHarness(t, options{fake: fake, tokens: newIssuer(t)})
	if _, err := tokentest.Verify(unpublished.keySet(), tok, tokentest.Expect{Issuer: tokenIssuer, Audience: tokenAudience}); err == nil {
		t.Fatal("a token verified against a key set without its key")
	}
}
