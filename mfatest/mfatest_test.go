package mfatest_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/mfatest"
)

var ctx = context.Background()

// The secrets of RFC 6238 Appendix B in base32: ASCII "1234567890"
// repeated to the HMAC's output size.
const (
	rfcSHA1   = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	rfcSHA256 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
	rfcSHA512 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA"
)

// Code reads the algorithm and the digits from the URI: the 8-digit test
// vectors of RFC 6238 for all three algorithms.
func TestCodeRFC6238(t *testing.T) {
	for _, v := range []struct {
		unix             int64
		sha1, sha2, sha5 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1234567890, "89005924", "91819424", "93441116"},
		{20000000000, "65353130", "77737706", "47863826"},
	} {
		at := time.Unix(v.unix, 0)
		for alg, secret := range map[string]string{"SHA1": rfcSHA1, "SHA256": rfcSHA256, "SHA512": rfcSHA512} {
			want := map[string]string{"SHA1": v.sha1, "SHA256": v.sha2, "SHA512": v.sha5}[alg]
			enr := &mfa.Enrollment{URI: "otpauth://totp/RFC:test?secret=" + secret + "&issuer=RFC&algorithm=" + alg + "&digits=8&period=30"}
			assert.Equal(t, want, mfatest.Code(enr, at), "%s at %d", alg, v.unix)
		}
		assert.Equal(t, v.sha1[2:], mfatest.CodeForSecret(rfcSHA1, at), "6 digits at %d", v.unix)
	}
}

// The code Code computes is the one the Service accepts, for the default
// parameters and for others, which reach Code only through the URI.
func TestCodeIsAcceptedByService(t *testing.T) {
	for name, cfg := range map[string]mfa.Config{
		"default":         {},
		"8 digits SHA256": {Digits: 8, Algorithm: mfa.SHA256},
		"SHA512 60s":      {Algorithm: mfa.SHA512, Period: time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			svc, clock := mfatest.NewService(t, cfg)
			enr, err := svc.Setup(ctx, "alice", "")
			require.NoError(t, err)
			code := mfatest.Code(enr, clock.Now())
			digits := max(cfg.Digits, 6)
			assert.Len(t, code, digits)
			if name == "default" {
				assert.Equal(t, mfatest.CodeForSecret(enr.Secret, clock.Now()), code)
			}
			codes, err := svc.Enable(ctx, "alice", code)
			require.NoError(t, err)
			assert.Len(t, codes, mfa.RecoveryCodeCount)
		})
	}
}

// Advance moves the clock through the time steps: within a step the app
// shows the code just used (a replay), from the next step on a fresh one.
func TestAdvanceMovesToTheNextStep(t *testing.T) {
	for _, period := range []time.Duration{30 * time.Second, time.Minute} {
		t.Run(period.String(), func(t *testing.T) {
			svc, clock := mfatest.NewService(t, mfa.Config{Period: period})
			enr, err := svc.Setup(ctx, "alice", "")
			require.NoError(t, err)
			_, err = svc.Enable(ctx, "alice", mfatest.Code(enr, clock.Now()))
			require.NoError(t, err)

			clock.Advance(period - time.Second)
			_, err = svc.Verify(ctx, "alice", mfa.Credential{Code: mfatest.Code(enr, clock.Now())})
			assert.ErrorIs(t, err, mfa.ErrReplay, "same step")
			clock.Advance(time.Second)
			_, err = svc.Verify(ctx, "alice", mfa.Credential{Code: mfatest.Code(enr, clock.Now())})
			assert.NoError(t, err, "next step")
		})
	}
}

// panicMessage returns what f panics with, or "" when it returns.
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestCodePanicsOnMalformedInput(t *testing.T) {
	for _, uri := range []string{
		"",
		"%zz",
		"https://example.com/?secret=" + rfcSHA1,
		"otpauth://hotp/X:a?secret=" + rfcSHA1 + "&counter=0",
		"otpauth://totp/X:a?issuer=X",
		"otpauth://totp/X:a?secret=not-base32!",
	} {
		msg := panicMessage(func() { mfatest.Code(&mfa.Enrollment{URI: uri}, time.Now()) })
		assert.True(t, strings.HasPrefix(msg, "mfatest: Code: "), "URI %q: panic %q", uri, msg)
	}
	msg := panicMessage(func() { mfatest.CodeForSecret("not-base32!", time.Now()) })
	assert.True(t, strings.HasPrefix(msg, "mfatest: CodeForSecret: "), "panic %q", msg)
}

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := mfatest.NewClock(t0)
	assert.Equal(t, t0, c.Now())
	c.Advance(90 * time.Second)
	assert.Equal(t, t0.Add(90*time.Second), c.Now())
	c.Advance(-time.Minute)
	assert.Equal(t, t0.Add(30*time.Second), c.Now())
	t1 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Set(t1)
	assert.Equal(t, t1, c.Now())
	assert.True(t, new(mfatest.Clock).Now().IsZero(), "the zero Clock")
}

