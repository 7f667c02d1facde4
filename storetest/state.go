package storetest

import (
	"bytes"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// stateCases cover Get, SetPending, ReserveAttempt, Enable and the
// throttle.
var stateCases = []testCase{
	{"GetUnknownUser", func(h *harness) {
		assert.Equal(h.t, mfa.State{}, h.get(h.user()))
	}},
	{"SetPendingCreatesAndReplaces", func(h *harness) {
		u, first := h.pending()
		st := h.get(u)
		assert.False(h.t, st.Enabled)
		require.Len(h.t, st.Factors, 1)
		got := st.Factors[0]
		assert.Equal(h.t, first.ID, got.ID)
		assert.Equal(h.t, mfa.FactorTOTP, got.Type)
		assert.Equal(h.t, "Phone", got.Name)
		assert.False(h.t, got.Active)
		assert.Equal(h.t, first.Secret, got.Secret)
		assert.True(h.t, got.CreatedAt.Equal(T0), "created at %v", got.CreatedAt)
		assert.True(h.t, got.LastUsedAt.IsZero())
		assert.Zero(h.t, st.RecoveryCodes)

		second := h.factor("Tablet")
		require.NoError(h.t, h.store.SetPending(h.ctx, u, second, nil))
		st = h.get(u)
		require.Len(h.t, st.Factors, 1, "a new pending factor replaces the old one")
		assert.Equal(h.t, second.ID, st.Factors[0].ID)
		assert.Equal(h.t, "Tablet", st.Factors[0].Name)
	}},
	{"SetPendingKeepsFailures", func(h *harness) {
		u, _ := h.pending()
		_, err := h.reserve(u, false, T0)
		require.NoError(h.t, err)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, h.factor("Phone"), nil))
		assert.Equal(h.t, 1, h.get(u).Failures, "a new setup must not reset the failure budget")
	}},
	{"SetPendingWhenEnabled", func(h *harness) {
		u, f := h.enabled()
		err := h.store.SetPending(h.ctx, u, h.factor("Other"), nil)
		assert.ErrorIs(h.t, err, mfa.ErrAlreadyEnabled)
		st := h.get(u)
		assert.True(h.t, st.Enabled)
		require.Len(h.t, st.Factors, 1, "nothing changes")
		assert.Equal(h.t, f.ID, st.Factors[0].ID)
	}},
	{"ReturnedDataIsACopy", func(h *harness) {
		u := h.user()
		f := h.factor("Phone")
		want := bytes.Clone(f.Secret)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, f, nil))
		f.Secret[0] ^= 0xff
		got := h.get(u).Factors[0].Secret
		assert.Equal(h.t, want, got)
		got[1] ^= 0xff
		assert.Equal(h.t, want, h.get(u).Factors[0].Secret)
		// A Reservation's factors are read-only (mfa.Reservation): a Store
		// may hand out its own.
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
		pending, _ := h.pending()
		_, err := h.reserve(pending, true, T0)
		assert.ErrorIs(h.t, err, mfa.ErrNotEnabled)
		assert.Zero(h.t, h.get(pending).Failures)

		enabled, _ := h.enabled()
		_, err = h.reserve(enabled, false, T0)
		assert.ErrorIs(h.t, err, mfa.ErrAlreadyEnabled)
		assert.Zero(h.t, h.get(enabled).Failures)
	}},
	{"ReserveAttemptLockoutAnswersFirst", func(h *harness) {
		u, _ := h.enabled()
		h.fail(u, throttle.MaxFailures)
		_, err := h.reserve(u, false, T0.Add(time.Second))
		var limited *mfa.RateLimitError
		assert.ErrorAs(h.t, err, &limited, "a locked user hears so before a phase conflict")
	}},
	{"ReserveAttemptReturnsFactors", func(h *harness) {
		u, f := h.enabled()
		g := h.second(u, f, 101)
		res, err := h.reserve(u, true, T0)
		require.NoError(h.t, err)
		require.Len(h.t, res.Factors, 2)
		assert.Equal(h.t, f.ID, res.Factors[0].ID, "oldest first")
		assert.Equal(h.t, g.ID, res.Factors[1].ID)
		assert.Equal(h.t, f.Secret, res.Factors[0].Secret)
		assert.EqualValues(h.t, 101, res.Factors[0].Counter)
		assert.True(h.t, res.Factors[1].Active)
		assert.Equal(h.t, 1, res.Failures)
	}},
	{"ReserveAttemptCountsAndLocks", func(h *harness) {
		u, _ := h.pending()
		for i := 1; i < throttle.MaxFailures; i++ {
			res, err := h.reserve(u, false, T0)
			require.NoError(h.t, err)
			assert.Equal(h.t, i, res.Failures)
			assert.False(h.t, res.LockedUntil.After(T0), "not locked after %d attempts", i)
		}
		// The last attempt of the budget starts the lockout.
		res, err := h.reserve(u, false, T0)
		require.NoError(h.t, err)
		assert.True(h.t, res.LockedUntil.Equal(T0.Add(30*time.Second)), "locked until %v", res.LockedUntil)
		assert.Equal(h.t, 1, res.Lockouts)
		assert.Zero(h.t, res.Failures)

		// While locked, nothing is reserved and the wait is exact.
		_, err = h.reserve(u, false, T0.Add(10*time.Second))
		var limited *mfa.RateLimitError
		require.ErrorAs(h.t, err, &limited)
		assert.ErrorIs(h.t, err, mfa.ErrRateLimited)
		assert.Equal(h.t, 20*time.Second, limited.RetryAfter)
		assert.False(h.t, limited.Permanent)
		assert.Zero(h.t, h.get(u).Failures)

		// After the lockout a fresh budget; the next lockout doubles, then
		// the cap holds.
		later := T0.Add(30 * time.Second)
		for _, want := range []time.Duration{60 * time.Second, 100 * time.Second} {
			for i := 0; i < throttle.MaxFailures; i++ {
				res, err = h.reserve(u, false, later)
				require.NoError(h.t, err)
			}
			assert.True(h.t, res.LockedUntil.Equal(later.Add(want)), "want lockout %v, locked until %v", want, res.LockedUntil)
			later = res.LockedUntil
		}
		st := h.get(u)
		assert.Equal(h.t, 3, st.Lockouts)
		assert.True(h.t, st.LockedUntil.Equal(later))
	}},
	{"ReserveAttemptPermanentLockout", func(h *harness) {
		u, _ := h.enabled()
		now := T0
		for l := 0; l < throttle.MaxLockouts; l++ {
			for i := 0; i < throttle.MaxFailures; i++ {
				_, err := h.reserve(u, true, now)
				require.NoError(h.t, err, "lockout %d, attempt %d", l, i)
			}
			now = now.Add(time.Hour)
		}
		_, err := h.reserve(u, true, now.Add(24*time.Hour))
		var limited *mfa.RateLimitError
		require.ErrorAs(h.t, err, &limited, "the lockout no longer ends by itself")
		assert.True(h.t, limited.Permanent)
		assert.Zero(h.t, limited.RetryAfter)
		assert.Equal(h.t, throttle.MaxLockouts, h.get(u).Lockouts)

		require.NoError(h.t, h.store.ResetThrottle(h.ctx, u, nil))
		_, err = h.reserve(u, true, now)
		assert.NoError(h.t, err, "ResetThrottle lifts it")
	}},
	{"ReserveAttemptWithoutLockout", func(h *harness) {
		u, _ := h.pending()
		for i := 0; i < 20; i++ {
			_, err := h.store.ReserveAttempt(h.ctx, u, mfa.Attempt{Now: T0, Throttle: mfa.Throttle{MaxFailures: -1}})
			require.NoError(h.t, err)
		}
		st := h.get(u)
		assert.Equal(h.t, 20, st.Failures)
		assert.Zero(h.t, st.Lockouts)
	}},
	{"ResetThrottle", func(h *harness) {
		u, _ := h.enabled()
		h.fail(u, throttle.MaxFailures)
		require.NoError(h.t, h.store.ResetThrottle(h.ctx, u, nil))
		st := h.get(u)
		assert.Zero(h.t, st.Failures)
		assert.Zero(h.t, st.Lockouts)
		assert.True(h.t, st.LockedUntil.IsZero())
		assert.NoError(h.t, h.store.ResetThrottle(h.ctx, h.user(), nil), "a user without state is not an error")
	}},
	{"EnableWithoutSetup", func(h *harness) {
		u := h.user()
		err := h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: "f-nope", Counter: 5, UsedAt: T0}, nil)
		assert.ErrorIs(h.t, err, mfa.ErrSetupNotStarted)
		assert.Equal(h.t, mfa.State{}, h.get(u))
	}},
	{"EnableTurnsOnAndResets", func(h *harness) {
		u, f := h.pending()
		_, err := h.reserve(u, false, T0)
		require.NoError(h.t, err)
		codes := hashes(10)
		require.NoError(h.t, h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: 42, UsedAt: T0.Add(time.Second), RecoveryCodes: codes}, nil))
		st := h.get(u)
		assert.True(h.t, st.Enabled)
		require.Len(h.t, st.Factors, 1)
		assert.True(h.t, st.Factors[0].Active)
		assert.EqualValues(h.t, 42, st.Factors[0].Counter)
		assert.True(h.t, st.Factors[0].LastUsedAt.Equal(T0.Add(time.Second)))
		assert.Equal(h.t, f.Secret, st.Factors[0].Secret, "the secret stays when none is given")
		assert.Equal(h.t, 10, st.RecoveryCodes)
		assert.Zero(h.t, st.Failures)

		err = h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: 43, UsedAt: T0, RecoveryCodes: hashes(10)}, nil)
		assert.ErrorIs(h.t, err, mfa.ErrAlreadyEnabled)
		assert.EqualValues(h.t, 42, h.get(u).Factors[0].Counter, "a repeated call changes nothing")
		require.NoError(h.t, h.store.Accept(h.ctx, u, code(codes[3]), nil), "the first batch stays valid")
	}},
	{"EnableWithReplacedFactor", func(h *harness) {
		u, old := h.pending()
		require.NoError(h.t, h.store.SetPending(h.ctx, u, h.factor("Phone"), nil))
		err := h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: old.ID, Counter: 5, UsedAt: T0, RecoveryCodes: hashes(10)}, nil)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCode)
		st := h.get(u)
		assert.False(h.t, st.Enabled)
		assert.Zero(h.t, st.RecoveryCodes)
	}},
	{"EnableRefusesUsedCounter", func(h *harness) {
		u, f := h.pending()
		err := h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: 0, UsedAt: T0, RecoveryCodes: hashes(10)}, nil)
		assert.ErrorIs(h.t, err, mfa.ErrReplay)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCode)
		assert.False(h.t, h.get(u).Enabled)
	}},
	{"EnableWithCredential", func(h *harness) {
		u, f := h.user(), h.factor("Key")
		f.Type, f.Secret = mfa.FactorWebAuthn, []byte("registration pending")
		require.NoError(h.t, h.store.SetPending(h.ctx, u, f, nil))
		cred, data := randomBytes(16), []byte("credential data")
		require.NoError(h.t, h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: 1, Secret: data, CredentialID: cred, UsedAt: T0}, nil))
		got := h.get(u).Factors[0]
		assert.Equal(h.t, data, got.Secret)
		assert.Equal(h.t, cred, got.CredentialID)
		assert.Equal(h.t, mfa.FactorWebAuthn, got.Type)

		// The same credential for another user is refused.
		v, g := h.user(), h.factor("Key")
		g.Type = mfa.FactorWebAuthn
		require.NoError(h.t, h.store.SetPending(h.ctx, v, g, nil))
		err := h.store.Enable(h.ctx, v, mfa.Enablement{FactorID: g.ID, Counter: 1, Secret: data, CredentialID: cred, UsedAt: T0}, nil)
		assert.ErrorIs(h.t, err, mfa.ErrCredentialInUse)
		assert.False(h.t, h.get(v).Enabled, "nothing changes")
	}},
	{"ConfirmFactorWithCredential", func(h *harness) {
		u, f := h.enabled()
		k := h.factor("Key")
		k.Type = mfa.FactorWebAuthn
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 101), k, maxFactors, nil))
		cred, data := randomBytes(16), []byte("credential data")
		require.NoError(h.t, h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: k.ID, Counter: 1, Secret: data, CredentialID: cred, UsedAt: T0}, maxFactors, nil))
		key := factorOf(h.get(u), k.ID)
		require.NotNil(h.t, key)
		assert.Equal(h.t, cred, key.CredentialID)
		assert.Equal(h.t, data, key.Secret)

		// The same credential for another user, or as another factor of
		// the same user, is refused and changes nothing.
		v, vf := h.enabled()
		for _, owner := range []struct {
			user  string
			proof mfa.Factor
		}{{v, vf}, {u, f}} {
			g := h.factor("Key")
			g.Type = mfa.FactorWebAuthn
			require.NoError(h.t, h.store.AddFactor(h.ctx, owner.user, h.step(owner.proof, 102), g, maxFactors, nil))
			before := h.get(owner.user)
			err := h.store.ConfirmFactor(h.ctx, owner.user, mfa.Confirmation{FactorID: g.ID, Counter: 1, Secret: data, CredentialID: cred, UsedAt: T0}, maxFactors, nil)
			assert.ErrorIs(h.t, err, mfa.ErrCredentialInUse)
			assert.Equal(h.t, before, h.get(owner.user), "nothing changes")
		}
	}},
	{"Delete", func(h *harness) {
		u, f := h.enabled(hashes(10)...)
		h.second(u, f, 101)
		h.fail(u, 1)
		require.NoError(h.t, h.store.Delete(h.ctx, u, nil))
		assert.Equal(h.t, mfa.State{}, h.get(u))
		assert.NoError(h.t, h.store.Delete(h.ctx, u, nil), "deleting a user without state is not an error")
	}},
	{"ReplaceSecretAndListSecrets", func(h *harness) {
		u, f := h.enabled()
		g := h.second(u, f, 101)
		v, p := h.pending()
		found := map[string]mfa.FactorSecret{}
		after := ""
		for {
			page, err := h.store.ListSecrets(h.ctx, after, 2)
			require.NoError(h.t, err)
			for i, row := range page {
				if i > 0 {
					assert.Less(h.t, page[i-1].FactorID, row.FactorID, "ascending")
				}
				found[row.FactorID] = row
			}
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].FactorID
		}
		for _, want := range []struct {
			user string
			f    mfa.Factor
		}{{u, f}, {u, g}, {v, p}} {
			row, ok := found[want.f.ID]
			if assert.True(h.t, ok, "factor %s listed", want.f.ID) {
				assert.Equal(h.t, want.user, row.UserID)
				assert.Equal(h.t, want.f.Secret, row.Secret)
			}
		}

		fresh := randomBytes(40)
		ok, err := h.store.ReplaceSecret(h.ctx, f.ID, randomBytes(20), fresh)
		require.NoError(h.t, err)
		assert.False(h.t, ok, "a secret that changed meanwhile is left alone")
		ok, err = h.store.ReplaceSecret(h.ctx, f.ID, f.Secret, fresh)
		require.NoError(h.t, err)
		assert.True(h.t, ok)
		st := h.get(u)
		assert.Equal(h.t, fresh, factorOf(st, f.ID).Secret)
		assert.Equal(h.t, g.Secret, factorOf(st, g.ID).Secret, "only that factor")
	}},
}
