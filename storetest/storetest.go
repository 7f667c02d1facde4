// Package storetest is the conformance suite for mfa.Store
// implementations. Every store in this module runs it, and so can a
// third-party store (Redis, DynamoDB, …):
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) mfa.Store { return mystore.New(…) })
//	}
//
// The suite checks each method's documented contract (not-found, repeat
// calls, lockout arithmetic, nothing changed on error) and races 50
// goroutines against the operations that must happen at most once. The
// stores it gets may share one database: every case uses user IDs of its
// own.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// Racers is the number of goroutines in each race case.
const Racers = 50

// T0 is the time the suite's clock starts at: a whole second, so that a
// store keeping time at second or millisecond precision compares exactly.
var T0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

var throttle = mfa.Throttle{MaxFailures: 3, Lockout: 30 * time.Second, MaxLockout: 100 * time.Second}

// Run runs the suite. newStore is called once per case; the stores it
// returns may share their backing database.
func Run(t *testing.T, newStore func(t *testing.T) mfa.Store) {
	prefix := randomHex(6)
	for _, c := range append(cases, lifecycleCases...) {
		t.Run(c.name, func(t *testing.T) {
			h := &harness{t: t, store: newStore(t), ctx: context.Background(), prefix: prefix + "-" + c.name}
			c.run(h)
		})
	}
}

type harness struct {
	t      *testing.T
	store  mfa.Store
	ctx    context.Context
	prefix string
	n      int
}

// user returns a user ID no other case uses.
func (h *harness) user() string {
	h.n++
	return fmt.Sprintf("%s-%d", h.prefix, h.n)
}

func (h *harness) get(userID string) mfa.State {
	st, err := h.store.Get(h.ctx, userID)
	require.NoError(h.t, err)
	return st
}

// enabled returns a user with MFA enabled at step 100 and the given codes.
func (h *harness) enabled(codes ...[]byte) (string, []byte) {
	u := h.user()
	secret := randomBytes(20)
	require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
	require.NoError(h.t, h.store.Enable(h.ctx, u, mfa.Enablement{Secret: secret, Step: 100, RecoveryCodes: codes}))
	return u, secret
}

func (h *harness) reserve(userID string, enabled bool, now time.Time) (mfa.State, error) {
	return h.store.ReserveAttempt(h.ctx, userID, mfa.Attempt{Enabled: enabled, Now: now, Throttle: throttle})
}

// race runs f in Racers goroutines released at once and returns their errors.
func race(f func(i int) error) []error {
	errs := make([]error, Racers)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range errs {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// tally counts nil errors and requires every other error to match one of
// allowed.
func tally(t *testing.T, errs []error, allowed ...error) int {
	t.Helper()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || errors.Is(err, a)
		}
		assert.True(t, ok, "unexpected error: %v", err)
	}
	return wins
}

type testCase struct {
	name string
	run  func(h *harness)
}