// Run with -race: Now, Set and Advance from many goroutines.
func TestClockConcurrent(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	counted, set := mfatest.NewClock(t0), mfatest.NewClock(t0)
	t1 := t0.Add(time.Hour)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				counted.Advance(time.Second)
				_ = counted.Now()
				set.Set(t1)
				if now := set.Now(); !now.Equal(t0) && !now.Equal(t1) {
					t.Errorf("Now read %v, never set", now)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, t0.Add(8*500*time.Second), counted.Now(), "no Advance lost")
	assert.Equal(t, t1, set.Now())
}

func TestNewServiceDefaults(t *testing.T) {
	svc, clock := mfatest.NewService(t, mfa.Config{})
	require.NotNil(t, clock)
	assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), clock.Now())
	enr, err := svc.Setup(ctx, "alice", "")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enr.URI, "otpauth://totp/Test:alice?"), enr.URI)
}

// The fields set in cfg are kept: a fixed Now gives a nil Clock.
func TestNewServiceKeepsConfig(t *testing.T) {
	store := memstore.New()
	at := time.Date(2030, 6, 1, 8, 0, 10, 0, time.UTC)
	svc, clock := mfatest.NewService(t, mfa.Config{Issuer: "Acme", Store: store, Now: func() time.Time { return at }, Digits: 8})
	assert.Nil(t, clock)
	enr, err := svc.Setup(ctx, "bob", "")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enr.URI, "otpauth://totp/Acme:bob?"), enr.URI)
	st, err := store.Get(ctx, "bob")
	require.NoError(t, err)
	assert.Len(t, st.Factors, 1, "the Service uses the store given")
	_, err = svc.Enable(ctx, "bob", mfatest.Code(enr, at))
	assert.NoError(t, err, "the Service uses the Now given")
}

// lifecycle runs checks that succeed and fail, so that the Service emits
// audit events, then closes it to deliver them.
func lifecycle(t *testing.T, svc *mfa.Service, at time.Time) {
	enr, err := svc.Setup(ctx, "alice", "")
	require.NoError(t, err)
	_, err = svc.Enable(ctx, "alice", "00000000")
	require.ErrorIs(t, err, mfa.ErrInvalidCode)
	_, err = svc.Enable(ctx, "alice", mfatest.Code(enr, at))
	require.NoError(t, err)
	_, err = svc.Verify(ctx, "alice", mfa.Credential{Code: mfatest.Code(enr, at)})
	require.ErrorIs(t, err, mfa.ErrReplay)
	require.NoError(t, svc.Close(ctx))
}

// Not in parallel with other tests: it replaces slog.Default.
func TestNewServiceLogsNothing(t *testing.T) {
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	svc, clock := mfatest.NewService(t, mfa.Config{}) // no Keys: mfa.New warns
	lifecycle(t, svc, clock.Now())
	assert.Empty(t, logs.String())
}

// With a Logger of the test's own, the Service's warnings reach it but
// the audit events still do not.
func TestNewServiceAuditDiscards(t *testing.T) {
	var logs bytes.Buffer
	svc, clock := mfatest.NewService(t, mfa.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	lifecycle(t, svc, clock.Now())
	assert.Contains(t, logs.String(), "no key ring configured", "the Logger given is used")
	assert.NotContains(t, logs.String(), "auth.mfa")
}

// fatalTB records Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestNewServiceFatalOnBadConfig(t *testing.T) {
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		mfatest.NewService(tb, mfa.Config{Digits: 7})
		tb.msg = "NewService returned"
	}()
	<-done
	assert.Contains(t, tb.msg, "Digits must be 6 or 8")
}

// counter is an AuditSink that counts events.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) RecordEvent(context.Context, mfa.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return nil
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// When the test ends, the Service is closed: its queued events are
// delivered, and later ones dropped.
func TestNewServiceClosesAtCleanup(t *testing.T) {
	audit := &counter{}
	var svc *mfa.Service
	t.Run("host test", func(t *testing.T) {
		svc, _ = mfatest.NewService(t, mfa.Config{Audit: audit})
		_, err := svc.Setup(ctx, "alice", "")
		require.NoError(t, err)
	})
	assert.Equal(t, 1, audit.count(), "delivered by Close")
	_, err := svc.Setup(ctx, "bob", "")
	require.NoError(t, err)
	require.NoError(t, svc.Close(ctx))
	assert.Equal(t, 1, audit.count(), "dropped after Close")
}
