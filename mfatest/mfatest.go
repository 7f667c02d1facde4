// Package mfatest helps hosts unit-test their own code against an
// mfa.Service: a settable Clock, the code an authenticator app shows at a
// given time (Code, CodeForSecret), and NewService, a Service on memstore
// with a fixed clock that logs nothing.
//
// A host's test reads:
//
//	func TestStepUp(t *testing.T) {
//		ctx := context.Background()
//		svc, clock := mfatest.NewService(t, mfa.Config{})
//		enr, err := svc.Setup(ctx, "alice", "")
//		require.NoError(t, err)
//		_, err = svc.Enable(ctx, "alice", mfatest.Code(enr, clock.Now()))
//		require.NoError(t, err)
//		clock.Advance(30 * time.Second) // the app shows the next code
//		_, err = svc.Verify(ctx, "alice", mfa.Credential{Code: mfatest.Code(enr, clock.Now())})
//		assert.NoError(t, err)
//	}
//
// The helpers panic or fail the test on misuse: import the package from
// _test.go files only (it imports testing, and pquerna/otp to compute codes
// independently of the Service).
package mfatest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

// Clock is a settable clock. Its Now method suits mfa.Config.Now. It is
// safe for concurrent use. The zero value reads as the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock that reads t until Set or Advance moves it.
func NewClock(t time.Time) *Clock {
	return &Clock{t: t}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t, forwards or backwards.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock by d; a negative d moves it back.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Code returns the code an authenticator app shows at t for enr, as
// returned by Service.Setup. It reads the secret, algorithm, digits and
// period from enr.URI, so it works for any mfa.Config. It panics if
// enr.URI is not an otpauth://totp/ URI with a base32 secret: it is a test
// helper, and a malformed URI is a bug in the test.
func Code(enr *mfa.Enrollment, t time.Time) string {
	key, err := otp.NewKeyFromURL(enr.URI)
	if err == nil && (!strings.HasPrefix(enr.URI, "otpauth://totp/") || key.Secret() == "") {
		err = errors.New("not an otpauth://totp/ URI with a secret")
	}
	if err != nil {
		panic(fmt.Sprintf("mfatest: Code: malformed Enrollment.URI: %v", err))
	}
	return generate("Code", key.Secret(), t, totp.ValidateOpts{
		Period:    uint(key.Period()),
		Digits:    key.Digits(),
		Algorithm: key.Algorithm(),
	})
}

// CodeForSecret returns the code an authenticator app shows at t for a
// secret in base32, as Enrollment.Secret holds it, with the default
// parameters of mfa.Config: SHA1, 6 digits, 30-second steps. For other
// parameters use Code. It panics if secret is not base32.
func CodeForSecret(secret string, t time.Time) string {
	return generate("CodeForSecret", secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

func generate(fn, secret string, t time.Time, opts totp.ValidateOpts) string {
	code, err := totp.GenerateCodeCustom(secret, t, opts)
	if err != nil {
		panic(fmt.Sprintf("mfatest: %s: %v", fn, err))
	}
	return code
}

// NewService returns a Service for tests, built from cfg with its zero
// fields filled: Issuer "Test", Store memstore.New(), Now a new Clock at
// 2026-01-01 00:00:00 UTC (midnight: the start of a time step of 30 s,
// 60 s or any period that divides a day), a Logger that discards
// everything (the warning mfa.New logs without Config.Keys included) and
// an Audit sink that discards every event, even when cfg.Logger is set.
// It returns that Clock; when cfg.Now is set, it keeps it and returns a
// nil Clock. NewService calls t.Fatal if mfa.New fails, and closes the
// Service when the test ends (t.Cleanup).
func NewService(t testing.TB, cfg mfa.Config) (*mfa.Service, *Clock) {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = "Test"
	}
	if cfg.Store == nil {
		cfg.Store = memstore.New()
	}
	var clock *Clock
	if cfg.Now == nil {
		clock = NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		cfg.Now = clock.Now
	}
	discard := slog.New(slog.DiscardHandler)
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	if cfg.Audit == nil {
		cfg.Audit = mfa.SlogAudit{Logger: discard}
	}
	svc, err := mfa.New(cfg)
	if err != nil {
		t.Fatalf("mfatest: NewService: %v", err)
	}
	// Close fails only when its context is done; Background never is.
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	return svc, clock
}
