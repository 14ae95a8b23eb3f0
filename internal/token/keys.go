package token

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// minRSABits is the smallest RSA key that signs: RFC 7518 requires 2048 bits for RS256.
const minRSABits = 2048

// keyTypes says what keys are accepted; every refusal of a key type ends with it.
const keyTypes = "a token key must be ECDSA P-256 (ES256), Ed25519 (EdDSA) or RSA of 2048 bits or more (RS256)"

// Generate makes an ECDSA P-256 key, for a server that has none configured (the sandbox).
func Generate() (crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("token: generate a key: %w", err)
	}
	return key, nil
}

// ParsePrivateKey reads the one private key in pemBytes (PKCS#8, SEC 1 or PKCS#1), which must be of
// a type that signs tokens. Errors describe the key, never repeat it.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	keys, err := parse(pemBytes, false)
	if err != nil {
		return nil, err
	}
	var signers []crypto.Signer
	for _, k := range keys {
		s, ok := k.(crypto.Signer)
		if !ok { // an X25519 key, say: it agrees on keys, it does not sign
			if x, isECDH := k.(*ecdh.PrivateKey); isECDH {
				k = x.PublicKey()
			}
			_, err := algorithmOf(k)
			return nil, err
		}
		signers = append(signers, s)
	}
	switch len(signers) {
	case 0:
		return nil, errors.New("no private key in the PEM text (a -----BEGIN PRIVATE KEY----- block)")
	case 1:
	default:
		return nil, fmt.Errorf("%d private keys in the PEM text; one signs (retired keys go in VERIFICATION_TOKEN_PREVIOUS_KEYS_PATH)", len(signers))
	}
	if _, err := algorithmOf(signers[0].Public()); err != nil {
		return nil, err
	}
	return signers[0], nil
}

// ParsePublicKeys reads every key in pemBytes, public or private (then its public part), each of a
// type that signs tokens: the retired keys a rotation keeps published.
func ParsePublicKeys(pemBytes []byte) ([]crypto.PublicKey, error) {
	keys, err := parse(pemBytes, true)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no key in the PEM text")
	}
	pubs := make([]crypto.PublicKey, len(keys))
	for i, k := range keys {
		if s, ok := k.(crypto.Signer); ok {
			k = s.Public()
		}
		if _, err := algorithmOf(k); err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		pubs[i] = k
	}
	return pubs, nil
}

// parse reads every key block of pemBytes, in order; blocks that hold no key (EC PARAMETERS, which
// openssl writes before an EC key) are skipped. Public keys and certificates count only when public
// is set.
func parse(pemBytes []byte, public bool) ([]any, error) {
	var keys []any
	rest := pemBytes
	blocks := 0
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		blocks++
		key, err := parseBlock(block, public)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		if key != nil {
			keys = append(keys, key)
		}
	}
	// pem.Decode skips a block it cannot decode (a corrupt body, no END line) without a word: count
	// the BEGIN lines, so that a damaged key is refused rather than silently left out.
	begins := bytes.Count(pemBytes, []byte("\n-----BEGIN "))
	if bytes.HasPrefix(pemBytes, []byte("-----BEGIN ")) {
		begins++
	}
	if begins > blocks {
		return nil, errors.New("a PEM block does not decode: its base64 body is corrupt or its END line is missing")
	}
	if len(keys) == 0 && len(pemBytes) > 0 && !containsPEM(pemBytes) {
		return nil, errors.New("not PEM text (-----BEGIN PRIVATE KEY----- …)")
	}
	return keys, nil
}

// parseBlock reads one PEM block. Go's parse errors are replaced by the format that was expected:
// theirs describe the DER's structure, which helps nobody and need not leave this package.
func parseBlock(block *pem.Block, public bool) (any, error) {
	if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("the key is encrypted; give it unencrypted (openssl pkey -in key.pem -out plain.pem)")
	}
	var (
		key    any
		err    error
		format string
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		format = "a PKCS#8 private key"
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
		format = "a SEC 1 EC private key"
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		format = "a PKCS#1 RSA private key"
	case "OPENSSH PRIVATE KEY":
		return nil, errors.New("an OpenSSH key; convert it to PEM (ssh-keygen -p -m PKCS8 -f key) or make one with openssl")
	case "PUBLIC KEY":
		if !public {
			return nil, nil
		}
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
		format = "a PKIX public key"
	case "RSA PUBLIC KEY":
		if !public {
			return nil, nil
		}
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		format = "a PKCS#1 RSA public key"
	case "CERTIFICATE":
		if !public {
			return nil, nil
		}
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
		format = "an X.509 certificate"
	default:
		return nil, nil // EC PARAMETERS and the like: no key
	}
	if err != nil {
		return nil, fmt.Errorf("not %s", format)
	}
	return key, nil
}

func containsPEM(b []byte) bool {
	block, _ := pem.Decode(b)
	return block != nil
}

// algorithmOf is the JWS algorithm a public key signs with, or why it signs none.
func algorithmOf(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("an ECDSA key on %s cannot sign; %s", k.Curve.Params().Name, keyTypes)
		}
		return jose.ES256, nil
	case ed25519.PublicKey:
		return jose.EdDSA, nil
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return "", fmt.Errorf("an RSA key of %d bits is too short; %s", bits, keyTypes)
		}
		return jose.RS256, nil
	}
	if _, ok := pub.(*ecdh.PublicKey); ok {
		return "", fmt.Errorf("an X25519 key agrees on keys, it cannot sign; %s", keyTypes)
	}
	return "", fmt.Errorf("a %T cannot sign; %s", pub, keyTypes)
}
