package verifyv2

import (
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Authenticator sets the credentials of one Verify v2 request. Implementations must be safe for
// concurrent use and must never put a secret anywhere but the Authorization header.
type Authenticator interface {
	Authorize(req *http.Request) error
}

// BasicAuth authenticates with the account's API key and secret (HTTP Basic), which Verify v2
// accepts for its synchronous calls, the only ones this proxy makes.
type BasicAuth struct {
	key, secret string
}

// NewBasicAuth returns HTTP Basic credentials; both parts are required.
func NewBasicAuth(apiKey, apiSecret string) (*BasicAuth, error) {
	if apiKey == "" || apiSecret == "" {
		return nil, errors.New("vonagev2: api key and api secret are both required")
	}
	return &BasicAuth{key: apiKey, secret: apiSecret}, nil
}

// Authorize implements Authenticator.
func (a *BasicAuth) Authorize(req *http.Request) error {
	req.SetBasicAuth(a.key, a.secret)
	return nil
}

// String and GoString keep the secret out of any %v, %+v or %#v.
func (a *BasicAuth) String() string   { return "verifyv2.BasicAuth" }
func (a *BasicAuth) GoString() string { return a.String() }

// JWTTTL is how long each application JWT is valid: long enough for one call (clock skew included),
// short enough that a leaked token is soon worthless.
const JWTTTL = 5 * time.Minute

// JWTAuth authenticates as a Vonage application: every request carries a fresh RS256 JWT signed with
// the application's private key, with the claims Vonage requires (application_id, iat, exp, jti).
type JWTAuth struct {
	applicationID string
	key           *rsa.PrivateKey
	now           func() time.Time
}

// claims are what Vonage reads from an application JWT.
type claims struct {
	ApplicationID string `json:"application_id"`
	jwt.RegisteredClaims
}

// NewJWTAuth parses privateKeyPEM (PKCS#1 or PKCS#8, as the Vonage dashboard downloads it) and signs
// with it for applicationID, reading the time from now (nil means time.Now). Errors never quote the key.
func NewJWTAuth(applicationID string, privateKeyPEM []byte, now func() time.Time) (*JWTAuth, error) {
	if applicationID == "" {
		return nil, errors.New("vonagev2: application id is empty")
	}
	// The two mistakes people make, named: the library would answer with an ASN.1 parser's dump.
	if block, _ := pem.Decode(privateKeyPEM); block != nil {
		switch {
		case strings.Contains(block.Type, "PUBLIC KEY"):
			return nil, errors.New("vonagev2: this is a public key; give the application's private key")
		case strings.Contains(block.Type, "ENCRYPTED") || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, errors.New("vonagev2: the private key is encrypted; give it unencrypted " +
				"(openssl pkey -in private.key -out plain.key), and keep that file secret")
		}
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(privateKeyPEM)
	if err != nil {
		// The library's errors name the format problem, never the key's bytes.
		return nil, fmt.Errorf("vonagev2: private key is not an RSA private key in PEM form: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	a := &JWTAuth{applicationID: applicationID, key: key, now: now}
	// A key can parse and still not sign (crypto/rsa refuses keys under 1024 bits): find out now,
	// at start-up, rather than on every call a user makes.
	if _, err := a.sign(); err != nil {
		return nil, err
	}
	return a, nil
}

// Authorize implements Authenticator: it signs a new token for every request, with a random jti so
// that no two requests ever carry the same token.
func (a *JWTAuth) Authorize(req *http.Request) error {
	signed, err := a.sign()
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+signed)
	return nil
}

func (a *JWTAuth) sign() (string, error) {
	now := a.now()
	token := jwt.NewWithClaims(jwt.SigningMethodRS256, claims{
		ApplicationID: a.applicationID,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        uuid.NewString(), // crypto/rand
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(JWTTTL)),
		},
	})
	signed, err := token.SignedString(a.key)
	if err != nil {
		return "", fmt.Errorf("vonagev2: sign application jwt: %w", err)
	}
	return signed, nil
}

// String and GoString keep the private key out of any %v, %+v or %#v.
func (a *JWTAuth) String() string   { return "verifyv2.JWTAuth(" + a.applicationID + ")" }
func (a *JWTAuth) GoString() string { return a.String() }
