package mfa_test

import (
	"bytes"
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is an AuditSink that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []mfa.Event
}

func (r *recorder) RecordEvent(_ context.Context, e mfa.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) all() []mfa.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mfa.Event(nil), r.events...)
}

type fixture struct {
	svc   *mfa.Service
	store *memstore.Store
	clock *clock
	audit *recorder
	ctx   context.Context
}

func newFixture(t *testing.T, edit ...func(*mfa.Config)) *fixture {
	f := &fixture{store: memstore.New(), clock: newClock(), audit: &recorder{}, ctx: context.Background()}
	cfg := mfa.Config{Issuer: "Example", Store: f.store, Now: f.clock.Now, Audit: f.audit}
	for _, e := range edit {
		e(&cfg)
	}
	svc, err := mfa.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	f.svc = svc
	return f
}

// events drains the audit queue and returns the events seen so far, each
// checked to have an ID of its own and its time.
func (f *fixture) events(t *testing.T) []mfa.Event {
	t.Helper()
	require.Eventually(t, func() bool { return len(f.audit.all()) > 0 }, time.Second, time.Millisecond)
	require.NoError(t, f.svc.Close(context.Background()))
	events := f.audit.all()
	ids := map[string]bool{}
	for _, e := range events {
		assert.NotEmpty(t, e.ID, "%s has an ID", e.Type)
		assert.False(t, ids[e.ID], "%s has an ID of its own", e.Type)
		ids[e.ID] = true
		assert.False(t, e.Time.IsZero(), "%s has its time", e.Type)
	}
	return events
}

// code computes the TOTP code for secret at the fixture's time plus offset,
// with pquerna/otp as an independent implementation.
func (f *fixture) code(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, f.clock.Now().Add(offset), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return code
}

// enabled enrols userID and returns the secret and the recovery codes.
func (f *fixture) enabled(t *testing.T, userID string) (string, []string) {
	t.Helper()
	enr, err := f.svc.Setup(f.ctx, userID, "")
	require.NoError(t, err)
	codes, err := f.svc.Enable(f.ctx, userID, f.code(t, enr.Secret, 0))
	require.NoError(t, err)
	f.clock.Advance(30 * time.Second) // the next check needs a fresh step
	return enr.Secret, codes
}

func TestNewValidatesConfig(t *testing.T) {
	store := memstore.New()
	for name, cfg := range map[string]mfa.Config{
		"no issuer":       {Store: store},
		"colon in issuer": {Issuer: "A:B", Store: store},
		"no store":        {Issuer: "A"},
		"7 digits":        {Issuer: "A", Store: store, Digits: 7},
		"bad algorithm":   {Issuer: "A", Store: store, Algorithm: mfa.Algorithm(9)},
		"fractional step": {Issuer: "A", Store: store, Period: 1500 * time.Millisecond},
		"negative period": {Issuer: "A", Store: store, Period: -time.Second},
		"negative lock":   {Issuer: "A", Store: store, Throttle: mfa.Throttle{Lockout: -1}},
		"negative queue":  {Issuer: "A", Store: store, AuditQueueSize: -1},
	} {
		_, err := mfa.New(cfg)
		assert.Error(t, err, name)
	}
	svc, err := mfa.New(mfa.Config{Issuer: "A", Store: store, Digits: 8, Algorithm: mfa.SHA512})
	require.NoError(t, err)
	assert.NoError(t, svc.Close(context.Background()))
}

func TestSetup(t *testing.T) {
	f := newFixture(t, func(c *mfa.Config) {
		c.Account = func(_ context.Context, userID string) (string, error) { return userID + "@example.com", nil }
	})
	enr, err := f.svc.Setup(f.ctx, "alice", "")
	require.NoError(t, err)
	assert.Len(t, enr.Secret, 32, "160 bits in unpadded base32")
	key, err := otp.NewKeyFromURL(enr.URI)
	require.NoError(t, err)
	assert.Equal(t, "Example", key.Issuer())
	assert.Equal(t, "alice@example.com", key.AccountName())
	assert.Equal(t, enr.Secret, key.Secret())
	assert.Equal(t, otp.DigitsSix, key.Digits())
	assert.True(t, strings.HasPrefix(enr.QRCodeDataURL(), "data:image/png;base64,iVBORw0KGgo"))

	again, err := f.svc.Setup(f.ctx, "alice", "")
	require.NoError(t, err)
	assert.NotEqual(t, enr.Secret, again.Secret, "a second setup mints a new secret")
	_, err = f.svc.Enable(f.ctx, "alice", f.code(t, enr.Secret, 0))
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "the replaced secret no longer enables")
	_, err = f.svc.Enable(f.ctx, "alice", f.code(t, again.Secret, 0))
	assert.NoError(t, err)

	_, err = f.svc.Setup(f.ctx, "alice", "")
	assert.ErrorIs(t, err, mfa.ErrAlreadyEnabled)
}

