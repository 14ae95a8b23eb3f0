package token_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/token"
)

// BenchmarkIssue measures what signing adds to a successful /check, per key type: RSA signs
// far more slowly than the curves, which matters to an operator choosing a key.
func BenchmarkIssue(b *testing.B) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", ec}, {"EdDSA", ed}, {"RS256-2048", rsaKey}} {
		b.Run(k.name, func(b *testing.B) {
			iss, err := token.New(k.key, nil, token.Options{Issuer: "verify-proxy", TTL: 10 * time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.Issue(token.Subject{Number: "14155550100", RequestID: "abcdef0123456789abcdef0123456789"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
