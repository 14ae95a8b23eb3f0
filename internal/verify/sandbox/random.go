package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"

	"github.com/google/uuid"
)

// randomCode draws a code of n decimal digits, each of the 10^n codes equally likely. rand.Int
// rejects draws beyond the range instead of folding them with a modulo, which would favour low codes.
func randomCode(r io.Reader, n int) (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(r, limit)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v.Int64()), nil // 10^10 fits in int64
}

// newRequestID draws a request_id in the form of the Verify API the sandbox stands in for.
func (p *Provider) newRequestID() (string, error) {
	if p.v2 {
		id, err := uuid.NewRandomFromReader(p.rand)
		return id.String(), err
	}
	return randomHex(p.rand, 16)
}

// randomHex draws n random bytes as 2n lowercase hex digits: with n = 16, a Verify v1 request_id.
func randomHex(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