func TestSetupSecretSize(t *testing.T) {
	for alg, n := range map[mfa.Algorithm]int{mfa.SHA1: 32, mfa.SHA256: 52, mfa.SHA512: 103} {
		f := newFixture(t, func(c *mfa.Config) { c.Algorithm = alg })
		enr, err := f.svc.Setup(f.ctx, "u", "")
		require.NoError(t, err)
		assert.Len(t, enr.Secret, n, "%s", alg)
		assert.NotContains(t, enr.Secret, "=")
		assert.Contains(t, enr.URI, "algorithm="+alg.String())
	}
}

func TestSetupUserChecks(t *testing.T) {
	f := newFixture(t, func(c *mfa.Config) {
		c.Account = func(_ context.Context, userID string) (string, error) {
			switch userID {
			case "gone":
				return "", fmt.Errorf("lookup: %w", mfa.ErrUserNotFound)
			case "colon":
				return "a:b", nil
			case "broken":
				return "", errors.New("db down")
			}
			return userID, nil
		}
	})
	_, err := f.svc.Setup(f.ctx, "gone", "")
	assert.ErrorIs(t, err, mfa.ErrUserNotFound)
	_, err = f.svc.Setup(f.ctx, "colon", "")
	assert.ErrorIs(t, err, mfa.ErrInvalidInput)
	_, err = f.svc.Setup(f.ctx, "broken", "")
	assert.Error(t, err)
	assert.NotErrorIs(t, err, mfa.ErrUserNotFound)
	for _, id := range []string{"", strings.Repeat("x", 256), "\xff"} {
		_, err = f.svc.Setup(f.ctx, id, "")
		assert.ErrorIs(t, err, mfa.ErrInvalidInput)
	}
	_, err = f.svc.Enable(f.ctx, "gone", "123456")
	assert.ErrorIs(t, err, mfa.ErrUserNotFound)
	_, err = f.svc.Status(f.ctx, "gone")
	assert.ErrorIs(t, err, mfa.ErrUserNotFound)
	st, err := f.store.Get(f.ctx, "colon")
	require.NoError(t, err)
	assert.Equal(t, mfa.State{}, st, "a failed setup stores nothing")
}

func TestEnable(t *testing.T) {
	f := newFixture(t)
	enr, err := f.svc.Setup(f.ctx, "alice", "")
	require.NoError(t, err)
	status, err := f.svc.Status(f.ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, mfa.Status{SetupPending: true}, status)

	codes, err := f.svc.Enable(f.ctx, "alice", " "+f.code(t, enr.Secret, 0)+"\n")
	require.NoError(t, err)
	require.Len(t, codes, 10)
	for _, c := range codes {
		assert.Regexp(t, `^[A-Za-z0-9]{10}$`, c)
	}
	status, err = f.svc.Status(f.ctx, "alice")
	require.NoError(t, err)
	assert.True(t, status.Enabled)
	assert.False(t, status.SetupPending)
	assert.Equal(t, 10, status.RecoveryCodesRemaining)
	assert.Equal(t, []mfa.FactorInfo{{ID: enr.FactorID, Name: mfa.DefaultFactorName, Type: mfa.FactorTOTP,
		CreatedAt: f.clock.Now(), LastUsedAt: f.clock.Now()}}, status.Factors)

	_, err = f.svc.Enable(f.ctx, "alice", f.code(t, enr.Secret, 30*time.Second))
	assert.ErrorIs(t, err, mfa.ErrAlreadyEnabled)
}

