package guard_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/phone"
	"github.com/verify-proxy/verify-proxy/internal/state"
	"github.com/verify-proxy/verify-proxy/internal/state/memstore"
)

// BenchmarkAdmitAndStart measures what the guard adds to a start, with the default limits, with and
// without the fraud guard (which reads a prefix's and a country's counts before each start, and
// counts the start after): the fraud guard's cost is the ratio of the two.
func BenchmarkAdmitAndStart(b *testing.B) {
	for _, mode := range []guard.FraudMode{guard.FraudOff, guard.FraudEnforce} {
		b.Run(string(mode), func(b *testing.B) {
			g, err := guard.New(guard.Options{
				Store: memstore.New(nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				IdempotencyTTL: time.Hour, VerificationTTL: 5 * time.Minute,
				Limits: guard.Limits{Number: state.Limit{Count: 3, Window: 10 * time.Minute},
					Prefix: state.Limit{Count: 100_000, Window: time.Hour}},
				Fraud: guard.FraudOptions{Mode: mode, Window: time.Hour, SettleAfter: 5 * time.Minute,
					MinStartsPrefix: 20, MinStartsCountry: 100, MinConversion: 0.2, BlockFor: time.Hour,
					TrustVerifiedFor: 30 * 24 * time.Hour},
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				num := phone.Number{E164: "1415" + strconv.Itoa(5_000_000+i%1_000_000), Region: "US", CountryCode: 1, Type: phone.TypeMobile}
				if _, err := g.Admit(ctx, num); err != nil {
					b.Fatal(err)
				}
				g.Started(ctx, strconv.Itoa(i), num, false, "203.0.113.7")
			}
		})
	}
}
