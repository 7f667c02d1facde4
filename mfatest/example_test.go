package mfatest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/mfatest"
)

// A Clock drives a Service's time and Code computes what the user's app
// shows: enrol, find the same code refused as a replay, and log in with
// the next one. In a test, NewService sets all of this up in one call.
func Example() {
	ctx := context.Background()
	clock := mfatest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	svc, err := mfa.New(mfa.Config{
		Issuer: "Example",
		Store:  memstore.New(),
		Now:    clock.Now,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close(ctx)

	enr, err := svc.Setup(ctx, "alice", "")
	if err != nil {
		panic(err)
	}
	_, err = svc.Enable(ctx, "alice", mfatest.Code(enr, clock.Now()))
	fmt.Println("enable:", err)

	_, err = svc.Verify(ctx, "alice", mfa.Credential{Code: mfatest.Code(enr, clock.Now())})
	fmt.Println("same code again is a replay:", errors.Is(err, mfa.ErrReplay))

	clock.Advance(30 * time.Second)
	v, err := svc.Verify(ctx, "alice", mfa.Credential{Code: mfatest.Code(enr, clock.Now())})
	fmt.Println("next code:", err, v.Method)
	// Output:
	// enable: <nil>
	// same code again is a replay: true
	// next code: <nil> totp
}

// The SHA1 test vector of RFC 6238 (Appendix B) at T = 59 s, cut to six
// digits: the secret is the ASCII "12345678901234567890" in base32.
func ExampleCodeForSecret() {
	fmt.Println(mfatest.CodeForSecret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", time.Unix(59, 0)))
	// Output: 287082
}