func TestEnableErrors(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Enable(f.ctx, "nobody", "123456")
	assert.ErrorIs(t, err, mfa.ErrSetupNotStarted)

	enr, err := f.svc.Setup(f.ctx, "bob", "")
	require.NoError(t, err)
	right := f.code(t, enr.Secret, 0)
	for _, bad := range []string{"", "12345", "123456789", "  1234  "} {
		_, err := f.svc.Enable(f.ctx, "bob", bad)
		assert.ErrorIs(t, err, mfa.ErrInvalidInput, "%q", bad)
	}
	st, _ := f.store.Get(f.ctx, "bob")
	assert.Zero(t, st.Failures, "bad input is not a counted attempt")

	wrong := fmt.Sprintf("%06d", (atoi(right)+1)%1_000_000)
	for _, bad := range []string{wrong, "12a456", "12 456", "1234567"} {
		_, err := f.svc.Enable(f.ctx, "bob", bad)
		assert.ErrorIs(t, err, mfa.ErrInvalidCode, "%q", bad)
	}
	// Four failures so far; the budget of five is not spent yet.
	status, err := f.svc.Status(f.ctx, "bob")
	require.NoError(t, err)
	assert.False(t, status.Enabled)
	_, err = f.svc.Enable(f.ctx, "bob", right)
	assert.NoError(t, err)
}

func TestSkewWindow(t *testing.T) {
	for offset, ok := range map[time.Duration]bool{
		-60 * time.Second: false, -30 * time.Second: true, 0: true, 30 * time.Second: true, 60 * time.Second: false,
	} {
		f := newFixture(t)
		enr, err := f.svc.Setup(f.ctx, "u", "")
		require.NoError(t, err)
		_, err = f.svc.Enable(f.ctx, "u", f.code(t, enr.Secret, offset))
		if ok {
			assert.NoError(t, err, "offset %s", offset)
		} else {
			assert.ErrorIs(t, err, mfa.ErrInvalidCode, "offset %s", offset)
		}
	}
}

func TestReplayRefused(t *testing.T) {
	f := newFixture(t)
	enr, err := f.svc.Setup(f.ctx, "carol", "")
	require.NoError(t, err)
	code := f.code(t, enr.Secret, 0)
	_, err = f.svc.Enable(f.ctx, "carol", code)
	require.NoError(t, err)

	// The enable code counts: the same code, and the step before, are refused.
	err = verifyCode(f.svc, f.ctx, "carol", code)
	assert.ErrorIs(t, err, mfa.ErrReplay)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode)
	assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "carol", f.code(t, enr.Secret, -30*time.Second)), mfa.ErrReplay)

	// The next step is fresh, once.
	next := f.code(t, enr.Secret, 30*time.Second)
	require.NoError(t, verifyCode(f.svc, f.ctx, "carol", next))
	f.clock.Advance(30 * time.Second)
	assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "carol", next), mfa.ErrReplay)

	events := f.events(t)
	var reasons []string
	for _, e := range events {
		if e.Type == mfa.EventChallengeFailed {
			reasons = append(reasons, e.Reason)
		}
	}
	assert.Equal(t, []string{mfa.ReasonReplay, mfa.ReasonReplay, mfa.ReasonReplay}, reasons)
}

func TestVerifyNotEnabled(t *testing.T) {
	f := newFixture(t)
	assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "nobody", "123456"), mfa.ErrNotEnabled)
	_, err := f.svc.Setup(f.ctx, "pending", "")
	require.NoError(t, err)
	assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "pending", "123456"), mfa.ErrNotEnabled)
	assert.ErrorIs(t, redeem(f.svc, f.ctx, "pending", "AAAAAAAAAA"), mfa.ErrNotEnabled)
}

