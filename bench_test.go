package mfa_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

// Benchmarks run on memstore with a discarding audit sink. Each benchmark
// that has a floor reports its ratio to it, measured in the same process,
// as the metric "x-floor".

var benchNow = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

type nopSink struct{}

func (nopSink) RecordEvent(context.Context, mfa.Event) error { return nil }

func benchService(b *testing.B, store mfa.Store, throttle mfa.Throttle) *mfa.Service {
	b.Helper()
	svc, err := mfa.New(mfa.Config{Issuer: "Bench", Store: store, Now: func() time.Time { return benchNow }, Audit: nopSink{}, Throttle: throttle, AuditQueueSize: 1 << 16, Logger: discardLogger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Close(context.Background()) })
	return svc
}

// enrolled stores a user with MFA enabled straight into store, with one
// TOTP factor for each secret and the given recovery-code hashes.
func enrolled(b *testing.B, store mfa.Store, userID string, codes [][]byte, secrets ...[]byte) {
	ctx := context.Background()
	for i, secret := range secrets {
		f := mfa.Factor{ID: fmt.Sprintf("%s-f%d", userID, i), Type: mfa.FactorTOTP, Name: "App", Secret: secret, CreatedAt: benchNow}
		var err error
		if i == 0 {
			if err = store.SetPending(ctx, userID, f, nil); err == nil {
				err = store.Enable(ctx, userID, mfa.Enablement{FactorID: f.ID, Counter: 1, RecoveryCodes: codes}, nil)
			}
		} else {
			proof := mfa.Proof{FactorID: userID + "-f0", Counter: int64(1 + i)}
			if err = store.AddFactor(ctx, userID, proof, f, len(secrets), nil); err == nil {
				err = store.ConfirmFactor(ctx, userID, mfa.Confirmation{FactorID: f.ID, Counter: 1}, len(secrets), nil)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchCode(b *testing.B, secret []byte, t time.Time) string {
	code, err := totp.GenerateCodeCustom(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret), t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		b.Fatal(err)
	}
	return code
}

// floorTOTPInvalid is the least work any TOTP check must do: HMAC-SHA1
// keyed with the (already decoded) secret over the three steps of a ±1
// window, each truncated and compared in constant time. It runs n checks of
// a code that never matches.
func floorTOTPInvalid(key []byte, n int) {
	step := uint64(benchNow.Unix() / 30)
	const submitted = 999_999_999 // never matches a 6-digit code
	matched := 0
	for i := 0; i < n; i++ {
		mac := hmac.New(sha1.New, key)
		var msg [8]byte
		var sum [sha1.Size]byte
		for s := step - 1; s <= step+1; s++ {
			binary.BigEndian.PutUint64(msg[:], s)
			mac.Reset()
			mac.Write(msg[:])
			h := mac.Sum(sum[:0])
			off := h[len(h)-1] & 0x0f
			code := (binary.BigEndian.Uint32(h[off:]) & 0x7fffffff) % 1_000_000
			matched |= subtle.ConstantTimeEq(int32(code), submitted)
		}
	}
	if matched != 0 {
		panic("floor matched")
	}
}

// measure runs op b.N times under the benchmark timer, interleaved in
// blocks with floors times as many floor checks outside it, and reports the
// ratio of the two times as "x-floor": both run under the same conditions
// (CPU frequency, the other core's load, the garbage collector), which
// drift more than the differences measured. Blocks keep the timer's own
// cost out of the figures.
func measure(b *testing.B, floors int, op func(i int)) {
	const block = 256
	key := make([]byte, 20)
	rand.Read(key)
	b.ReportAllocs()
	b.ResetTimer()
	var floorTime time.Duration
	for done := 0; done < b.N; done += block {
		end := min(done+block, b.N)
		for i := done; i < end; i++ {
			op(i)
		}
		b.StopTimer()
		start := time.Now()
		floorTOTPInvalid(key, (end-done)*floors)
		floorTime += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed())/float64(floorTime), "x-floor")
}

func BenchmarkFloorTOTPInvalid(b *testing.B) {
	key := make([]byte, 20)
	rand.Read(key)
	b.ReportAllocs()
	b.ResetTimer()
	floorTOTPInvalid(key, b.N)
}

// BenchmarkVerifyInvalidCode: a wrong code through the full check path:
// failure-budget reservation, HMAC over three steps of each of the user's
// authenticators, failure audit event; for a user with one and with five
// authenticators. "x-floor" is the time per authenticator over the floor,
// so that five authenticators compare with five floors. The budget is large
// enough never to lock during the run, so every iteration does the same
// work.
func BenchmarkVerifyInvalidCode(b *testing.B) {
	for _, factors := range []int{1, 5} {
		b.Run(fmt.Sprintf("factors=%d", factors), func(b *testing.B) {
			store := memstore.New()
			svc := benchService(b, store, mfa.Throttle{MaxFailures: 1 << 62})
			secrets := make([][]byte, factors)
			wrong := "000000"
			for i := range secrets {
				secrets[i] = make([]byte, 20)
				rand.Read(secrets[i])
				if benchCode(b, secrets[i], benchNow) == wrong {
					b.Skip("a random secret's code is 000000; run again")
				}
			}
			enrolled(b, store, "u", nil, secrets...)
			ctx := context.Background()
			measure(b, factors, func(int) {
				if err := verifyCode(svc, ctx, "u", wrong); err != mfa.ErrInvalidCode {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkEnable: a correct code for a pending secret, ten recovery codes
// drawn and hashed, one atomic store enable. Each iteration enables a
// user whose pending secret was stored before the timer started.
func BenchmarkEnable(b *testing.B) {
	store := memstore.New()
	svc := benchService(b, store, mfa.Throttle{})
	ctx := context.Background()
	users := make([]string, b.N)
	codes := make([]string, b.N)
	for i := range users {
		secret := make([]byte, 20)
		rand.Read(secret)
		users[i] = fmt.Sprintf("user-%d", i)
		f := mfa.Factor{ID: "f-" + users[i], Type: mfa.FactorTOTP, Name: "App", Secret: secret, CreatedAt: benchNow}
		if err := store.SetPending(ctx, users[i], f, nil); err != nil {
			b.Fatal(err)
		}
		codes[i] = benchCode(b, secret, benchNow)
	}
	measure(b, 1, func(i int) {
		if _, err := svc.Enable(ctx, users[i], codes[i]); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRedeemRecoveryCode: a valid recovery code checked and consumed.
// A pool of 1,000 users with ten codes each is enrolled before the timer
// starts and re-enrolled, outside the timer, whenever its codes run out, so
// that the heap stays the size of the pool.
func BenchmarkRedeemRecoveryCode(b *testing.B) {
	const users = 1000
	store := memstore.New()
	svc := benchService(b, store, mfa.Throttle{})
	ctx := context.Background()
	secret := make([]byte, 20)
	rand.Read(secret)
	codes := make([][]string, users)
	enrol := func() {
		for u := range codes {
			user := "user-" + strconv.Itoa(u)
			codes[u] = make([]string, 10)
			for k := range codes[u] {
				codes[u][k] = fmt.Sprintf("R%03d%06d", k, u)
			}
			if err := store.Delete(ctx, user, nil); err != nil {
				b.Fatal(err)
			}
			enrolled(b, store, user, svc.RecoveryCodeHashes(user, codes[u]), secret)
		}
	}
	enrol()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % (users * 10)
		if j == 0 && i > 0 {
			b.StopTimer()
			enrol()
			b.StartTimer()
		}
		u := j / 10
		if err := redeem(svc, ctx, "user-"+strconv.Itoa(u), codes[u][j%10]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetup: a fresh secret, its otpauth URI, the QR code PNG and the
// pending secret stored.
func BenchmarkSetup(b *testing.B) {
	svc := benchService(b, memstore.New(), mfa.Throttle{})
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := svc.Setup(ctx, "user", ""); err != nil {
			b.Fatal(err)
		}
	}
}
