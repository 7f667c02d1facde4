package mfa_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

// BenchmarkVerifyParallel: memstore Verify (a wrong code, full check path)
// from 1, 2, 8 and 64 goroutines over distinct users. It reports
// throughput as "checks/s", and as "x-one" the throughput over that of
// one goroutine, measured interleaved in blocks (outside the timer) so
// that both see the same machine. memstore's one lock is held only for the
// map operations; the HMAC work runs outside it.
func BenchmarkVerifyParallel(b *testing.B) {
	for _, g := range []int{1, 2, 8, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			store := memstore.New()
			svc := benchService(b, store, mfa.Throttle{MaxFailures: 1 << 62})
			ctx := context.Background()
			for i := 0; i < g; i++ {
				secret := make([]byte, 20)
				rand.Read(secret)
				enrolled(b, store, "user-"+strconv.Itoa(i), nil, secret)
			}
			// checks runs n wrong-code checks spread over goroutines.
			checks := func(goroutines, n int) {
				var wg sync.WaitGroup
				for i := 0; i < goroutines; i++ {
					share := n / goroutines
					if i < n%goroutines {
						share++
					}
					wg.Add(1)
					go func(user string) {
						defer wg.Done()
						for j := 0; j < share; j++ {
							if err := verifyCode(svc, ctx, user, "000000"); err != mfa.ErrInvalidCode && err != mfa.ErrReplay {
								b.Error(err)
								return
							}
						}
					}("user-" + strconv.Itoa(i))
				}
				wg.Wait()
			}
			const block = 4096
			var oneTime time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += block {
				n := min(block, b.N-done)
				checks(g, n)
				b.StopTimer()
				start := time.Now()
				checks(1, n)
				oneTime += time.Since(start)
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
			b.ReportMetric(float64(oneTime)/float64(b.Elapsed()), "x-one")
		})
	}
}

// growthSizes returns the numbers of enrolled users the growth benchmarks
// run at: MFA_BENCH_GROWTH="1000,100000,1000000" or, unset, a quick 1000
// and 10000 (the report command sets the full list).
func growthSizes(b *testing.B) []int {
	spec := os.Getenv("MFA_BENCH_GROWTH")
	if spec == "" {
		return []int{1_000, 10_000}
	}
	var sizes []int
	for _, f := range splitComma(spec) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			b.Fatalf("MFA_BENCH_GROWTH: bad size %q", f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// BenchmarkGrowth measures Verify (a wrong code), Enable and
// RedeemRecoveryCode on memstore holding n enrolled users with ten codes
// each; the cost must not grow with n. Users are picked by a scrambled
// index so that successive operations touch unrelated map entries. Run it
// with a fixed count (-benchtime=20000x) so that every size does the same
// number of operations.
func BenchmarkGrowth(b *testing.B) {
	for _, n := range growthSizes(b) {
		store := memstore.New()
		ctx := context.Background()
		svc := benchService(b, store, mfa.Throttle{MaxFailures: 1 << 62})
		secret := make([]byte, 20)
		rand.Read(secret)
		codeOf := func(user, k int) string { return fmt.Sprintf("C%03d%06d", k, user%1_000_000)[:10] }
		for u := 0; u < n; u++ {
			user := "user-" + strconv.Itoa(u)
			var codes []string
			for k := 0; k < 10; k++ {
				codes = append(codes, codeOf(u, k))
			}
			enrolled(b, store, user, svc.RecoveryCodeHashes(user, codes), secret)
		}
		pick := func(i int) int { return int(bits.RotateLeft32(uint32(i)*2654435761, 7)) % n }
		b.Run(fmt.Sprintf("users=%d/Verify", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := verifyCode(svc, ctx, "user-"+strconv.Itoa(pick(i)), "000000"); err != mfa.ErrInvalidCode && err != mfa.ErrReplay {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("users=%d/Enable", n), func(b *testing.B) {
			code := benchCode(b, secret, benchNow)
			for i := 0; i < b.N; i++ {
				f := mfa.Factor{ID: "f-new-" + strconv.Itoa(i), Type: mfa.FactorTOTP, Name: "App", Secret: secret, CreatedAt: benchNow}
				if err := store.SetPending(ctx, "new-"+strconv.Itoa(i), f, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := svc.Enable(ctx, "new-"+strconv.Itoa(i), code); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			for i := 0; i < b.N; i++ {
				store.Delete(ctx, "new-"+strconv.Itoa(i), nil)
			}
		})
		next := 0 // the benchmark function runs more than once; codes work once
		b.Run(fmt.Sprintf("users=%d/RedeemRecoveryCode", n), func(b *testing.B) {
			if next+b.N > 10*n {
				b.Skipf("%d redemptions need more than the %d codes of %d users; use -benchtime=Nx", next+b.N, 10*n, n)
			}
			b.ReportAllocs()
			first := next
			next += b.N
			for i := first; i < first+b.N; i++ {
				u := (i / 10 * 7919) % n // each user's ten codes, users scattered
				if err := redeem(svc, ctx, "user-"+strconv.Itoa(u), codeOf(u, i%10)); err != nil {
					b.Fatal(i, err)
				}
			}
		})
	}
}