func TestThrottle(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.enabled(t, "dave")
	wrong := func() string { return fmt.Sprintf("%06d", (atoi(f.code(t, secret, 0))+1)%1_000_000) }

	for i := 0; i < 5; i++ {
		assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "dave", wrong()), mfa.ErrInvalidCode, "failure %d", i+1)
	}
	// Locked: even the right code is refused, with the wait.
	err := verifyCode(f.svc, f.ctx, "dave", f.code(t, secret, 0))
	var limited *mfa.RateLimitError
	require.ErrorAs(t, err, &limited)
	assert.ErrorIs(t, err, mfa.ErrRateLimited)
	assert.Equal(t, 30*time.Second, limited.RetryAfter)
	f.clock.Advance(10 * time.Second)
	require.ErrorAs(t, redeem(f.svc, f.ctx, "dave", "AAAAAAAAAA"), &limited)
	assert.Equal(t, 20*time.Second, limited.RetryAfter)

	// After the lockout, five more failures lock for twice as long.
	f.clock.Advance(20 * time.Second)
	for i := 0; i < 5; i++ {
		assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "dave", wrong()), mfa.ErrInvalidCode)
	}
	require.ErrorAs(t, verifyCode(f.svc, f.ctx, "dave", f.code(t, secret, 0)), &limited)
	assert.Equal(t, 60*time.Second, limited.RetryAfter)

	// A success resets the count and the doubling.
	f.clock.Advance(60 * time.Second)
	require.NoError(t, verifyCode(f.svc, f.ctx, "dave", f.code(t, secret, 0)))
	st, err := f.store.Get(f.ctx, "dave")
	require.NoError(t, err)
	assert.Zero(t, st.Failures)
	assert.Zero(t, st.Lockouts)

	var locked int
	for _, e := range f.events(t) {
		if e.Type == mfa.EventLocked {
			locked++
		}
	}
	assert.Equal(t, 2, locked, "each lockout is audited once")
}

// After MaxLockouts lockouts without a success the lock is permanent: at
// most 100 consecutive failures by default (NIST SP 800-63B 5.2.2).
func TestThrottlePermanentAfterMaxLockouts(t *testing.T) {
	f := newFixture(t, func(c *mfa.Config) { c.Throttle = mfa.Throttle{MaxFailures: 2, MaxLockouts: 3} })
	secret, _ := f.enabled(t, "perm")
	var limited *mfa.RateLimitError
	for lockout, want := range []time.Duration{30 * time.Second, 60 * time.Second, 0} {
		for i := 0; i < 2; i++ {
			require.ErrorIs(t, verifyCode(f.svc, f.ctx, "perm", "000000"), mfa.ErrInvalidCode, "lockout %d", lockout)
		}
		require.ErrorAs(t, verifyCode(f.svc, f.ctx, "perm", f.code(t, secret, 0)), &limited)
		assert.Equal(t, want, limited.RetryAfter)
		assert.Equal(t, want == 0, limited.Permanent, "the third lockout no longer ends by itself")
		f.clock.Advance(limited.RetryAfter)
	}
	f.clock.Advance(24 * time.Hour)
	require.ErrorAs(t, verifyCode(f.svc, f.ctx, "perm", f.code(t, secret, 0)), &limited)
	assert.True(t, limited.Permanent, "still locked a day later")

	// The defaults: the 100th consecutive failure locks for good.
	f = newFixture(t)
	secret, _ = f.enabled(t, "nist")
	failures := 0
	for {
		err := verifyCode(f.svc, f.ctx, "nist", "000000")
		if errors.As(err, &limited) {
			if limited.Permanent {
				break
			}
			f.clock.Advance(limited.RetryAfter)
			continue
		}
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
		failures++
		require.LessOrEqual(t, failures, 100)
	}
	assert.Equal(t, 100, failures)

	// Support staff can lift it, which is audited.
	require.NoError(t, f.svc.Unlock(f.ctx, "nist"))
	assert.NoError(t, verifyCode(f.svc, f.ctx, "nist", f.code(t, secret, 30*time.Second)))
	assert.Contains(t, eventTypes(f.events(t)), mfa.EventUnlocked)
}

// eventTypes returns the types of events, in order.
func eventTypes(events []mfa.Event) []mfa.EventType {
	types := make([]mfa.EventType, len(events))
	for i, e := range events {
		types[i] = e.Type
	}
	return types
}

