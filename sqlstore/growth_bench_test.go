package sqlstore_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/identsphere/mfa"
)

// growthSizes reads the numbers of enrolled users for a backend from
// MFA_BENCH_GROWTH_SQLITE / MFA_BENCH_GROWTH_POSTGRES / MFA_BENCH_GROWTH_MYSQL
// ("1000,100000"); unset means a quick 1000 and 10000.
func growthSizes(b *testing.B, backend string) []int {
	spec := os.Getenv("MFA_BENCH_GROWTH_" + strings.ToUpper(backend))
	if spec == "" {
		return []int{1_000, 10_000}
	}
	var sizes []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("bad size %q", f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// bulkLoad inserts n enabled users with ten recovery codes each straight
// into the tables, 500 rows a statement in one transaction.
func bulkLoad(b *testing.B, db *sqlx.DB, prefix string, svc *mfa.Service, n int, secret []byte) {
	q := func(s string) string { return db.Rebind(strings.ReplaceAll(s, "mfa_", prefix)) }
	tx := db.MustBegin()
	const chunk = 500
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		users := make([]any, 0, end-start)
		factors := make([]any, 0, 3*(end-start))
		codes := make([]any, 0, 20*(end-start))
		for u := start; u < end; u++ {
			id := "user-" + strconv.Itoa(u)
			users = append(users, id)
			factors = append(factors, "f-"+id, id, secret)
			for _, h := range svc.RecoveryCodeHashes(id, growthCodes(u)) {
				codes = append(codes, id, h)
			}
		}
		tx.MustExec(q("INSERT INTO mfa_users (user_id, enabled) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, 1), ", end-start), ", ")), users...)
		tx.MustExec(q("INSERT INTO mfa_factors (factor_id, user_id, type, name, active, secret, counter, created_at) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, 'totp', 'Phone', 1, ?, 1, 1), ", end-start), ", ")), factors...)
		for c := 0; c < len(codes); c += 2 * chunk {
			part := codes[c:min(c+2*chunk, len(codes))]
			tx.MustExec(q("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES "+
				strings.TrimSuffix(strings.Repeat("(?, ?), ", len(part)/2), ", ")), part...)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

func growthCodes(u int) []string {
	codes := make([]string, 10)
	for k := range codes {
		codes[k] = fmt.Sprintf("C%03d%06d", k, u%1_000_000)
	}
	return codes
}

// BenchmarkGrowth measures Verify (a wrong code: reserve an attempt, check,
// record the failure), Enable and ConsumeRecoveryCode through the Service
// on sqlstore holding n enrolled users with ten codes each. Run it with a
// fixed count (-benchtime=300x) so every size does the same work; sizes
// come from MFA_BENCH_GROWTH_<BACKEND>.
func BenchmarkGrowth(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			db := be.open(b)
			for _, n := range growthSizes(b, be.name) {
				prefix := testPrefix()
				store := newStore(b, db, prefix)
				now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
				svc, err := mfa.New(mfa.Config{Issuer: "Bench", Store: store, Audit: nopSink{}, Now: func() time.Time { return now },
					Throttle: mfa.Throttle{MaxFailures: -1}, AuditQueueSize: 1 << 16, Logger: quietLogger})
				if err != nil {
					b.Fatal(err)
				}
				secret := random(20)
				start := time.Now()
				bulkLoad(b, db, prefix, svc, n, secret)
				b.Logf("%s: loaded %d users and %d codes in %s", be.name, n, 10*n, time.Since(start).Round(time.Millisecond))
				ctx := context.Background()
				pick := func(i int) int { return int(bits.RotateLeft32(uint32(i)*2654435761, 7)) % n }

				b.Run(fmt.Sprintf("users=%d/Verify", n), func(b *testing.B) {
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						if _, err := svc.Verify(ctx, "user-"+strconv.Itoa(pick(i)), mfa.Credential{Code: "000000"}); err != mfa.ErrInvalidCode && err != mfa.ErrReplay {
							b.Fatal(err)
						}
					}
				})
				newUser := 0
				b.Run(fmt.Sprintf("users=%d/Enable", n), func(b *testing.B) {
					code, err := totp.GenerateCodeCustom(encodeSecret(secret), now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
					if err != nil {
						b.Fatal(err)
					}
					first := newUser
					for i := 0; i < b.N; i++ {
						f := mfa.Factor{ID: "f-new-" + strconv.Itoa(first+i), Type: mfa.FactorTOTP, Name: "Phone", Secret: secret, CreatedAt: now}
						if err := store.SetPending(ctx, "new-"+strconv.Itoa(first+i), f, nil); err != nil {
							b.Fatal(err)
						}
					}
					newUser += b.N
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := svc.Enable(ctx, "new-"+strconv.Itoa(first+i), code); err != nil {
							b.Fatal(err)
						}
					}
				})
				next := 0
				b.Run(fmt.Sprintf("users=%d/ConsumeRecoveryCode", n), func(b *testing.B) {
					if next+b.N > 10*n {
						b.Skipf("needs more than the %d codes of %d users", 10*n, n)
					}
					b.ReportAllocs()
					first := next
					next += b.N
					for i := first; i < first+b.N; i++ {
						u := (i / 10 * 7919) % n
						if _, err := svc.Verify(ctx, "user-"+strconv.Itoa(u), mfa.Credential{RecoveryCode: growthCodes(u)[i%10]}); err != nil {
							b.Fatal(i, err)
						}
					}
				})
				if err := svc.Close(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func encodeSecret(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

var quietLogger = slog.New(slog.DiscardHandler)