var cases = []testCase{
	{"GetUnknownUser", func(h *harness) {
		assert.Equal(h.t, mfa.State{}, h.get(h.user()))
	}},
	{"SetPendingCreatesAndReplaces", func(h *harness) {
		u := h.user()
		first, second := randomBytes(20), randomBytes(32)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, first))
		st := h.get(u)
		assert.True(h.t, st.Exists)
		assert.False(h.t, st.Enabled)
		assert.Equal(h.t, first, st.Secret)
		assert.Zero(h.t, st.RecoveryCodes)

		require.NoError(h.t, h.store.SetPending(h.ctx, u, second))
		assert.Equal(h.t, second, h.get(u).Secret)
	}},
	{"SetPendingKeepsStepAndFailures", func(h *harness) {
		u := h.user()
		require.NoError(h.t, h.store.SetPending(h.ctx, u, randomBytes(20)))
		_, err := h.reserve(u, false, T0)
		require.NoError(h.t, err)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, randomBytes(20)))
		assert.Equal(h.t, 1, h.get(u).Failures, "a new setup must not reset the failure budget")
	}},
	{"SetPendingWhenEnabled", func(h *harness) {
		u, secret := h.enabled()
		err := h.store.SetPending(h.ctx, u, randomBytes(20))
		assert.ErrorIs(h.t, err, mfa.ErrAlreadyEnabled)
		st := h.get(u)
		assert.True(h.t, st.Enabled)
		assert.Equal(h.t, secret, st.Secret, "nothing changes")
	}},
	{"ReturnedSecretIsACopy", func(h *harness) {
		u := h.user()
		secret := randomBytes(20)
		want := bytes.Clone(secret)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
		secret[0] ^= 0xff
		got := h.get(u).Secret
		assert.Equal(h.t, want, got)
		got[1] ^= 0xff
		assert.Equal(h.t, want, h.get(u).Secret)
	}},
	{"ReserveAttemptWithoutState", func(h *harness) {
		u := h.user()
		_, err := h.reserve(u, false, T0)
		assert.ErrorIs(h.t, err, mfa.ErrSetupNotStarted)
		_, err = h.reserve(u, true, T0)
		assert.ErrorIs(h.t, err, mfa.ErrNotEnabled)
		assert.Equal(h.t, mfa.State{}, h.get(u), "nothing is created")
	}},
	{"ReserveAttemptWrongPhase", func(h *harness) {
		pending := h.user()
		require.NoError(h.t, h.store.SetPending(h.ctx, pending, randomBytes(20)))
		_, err := h.reserve(pending, true, T0)
		assert.ErrorIs(h.t, err, mfa.ErrNotEnabled)
		assert.Zero(h.t, h.get(pending).Failures)

		enabled, _ := h.enabled()
		_, err = h.reserve(enabled, false, T0)
		assert.ErrorIs(h.t, err, mfa.ErrAlreadyEnabled)
		assert.Zero(h.t, h.get(enabled).Failures)
	}},
	{"ReserveAttemptCountsAndLocks", func(h *harness) {
		u := h.user()
		secret := randomBytes(20)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
		for i := 1; i < throttle.MaxFailures; i++ {
			st, err := h.reserve(u, false, T0)
			require.NoError(h.t, err)
			assert.Equal(h.t, i, st.Failures)
			assert.Equal(h.t, secret, st.Secret)
			assert.False(h.t, st.LockedUntil.After(T0), "not locked after %d attempts", i)
		}
		// The last attempt of the budget starts the lockout.
		st, err := h.reserve(u, false, T0)
		require.NoError(h.t, err)
		assert.True(h.t, st.LockedUntil.Equal(T0.Add(30*time.Second)), "locked until %v", st.LockedUntil)
		assert.Equal(h.t, 1, st.Lockouts)
		assert.Zero(h.t, st.Failures)

		// While locked, nothing is reserved and the wait is exact.
		_, err = h.reserve(u, false, T0.Add(10*time.Second))
		var limited *mfa.RateLimitError
		require.ErrorAs(h.t, err, &limited)
		assert.ErrorIs(h.t, err, mfa.ErrRateLimited)
		assert.Equal(h.t, 20*time.Second, limited.RetryAfter)
		assert.Zero(h.t, h.get(u).Failures)

		// After the lockout a fresh budget; the next lockout doubles, then
		// the cap holds.
		later := T0.Add(30 * time.Second)
		for _, want := range []time.Duration{60 * time.Second, 100 * time.Second, 100 * time.Second} {
			for i := 0; i < throttle.MaxFailures; i++ {
				st, err = h.reserve(u, false, later)
				require.NoError(h.t, err)
			}
			assert.True(h.t, st.LockedUntil.Equal(later.Add(want)), "want lockout %v, locked until %v", want, st.LockedUntil)
			later = st.LockedUntil
		}
		assert.Equal(h.t, 4, h.get(u).Lockouts)
	}},
	{"ReserveAttemptWithoutLockout", func(h *harness) {
		u := h.user()
		require.NoError(h.t, h.store.SetPending(h.ctx, u, randomBytes(20)))
		for i := 0; i < 20; i++ {
			_, err := h.store.ReserveAttempt(h.ctx, u, mfa.Attempt{Now: T0, Throttle: mfa.Throttle{MaxFailures: -1}})
			require.NoError(h.t, err)
		}
		st := h.get(u)
		assert.Equal(h.t, 20, st.Failures)
		assert.Zero(h.t, st.Lockouts)
	}},
	{"EnableWithoutSetup", func(h *harness) {
		u := h.user()
		err := h.store.Enable(h.ctx, u, mfa.Enablement{Secret: randomBytes(20), Step: 5})
		assert.ErrorIs(h.t, err, mfa.ErrSetupNotStarted)
		assert.Equal(h.t, mfa.State{}, h.get(u))
	}},
	{"EnableTurnsOnAndResets", func(h *harness) {
		u := h.user()
		secret := randomBytes(20)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
		_, err := h.reserve(u, false, T0)
		require.NoError(h.t, err)
		codes := hashes(10)
		require.NoError(h.t, h.store.Enable(h.ctx, u, mfa.Enablement{Secret: secret, Step: 42, RecoveryCodes: codes}))
		st := h.get(u)
		assert.True(h.t, st.Enabled)
		assert.Equal(h.t, secret, st.Secret)
		assert.EqualValues(h.t, 42, st.LastStep)
		assert.Equal(h.t, 10, st.RecoveryCodes)
		assert.Zero(h.t, st.Failures)

		err = h.store.Enable(h.ctx, u, mfa.Enablement{Secret: secret, Step: 43, RecoveryCodes: hashes(10)})
		assert.ErrorIs(h.t, err, mfa.ErrAlreadyEnabled)
		assert.EqualValues(h.t, 42, h.get(u).LastStep, "a repeated call changes nothing")
		require.NoError(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, codes[3]), "the first batch stays valid")
	}},
	{"EnableWithReplacedSecret", func(h *harness) {
		u := h.user()
		old := randomBytes(20)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, old))
		require.NoError(h.t, h.store.SetPending(h.ctx, u, randomBytes(20)))
		err := h.store.Enable(h.ctx, u, mfa.Enablement{Secret: old, Step: 5, RecoveryCodes: hashes(10)})
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCode)
		st := h.get(u)
		assert.False(h.t, st.Enabled)
		assert.Zero(h.t, st.RecoveryCodes)
	}},
	{"EnableRefusesUsedStep", func(h *harness) {
		u := h.user()
		secret := randomBytes(20)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
		err := h.store.Enable(h.ctx, u, mfa.Enablement{Secret: secret, Step: 0, RecoveryCodes: hashes(10)})
		assert.ErrorIs(h.t, err, mfa.ErrReplay)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCode)
		assert.False(h.t, h.get(u).Enabled)
	}},
	{"AdvanceStep", func(h *harness) {
		u, _ := h.enabled()
		_, err := h.reserve(u, true, T0)
		require.NoError(h.t, err)
		require.NoError(h.t, h.store.AdvanceStep(h.ctx, u, 101))
		st := h.get(u)
		assert.EqualValues(h.t, 101, st.LastStep)
		assert.Zero(h.t, st.Failures, "a success resets the count")

		assert.ErrorIs(h.t, h.store.AdvanceStep(h.ctx, u, 101), mfa.ErrReplay)
		assert.ErrorIs(h.t, h.store.AdvanceStep(h.ctx, u, 99), mfa.ErrReplay)
		assert.EqualValues(h.t, 101, h.get(u).LastStep)
		require.NoError(h.t, h.store.AdvanceStep(h.ctx, u, 103))
		assert.EqualValues(h.t, 103, h.get(u).LastStep)
	}},
	{"AdvanceStepNotEnabled", func(h *harness) {
		u := h.user()
		assert.ErrorIs(h.t, h.store.AdvanceStep(h.ctx, u, 5), mfa.ErrNotEnabled)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, randomBytes(20)))
		assert.ErrorIs(h.t, h.store.AdvanceStep(h.ctx, u, 5), mfa.ErrNotEnabled)
		assert.Zero(h.t, h.get(u).LastStep)
	}},
	{"SuccessEndsLockout", func(h *harness) {
		u, _ := h.enabled()
		var st mfa.State
		for i := 0; i < throttle.MaxFailures; i++ {
			var err error
			st, err = h.reserve(u, true, T0)
			require.NoError(h.t, err)
		}
		require.True(h.t, st.LockedUntil.After(T0))
		// The attempt that started the lockout carried the right code.
		require.NoError(h.t, h.store.AdvanceStep(h.ctx, u, 200))
		st = h.get(u)
		assert.False(h.t, st.LockedUntil.After(T0))
		assert.Zero(h.t, st.Lockouts)
		_, err := h.reserve(u, true, T0)
		assert.NoError(h.t, err)
	}},
	{"ConsumeRecoveryCode", func(h *harness) {
		codes := hashes(10)
		u, _ := h.enabled(codes...)
		other, _ := h.enabled(hashes(10)...)
		_, err := h.reserve(u, true, T0)
		require.NoError(h.t, err)

		require.NoError(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, codes[0]))
		st := h.get(u)
		assert.Equal(h.t, 9, st.RecoveryCodes)
		assert.Equal(h.t, 1, st.Failures, "the throttle is left to ResetThrottle")

		assert.ErrorIs(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, codes[0]), mfa.ErrInvalidCode, "each code works once")
		assert.ErrorIs(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, randomBytes(32)), mfa.ErrInvalidCode)
		assert.ErrorIs(h.t, h.store.ConsumeRecoveryCode(h.ctx, other, codes[1]), mfa.ErrInvalidCode, "codes belong to one user")
		assert.Equal(h.t, 9, h.get(u).RecoveryCodes)
		assert.Equal(h.t, 10, h.get(other).RecoveryCodes)
	}},
	{"ResetThrottle", func(h *harness) {
		u, _ := h.enabled()
		for i := 0; i < throttle.MaxFailures; i++ {
			_, err := h.reserve(u, true, T0)
			require.NoError(h.t, err)
		}
		require.True(h.t, h.get(u).LockedUntil.After(T0))
		require.NoError(h.t, h.store.ResetThrottle(h.ctx, u))
		st := h.get(u)
		assert.Zero(h.t, st.Failures)
		assert.Zero(h.t, st.Lockouts)
		assert.False(h.t, st.LockedUntil.After(T0), "the lockout is over")
		assert.EqualValues(h.t, 100, st.LastStep, "nothing else changes")
		require.NoError(h.t, h.store.ResetThrottle(h.ctx, h.user()), "a user without state is not an error")
	}},
	{"ConsumeRecoveryCodeNotEnabled", func(h *harness) {
		u := h.user()
		assert.ErrorIs(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, randomBytes(32)), mfa.ErrNotEnabled)
	}},
	{"DeleteRemovesEverything", func(h *harness) {
		codes := hashes(10)
		u, _ := h.enabled(codes...)
		require.NoError(h.t, h.store.Delete(h.ctx, u))
		assert.Equal(h.t, mfa.State{}, h.get(u))
		require.NoError(h.t, h.store.Delete(h.ctx, u), "deleting twice is not an error")

		// A new enrolment starts clean: the old codes are gone.
		secret := randomBytes(20)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
		require.NoError(h.t, h.store.Enable(h.ctx, u, mfa.Enablement{Secret: secret, Step: 1, RecoveryCodes: hashes(10)}))
		assert.ErrorIs(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, codes[0]), mfa.ErrInvalidCode)
	}},
	{"CancelledContext", func(h *harness) {
		u, _ := h.enabled(hashes(10)...)
		ctx, cancel := context.WithCancel(h.ctx)
		cancel()
		before := h.get(u)
		assert.Error(h.t, h.store.SetPending(ctx, h.user(), randomBytes(20)))
		_, err := h.store.ReserveAttempt(ctx, u, mfa.Attempt{Enabled: true, Now: T0, Throttle: throttle})
		assert.Error(h.t, err)
		assert.Error(h.t, h.store.AdvanceStep(ctx, u, 1000))
		assert.Error(h.t, h.store.Delete(ctx, u))
		assert.Equal(h.t, before, h.get(u), "nothing changes")
	}},

	// Races: goroutines released at once against one user.
	{"RaceEnable", func(h *harness) {
		u := h.user()
		secret := randomBytes(20)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
		batches := make([][][]byte, Racers)
		for i := range batches {
			batches[i] = hashes(10)
		}
		errs := race(func(i int) error {
			return h.store.Enable(h.ctx, u, mfa.Enablement{Secret: secret, Step: 7, RecoveryCodes: batches[i]})
		})
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrAlreadyEnabled, mfa.ErrReplay))
		st := h.get(u)
		assert.True(h.t, st.Enabled)
		assert.Equal(h.t, 10, st.RecoveryCodes, "exactly one batch")
		winner := -1
		for i, err := range errs {
			if err == nil {
				winner = i
			}
		}
		require.NoError(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, batches[winner][0]))
	}},
	{"RaceConsumeRecoveryCode", func(h *harness) {
		codes := hashes(10)
		u, _ := h.enabled(codes...)
		errs := race(func(int) error { return h.store.ConsumeRecoveryCode(h.ctx, u, codes[5]) })
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrInvalidCode))
		assert.Equal(h.t, 9, h.get(u).RecoveryCodes)
	}},
	{"RaceAdvanceStep", func(h *harness) {
		u, _ := h.enabled()
		errs := race(func(int) error { return h.store.AdvanceStep(h.ctx, u, 101) })
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrReplay))
		assert.EqualValues(h.t, 101, h.get(u).LastStep)
	}},
	{"RaceAdvanceDifferentSteps", func(h *harness) {
		u, _ := h.enabled()
		errs := race(func(i int) error { return h.store.AdvanceStep(h.ctx, u, int64(101+i)) })
		wins := tally(h.t, errs, mfa.ErrReplay)
		assert.GreaterOrEqual(h.t, wins, 1)
		assert.EqualValues(h.t, 100+Racers, h.get(u).LastStep, "the highest step wins, whatever the order")
	}},
	{"RaceFailureCounting", func(h *harness) {
		u, _ := h.enabled()
		errs := race(func(int) error {
			_, err := h.store.ReserveAttempt(h.ctx, u, mfa.Attempt{Enabled: true, Now: T0, Throttle: mfa.Throttle{MaxFailures: 1000}})
			return err
		})
		assert.Equal(h.t, Racers, tally(h.t, errs))
		assert.Equal(h.t, Racers, h.get(u).Failures, "no increment lost")
	}},
	{"RaceBudgetIsExact", func(h *harness) {
		u, _ := h.enabled()
		errs := race(func(int) error {
			_, err := h.reserve(u, true, T0)
			return err
		})
		assert.Equal(h.t, throttle.MaxFailures, tally(h.t, errs, mfa.ErrRateLimited), "at most MaxFailures checks per lockout")
		st := h.get(u)
		assert.Equal(h.t, 1, st.Lockouts)
		assert.True(h.t, st.LockedUntil.Equal(T0.Add(throttle.Lockout)))
	}},
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// hashes returns n random 32-byte values standing for recovery-code hashes.
func hashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = randomBytes(32)
	}
	return out
}