func TestThrottleConfigurable(t *testing.T) {
	f := newFixture(t, func(c *mfa.Config) { c.Throttle = mfa.Throttle{MaxFailures: 2, Lockout: time.Minute} })
	f.enabled(t, "erin")
	assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "erin", "000000"), mfa.ErrInvalidCode)
	assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "erin", "000000"), mfa.ErrInvalidCode)
	var limited *mfa.RateLimitError
	require.ErrorAs(t, verifyCode(f.svc, f.ctx, "erin", "000000"), &limited)
	assert.Equal(t, time.Minute, limited.RetryAfter)
}

func TestRecoveryCodes(t *testing.T) {
	ring, err := mfa.NewKeyRing(mfa.Key{ID: "k1", Secret: bytes.Repeat([]byte("k"), 32)})
	require.NoError(t, err)
	f := newFixture(t, func(c *mfa.Config) { c.Keys = ring })
	_, codes := f.enabled(t, "frank")
	_, others := f.enabled(t, "grace")

	require.NoError(t, redeem(f.svc, f.ctx, "frank", codes[0]))
	assert.ErrorIs(t, redeem(f.svc, f.ctx, "frank", codes[0]), mfa.ErrInvalidCode, "each code works once")
	assert.ErrorIs(t, redeem(f.svc, f.ctx, "frank", others[1]), mfa.ErrInvalidCode, "another user's code")
	assert.ErrorIs(t, redeem(f.svc, f.ctx, "frank", "short"), mfa.ErrInvalidInput)
	require.NoError(t, redeem(f.svc, f.ctx, "frank", " "+codes[1]+" "))
	status, err := f.svc.Status(f.ctx, "frank")
	require.NoError(t, err)
	assert.Equal(t, 8, status.RecoveryCodesRemaining)
}

func TestConcurrentEnableOneWins(t *testing.T) {
	f := newFixture(t)
	enr, err := f.svc.Setup(f.ctx, "heidi", "")
	require.NoError(t, err)
	code := f.code(t, enr.Secret, 0)
	var wg sync.WaitGroup
	results := make([]error, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = f.svc.Enable(f.ctx, "heidi", code)
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		if err == nil {
			wins++
			continue
		}
		assert.True(t, errors.Is(err, mfa.ErrAlreadyEnabled) || errors.Is(err, mfa.ErrInvalidCode) || errors.Is(err, mfa.ErrRateLimited), "%v", err)
	}
	assert.Equal(t, 1, wins)
}

// failingStore fails every call with a driver-like error.
type failingStore struct{ mfa.Store }

var errDriver = errors.New("driver: connection refused")

func (failingStore) Get(context.Context, string) (mfa.State, error) { return mfa.State{}, errDriver }
func (failingStore) SetPending(context.Context, string, mfa.Factor, []mfa.Event) error {
	return errDriver
}
func (failingStore) ReserveAttempt(context.Context, string, mfa.Attempt) (mfa.Reservation, error) {
	return mfa.Reservation{}, errDriver
}

func TestStoreErrorsWrapCause(t *testing.T) {
	f := newFixture(t, func(c *mfa.Config) { c.Store = failingStore{} })
	_, err := f.svc.Setup(f.ctx, "u", "")
	assert.ErrorIs(t, err, mfa.ErrStore)
	assert.ErrorIs(t, err, errDriver)
	var se *mfa.StoreError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "SetPending", se.Op)
	_, err = f.svc.Enable(f.ctx, "u", "123456")
	assert.ErrorIs(t, err, mfa.ErrStore)
	_, err = f.svc.Status(f.ctx, "u")
	assert.ErrorIs(t, err, mfa.ErrStore)
}

