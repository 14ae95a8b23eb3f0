// Package tokentest verifies verification tokens as an app's backend would, with libraries other
// than the one that signs them (go-jose): golang-jwt for the JWS and its claims, and keyfunc
// (MicahParks/jwkset) to read the published key set. A token that passes here passes a backend
// that never saw this server's code.
package tokentest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Claims are a verification token's claims as a backend reads them.
type Claims struct {
	jwt.RegisteredClaims
	PhoneNumber         string `json:"phone_number"`
	PhoneNumberVerified bool   `json:"phone_number_verified"`
	RequestID           string `json:"request_id"`
	TestNumber          bool   `json:"test_number"`
}

// Expect is what the backend requires of a token.
type Expect struct {
	Issuer   string           // required
	Audience string           // "" skips the audience check, as a backend without one would
	Now      func() time.Time // nil: the real time
}

// Verify checks tok against the JWKS keySet, as a backend must: a signature by the key its kid
// names, with one of the three algorithms the server signs with, and iss, aud, exp (required), nbf
// and iat.
func Verify(keySet []byte, tok string, want Expect) (*Claims, error) {
	kf, err := keyfunc.NewJWKSetJSON(json.RawMessage(keySet))
	if err != nil {
		return nil, fmt.Errorf("read the key set: %w", err)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"ES256", "EdDSA", "RS256"}),
		jwt.WithIssuer(want.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if want.Audience != "" {
		opts = append(opts, jwt.WithAudience(want.Audience))
	}
	if want.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(want.Now))
	}
	var c Claims
	if _, err := jwt.ParseWithClaims(tok, &c, kf.Keyfunc, opts...); err != nil {
		return nil, err
	}
	return &c, nil
}

// Header is a token's JOSE header, read without verifying anything.
func Header(tok string) (map[string]any, error) {
	t, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		return nil, err
	}
	return t.Header, nil
}
