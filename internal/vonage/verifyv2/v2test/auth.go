package v2test

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what the fake read from a JWT it verified, for tests to inspect.
type Claims struct {
	Algorithm     string // from the token's header
	ApplicationID string
	ID            string // jti
	IssuedAt      time.Time
	NotBefore     time.Time // zero when absent
	ExpiresAt     time.Time
}

// errUnknownApplication refuses a JWT whose application_id the fake was not given.
var errUnknownApplication = errors.New("unknown application_id")

// tokenClaims are an application JWT's claims as Vonage reads them.
type tokenClaims struct {
	ApplicationID string `json:"application_id"`
	jwt.RegisteredClaims
}

// authenticate checks an Authorization header the way Vonage does: HTTP Basic against the account's
// key and secret, or a Bearer JWT signed (RS256) by a known application's private key, current
// (exp required and not past, iat not in the future) and carrying a jti. JWTs are checked against
// the real clock, as Vonage's would be, whatever clock the test gave the fake.
func (s *Server) authenticate(header string) (kind string, claims *Claims, err error) {
	scheme, credentials, _ := strings.Cut(header, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		req := http.Request{Header: http.Header{"Authorization": {header}}}
		key, secret, ok := req.BasicAuth()
		wantKey, wantSecret := s.Credentials()
		if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(wantKey)) != 1 ||
			subtle.ConstantTimeCompare([]byte(secret), []byte(wantSecret)) != 1 {
			return "basic", nil, errors.New("bad api key or secret")
		}
		return "basic", nil, nil
	case "bearer":
		c, err := s.verifyJWT(strings.TrimSpace(credentials))
		return "bearer", c, err
	}
	return "", nil, errors.New("no credentials")
}

func (s *Server) verifyJWT(raw string) (*Claims, error) {
	var tc tokenClaims
	token, err := jwt.ParseWithClaims(raw, &tc, func(t *jwt.Token) (any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		key, ok := s.applications[tc.ApplicationID]
		if !ok {
			return nil, errUnknownApplication
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if err != nil {
		return nil, err
	}
	if tc.ID == "" || tc.IssuedAt == nil {
		return nil, errors.New("jwt without jti or iat")
	}
	c := &Claims{
		ApplicationID: tc.ApplicationID,
		ID:            tc.ID,
		IssuedAt:      tc.IssuedAt.Time,
		ExpiresAt:     tc.ExpiresAt.Time,
	}
	if alg, ok := token.Header["alg"].(string); ok {
		c.Algorithm = alg
	}
	if tc.NotBefore != nil {
		c.NotBefore = tc.NotBefore.Time
	}
	return c, nil
}
