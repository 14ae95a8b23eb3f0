package verifyv2_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

func jwtAuth(t *testing.T, app v2test.Application, now func() time.Time) *verifyv2.JWTAuth {
	t.Helper()
	a, err := verifyv2.NewJWTAuth(app.ID, app.PrivateKeyPEM, now)
	if err != nil {
		t.Fatalf("NewJWTAuth: %v", err)
	}
	return a
}

// TestApplicationJWT's subtests share one application, which each only reads: making its 2048-bit
// key takes a while.
func TestApplicationJWT(t *testing.T) {
	t.Parallel()
	app := v2test.NewApplication(t)

	t.Run("every call carries a fresh RS256 token the fake verifies with the public key", func(t *testing.T) {
		t.Parallel()
		fake := newFake(t)
		fake.AcceptApplication(app)
		c := newClient(t, fake, func(o *verifyv2.Options) { o.Auth = jwtAuth(t, app, nil) })
		started := mustStart(t, c)
		if _, err := c.Check(t.Context(), started.RequestID, "000000"); err != nil {
			wantVerifyError(t, err, verify.KindCodeMismatch) // authenticated, then refused for the code
		}
		if _, err := c.Check(t.Context(), started.RequestID, testCode); err != nil {
			t.Fatalf("Check: %v", err)
		}
		checkTokens(t, fake.Requests(), app)
	})

	t.Run("a thousand tokens never repeat a jti", func(t *testing.T) {
		t.Parallel()
		a := jwtAuth(t, app, nil)
		seen := map[string]bool{}
		for range 1000 {
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			if err := a.Authorize(req); err != nil {
				t.Fatal(err)
			}
			tok := req.Header.Get("Authorization")
			if seen[tok] {
				t.Fatal("the same token was issued twice")
			}
			seen[tok] = true
		}
	})

	past := func() time.Time { return time.Now().Add(-time.Hour) }
	refused := []struct {
		name    string
		account []v2test.Application // the applications the fake accepts
		now     func() time.Time     // the client's clock when it signs; nil is the real one
	}{
		{"a token signed with another application's key is refused", []v2test.Application{{ID: app.ID, PublicKey: otherPublicKey(t)}}, nil},
		{"a token for an application the account does not have is refused", nil, nil},
		{"an expired token is refused", []v2test.Application{app}, past},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			for _, a := range tt.account {
				fake.AcceptApplication(a)
			}
			c := newClient(t, fake, func(o *verifyv2.Options) { o.Auth = jwtAuth(t, app, tt.now) })
			_, err := c.Start(t.Context(), testNumber)
			ve := wantVerifyError(t, err, verify.KindUpstreamError)
			if !strings.Contains(ve.Detail, "HTTP 401") {
				t.Errorf("Detail %q", ve.Detail)
			}
		})
	}
}

// checkTokens fails unless every request carried a verified RS256 token of app, living JWTTTL from
// its iat, with a jti of its own, and never the Basic secret.
func checkTokens(t *testing.T, reqs []v2test.Request, app v2test.Application) {
	t.Helper()
	jtis := map[string]bool{}
	for _, r := range reqs {
		cl := r.Claims
		if r.Auth != "bearer" || cl == nil {
			t.Fatalf("%s: auth %q, claims %v: the token was not verified", r.Route, r.Auth, cl)
		}
		if cl.Algorithm != "RS256" || cl.ApplicationID != app.ID {
			t.Errorf("alg %q, application_id %q", cl.Algorithm, cl.ApplicationID)
		}
		if life := cl.ExpiresAt.Sub(cl.IssuedAt); life != verifyv2.JWTTTL {
			t.Errorf("token lives %s, want %s", life, verifyv2.JWTTTL)
		}
		if !cl.NotBefore.Equal(cl.IssuedAt) {
			t.Errorf("nbf %s, iat %s", cl.NotBefore, cl.IssuedAt)
		}
		if cl.ID == "" || jtis[cl.ID] {
			t.Errorf("jti %q is empty or was used before", cl.ID)
		}
		jtis[cl.ID] = true
		if strings.Contains(r.Header.Get("Authorization"), v2test.APISecret) {
			t.Error("the Basic secret went out with a JWT")
		}
	}
}

func TestBasicCredentialsAreAcceptedByTheFake(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	mustStart(t, newClient(t, fake))
	if r := fake.Requests()[0]; r.Auth != "basic" {
		t.Errorf("auth %q", r.Auth)
	}
}

func TestAWrongBasicSecretIsAGenericUpstreamError(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.SetCredentials(v2test.APIKey, "another-secret")
	_, err := newClient(t, fake).Start(t.Context(), testNumber)
	ve := wantVerifyError(t, err, verify.KindUpstreamError)
	if ve.Text != "" || !strings.Contains(ve.Detail, "Unauthorized") {
		t.Errorf("text %q, detail %q", ve.Text, ve.Detail)
	}
}

func TestBasicCredentialsWithoutASecretAreRefused(t *testing.T) {
	t.Parallel()
	if _, err := verifyv2.NewBasicAuth("key", ""); err == nil {
		t.Error("Basic credentials without a secret were accepted")
	}
}

// Not parallel: weakKeyPEM changes GODEBUG, which the whole process reads.
func TestCredentialsNeverShow(t *testing.T) {
	app := v2test.NewApplication(t)
	keyBody := strings.Split(string(app.PrivateKeyPEM), "\n")[1] // a line of the key's base64

	basic := basicAuth(t)
	jwt := jwtAuth(t, app, nil)
	for _, v := range []any{basic, jwt} {
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			s := fmt.Sprintf(format, v)
			if strings.Contains(s, v2test.APISecret) || strings.Contains(s, keyBody) {
				t.Errorf("%s of %T shows a secret: %s", format, v, s)
			}
		}
	}

	tests := []struct {
		name string
		pem  []byte
		want string // in the error, naming the mistake
	}{
		{"not PEM at all", []byte("hunter2-" + keyBody), "PEM"},
		{"a PEM that is not a key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("hunter2-" + keyBody)}), "PEM"},
		{"a public key", publicPEM(t, app.PublicKey), "this is a public key"},
		{"an encrypted key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("hunter2-" + keyBody)}), "encrypted"},
		{"too short to sign with (512 bits)", weakKeyPEM(t), "512-bit"},
	}
	for _, tt := range tests {
		t.Run("a private key that is "+tt.name+" is refused without being quoted", func(t *testing.T) {
			_, err := verifyv2.NewJWTAuth(app.ID, tt.pem, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), keyBody) {
				t.Errorf("error quotes the key: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	if _, err := verifyv2.NewJWTAuth("", app.PrivateKeyPEM, nil); err == nil {
		t.Error("an empty application id was accepted")
	}
}

// weakKeyPEM is a 512-bit RSA key, which parses but which crypto/rsa refuses to sign with. Making
// one needs the GODEBUG setting that crypto/rsa reads when it is changed, so it is set only for that.
func weakKeyPEM(t *testing.T) []byte {
	t.Helper()
	t.Setenv("GODEBUG", "rsa1024min=0")
	key, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	os.Unsetenv("GODEBUG")
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func otherPublicKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	return v2test.NewApplication(t).PublicKey
}

func publicPEM(t *testing.T, pub *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// BenchmarkJWTAuthorize measures signing one application JWT, which every v2 call pays for.
func BenchmarkJWTAuthorize(b *testing.B) {
	app := v2test.NewApplication(b)
	a, err := verifyv2.NewJWTAuth(app.ID, app.PrivateKeyPEM, nil)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/v2/verify", nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Authorize(req); err != nil {
			b.Fatal(err)
		}
	}
}
