package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// authenticate is kin-openapi's AuthenticationFunc: it checks the Authorization header against one
// declared security scheme (Verify v2 declares basicAuth and bearerAuth as alternatives, and
// kin-openapi accepts the request when either passes). It checks the form of the credentials, not
// whether Vonage knows them.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme := in.SecurityScheme
	values := in.RequestValidationInput.Request.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return errors.New("no Authorization header")
	case len(values) > 1:
		// "You can use either JWT or Basic authentication, but not both at the same time" (Verify
		// v2 API reference).
		return fmt.Errorf("%d Authorization headers", len(values))
	case scheme.Type != "http":
		return fmt.Errorf("scheme type %q is not one this validator knows", scheme.Type)
	}
	// RFC 9110 section 11.1: the auth-scheme is case-insensitive, one space before the credentials.
	name, credentials, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(name, scheme.Scheme) {
		return fmt.Errorf("the header is not %s credentials", scheme.Scheme)
	}
	switch strings.ToLower(scheme.Scheme) {
	case "basic":
		return checkBasic(credentials)
	case "bearer":
		if scheme.BearerFormat != "JWT" {
			return fmt.Errorf("bearer format %q is not one this validator knows", scheme.BearerFormat)
		}
		return checkJWT(credentials)
	}
	return fmt.Errorf("http scheme %q is not one this validator knows", scheme.Scheme)
}

// checkBasic checks RFC 7617 credentials: base64 (standard alphabet, padded) of key:secret, both
// present.
func checkBasic(credentials string) error {
	decoded, err := base64.StdEncoding.Strict().DecodeString(credentials)
	if err != nil {
		return errors.New("basic credentials are not base64")
	}
	key, secret, ok := strings.Cut(string(decoded), ":")
	switch {
	case !ok:
		return errors.New("basic credentials are not key:secret")
	case key == "":
		return errors.New("basic credentials have no api key")
	case secret == "":
		return errors.New("basic credentials have no api secret")
	}
	return nil
}

// maxJWTLife is the longest Vonage honours an application JWT, counted from its iat, whatever its
// exp says (Vonage API support, "How long is my JSON Web Token valid for?").
const maxJWTLife = 24 * 60 * 60

// checkJWT checks the form of a signed JWT (RFC 7519, JWS compact serialisation, RFC 7515 section
// 7.1): three dot-separated base64url parts without padding, a header that names a signing
// algorithm (never "none": Vonage's application JWTs are signed) and claims that are a JSON object
// naming the application. Vonage's support article on JWT lifetimes adds that a token with neither
// iat nor exp is rejected, and one is never honoured past 24 hours after its iat. The signature is
// not verified: the spec server does not hold the application's public key.
func checkJWT(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("the bearer token has %d dot-separated parts, a JWT has 3", len(parts))
	}
	decoded := make([][]byte, len(parts))
	for i, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("part %d of the bearer token is not base64url", i+1)
		}
		decoded[i] = b
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(decoded[0], &header); err != nil {
		return errors.New("the JWT header is not a JSON object")
	}
	if header.Alg == "" || strings.EqualFold(header.Alg, "none") {
		return fmt.Errorf("the JWT header names no signing algorithm (alg %q)", header.Alg)
	}
	var claims struct {
		ApplicationID string   `json:"application_id"`
		IssuedAt      *float64 `json:"iat"`
		Expires       *float64 `json:"exp"`
	}
	if err := json.Unmarshal(decoded[1], &claims); err != nil {
		return errors.New("the JWT claims are not a JSON object with numeric iat and exp")
	}
	switch {
	case claims.ApplicationID == "":
		return errors.New("the JWT names no application_id")
	case claims.IssuedAt == nil && claims.Expires == nil:
		return errors.New("the JWT has neither iat nor exp, which Vonage rejects")
	case claims.IssuedAt != nil && claims.Expires != nil && *claims.Expires-*claims.IssuedAt > maxJWTLife:
		return fmt.Errorf("the JWT lives %.0f s, more than the %d s Vonage honours", *claims.Expires-*claims.IssuedAt, maxJWTLife)
	}
	return nil
}