func TestAuditEvents(t *testing.T) {
	f := newFixture(t)
	ctx := mfa.WithRequestInfo(f.ctx, mfa.RequestInfo{IP: "192.0.2.1", UserAgent: "test"})
	enr, err := f.svc.Setup(ctx, "ivan", "")
	require.NoError(t, err)
	_, err = f.svc.Enable(ctx, "ivan", "000000")
	require.ErrorIs(t, err, mfa.ErrInvalidCode)
	codes, err := f.svc.Enable(ctx, "ivan", f.code(t, enr.Secret, 0))
	require.NoError(t, err)
	require.NoError(t, redeem(f.svc, ctx, "ivan", codes[0]))

	events := f.events(t)
	var types []mfa.EventType
	for _, e := range events {
		types = append(types, e.Type)
		assert.Equal(t, "ivan", e.UserID)
		assert.Equal(t, "192.0.2.1", e.Request.IP)
		assert.Equal(t, f.clock.Now(), e.Time)
		text := fmt.Sprintf("%+v", e)
		assert.NotContains(t, text, enr.Secret)
		for _, c := range codes {
			assert.NotContains(t, text, c)
		}
	}
	assert.Equal(t, []mfa.EventType{mfa.EventSetupStarted, mfa.EventChallengeFailed, mfa.EventEnabled,
		mfa.EventRecoveryCodeUsed, mfa.EventChallengeSucceeded}, types)
	ids := map[string]bool{}
	for _, e := range events {
		assert.Regexp(t, `^[A-Z2-7]{16}-[0-9a-z]{1,13}$`, e.ID, "every event has an ID: the Service's prefix and a sequence number")
		assert.False(t, ids[e.ID], "IDs are unique")
		ids[e.ID] = true
	}
	assert.Equal(t, enr.FactorID, events[0].FactorID, "setup names its factor")
	assert.Equal(t, enr.FactorID, events[2].FactorID, "enable names the factor it activated")
}

// blockingSink holds every delivery until released.
type blockingSink struct {
	release chan struct{}
	n       int
	mu      sync.Mutex
}

func (b *blockingSink) RecordEvent(context.Context, mfa.Event) error {
	<-b.release
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	return nil
}

func TestAuditQueueNeverBlocksAndDrains(t *testing.T) {
	var logs bytes.Buffer
	sink := &blockingSink{release: make(chan struct{})}
	f := newFixture(t, func(c *mfa.Config) {
		c.Audit = sink
		c.AuditQueueSize = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 10; i++ {
			_, err := f.svc.Setup(f.ctx, fmt.Sprintf("u%d", i), "")
			assert.NoError(t, err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("requests blocked on a slow audit sink")
	}
	assert.Contains(t, logs.String(), "audit event dropped", "overflow is logged, never silent")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, f.svc.Close(ctx), context.DeadlineExceeded, "Close waits for the sink")
	close(sink.release)
	require.NoError(t, f.svc.Close(context.Background()))
	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.GreaterOrEqual(t, sink.n, 2, "queued events are delivered on Close")
	assert.LessOrEqual(t, sink.n, 3)
}

func TestDeterministicRand(t *testing.T) {
	secrets := make([]string, 2)
	for i := range secrets {
		f := newFixture(t, func(c *mfa.Config) { c.Rand = bytes.NewReader(bytes.Repeat([]byte{1}, 4096)) })
		enr, err := f.svc.Setup(f.ctx, "u", "")
		require.NoError(t, err)
		secrets[i] = enr.Secret
	}
	assert.Equal(t, secrets[0], secrets[1])
	assert.Equal(t, "AEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIB", secrets[0])
}

func TestDeleteUser(t *testing.T) {
	f := newFixture(t)
	_, codes := f.enabled(t, "judy")
	require.NoError(t, f.svc.DeleteUser(f.ctx, "judy"))
	status, err := f.svc.Status(f.ctx, "judy")
	require.NoError(t, err)
	assert.Equal(t, mfa.Status{}, status)
	assert.ErrorIs(t, redeem(f.svc, f.ctx, "judy", codes[0]), mfa.ErrNotEnabled)
	events := f.events(t)
	require.Len(t, events, 3)
	assert.Equal(t, mfa.EventUserDeleted, events[2].Type, "after setup_started and enabled")
	assert.Equal(t, "judy", events[2].UserID)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// verifyCode checks a TOTP code with Service.Verify.
func verifyCode(svc *mfa.Service, ctx context.Context, userID, code string) error {
	_, err := svc.Verify(ctx, userID, mfa.Credential{Code: code})
	return err
}

// redeem checks and uses up a recovery code with Service.Verify.
func redeem(svc *mfa.Service, ctx context.Context, userID, code string) error {
	_, err := svc.Verify(ctx, userID, mfa.Credential{RecoveryCode: code})
	return err
}
