// Package token owns the signed proof of a verified number: a compact JWS (a JWT) that a
// successful /check hands to the app, for the app's own backend to verify with the public keys this
// package publishes as a JWKS. It knows keys, claims and JOSE; nothing of HTTP or of Vonage.
package token

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Options are the claims every token shares.
type Options struct {
	Issuer   string        // iss
	Audience []string      // aud; none leaves it out
	TTL      time.Duration // exp is iat + TTL
	Now      func() time.Time
}

// Subject is what one token proves.
type Subject struct {
	Number    string // the verified number, E.164 digits without '+'
	RequestID string // the verification that proved it
	Test      bool   // a test number, verified with its fixed code
}

// Issuer signs tokens with the current key and publishes the current and previous public keys.
// It is safe for concurrent use.
type Issuer struct {
	signer    jose.Signer // nil when there is no current key: nothing is signed
	keyID     string
	algorithm jose.SignatureAlgorithm
	opts      Options
	keySet    []byte
}

// New builds an Issuer that signs with current (nil: it signs nothing, and only publishes previous)
// and also publishes previous, the retired keys whose tokens may still be in use.
func New(current crypto.Signer, previous []crypto.PublicKey, opts Options) (*Issuer, error) {
	if opts.Issuer == "" || opts.TTL <= 0 {
		return nil, errors.New("token: issuer and ttl are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	iss := &Issuer{opts: opts}
	var set jose.JSONWebKeySet
	seen := map[string]bool{}
	publish := func(pub crypto.PublicKey) (string, jose.SignatureAlgorithm, error) {
		if s, ok := pub.(crypto.Signer); ok { // a retired private key: only its public part is published
			pub = s.Public()
		}
		alg, err := algorithmOf(pub)
		if err != nil {
			return "", "", err
		}
		kid, err := thumbprint(pub)
		if err != nil {
			return "", "", err
		}
		if !seen[kid] {
			seen[kid] = true
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(alg), Use: "sig"})
		}
		return kid, alg, nil
	}
	if current != nil {
		kid, alg, err := publish(current.Public())
		if err != nil {
			return nil, err
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: current, KeyID: kid}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return nil, fmt.Errorf("token: signer: %w", err)
		}
		iss.signer, iss.keyID, iss.algorithm = signer, kid, alg
	}
	for i, pub := range previous {
		if _, _, err := publish(pub); err != nil {
			return nil, fmt.Errorf("token: previous key %d: %w", i+1, err)
		}
	}
	if set.Keys == nil {
		set.Keys = []jose.JSONWebKey{} // "keys": [], never null
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("token: encode the key set: %w", err)
	}
	iss.keySet = b
	return iss, nil
}

// Signs reports whether the Issuer has a key to sign with.
func (i *Issuer) Signs() bool { return i != nil && i.signer != nil }

// KeyID is the current key's RFC 7638 thumbprint, its kid; "" when there is none.
func (i *Issuer) KeyID() string {
	if i == nil {
		return ""
	}
	return i.keyID
}

// Algorithm is the current key's JWS algorithm: ES256, EdDSA or RS256; "" when there is none.
func (i *Issuer) Algorithm() string {
	if i == nil {
		return ""
	}
	return string(i.algorithm)
}

// KeySet is the JWKS to publish: the public keys, the current one first. It never holds a private
// part: only public keys go into it. The caller gets its own copy.
func (i *Issuer) KeySet() []byte { return bytes.Clone(i.keySet) }

// claims are the token's: the registered ones, and the OpenID Connect names for a phone number.
type claims struct {
	jwt.Claims
	PhoneNumber         string `json:"phone_number"`
	PhoneNumberVerified bool   `json:"phone_number_verified"`
	RequestID           string `json:"request_id"`
	TestNumber          bool   `json:"test_number,omitempty"`
}

// Issue signs a token proving s.
func (i *Issuer) Issue(s Subject) (string, error) {
	if !i.Signs() {
		return "", errors.New("token: no signing key")
	}
	if s.Number == "" || strings.HasPrefix(s.Number, "+") {
		return "", errors.New("token: the number must be E.164 digits without '+'")
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("token: draw jti: %w", err)
	}
	now := i.opts.Now().Truncate(time.Second)
	number := "+" + s.Number
	c := claims{
		Claims: jwt.Claims{
			Issuer:    i.opts.Issuer,
			Subject:   number,
			Audience:  jwt.Audience(i.opts.Audience),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(now.Add(i.opts.TTL)),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
		PhoneNumber:         number,
		PhoneNumberVerified: true,
		RequestID:           s.RequestID,
		TestNumber:          s.Test,
	}
	tok, err := jwt.Signed(i.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return tok, nil
}

// thumbprint is the key's RFC 7638 JWK thumbprint (SHA-256, base64url), used as its kid.
func thumbprint(pub crypto.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("token: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}
