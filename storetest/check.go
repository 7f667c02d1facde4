package storetest

import (
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// checkCases cover the operations that accept a proof: Accept,
// ReplaceRecoveryCodes and Disable.
var checkCases = []testCase{
	{"AcceptStepPerFactor", func(h *harness) {
		u, f := h.enabled()
		g := h.second(u, f, 101)
		require.NoError(h.t, h.store.Accept(h.ctx, u, h.step(f, 105), nil))
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, h.step(f, 105), nil), mfa.ErrReplay, "the same step again")
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, h.step(f, 104), nil), mfa.ErrReplay, "an earlier step")
		require.NoError(h.t, h.store.Accept(h.ctx, u, h.step(g, 105), nil), "another factor's code for the same step")
		st := h.get(u)
		assert.EqualValues(h.t, 105, factorOf(st, f.ID).Counter)
		assert.EqualValues(h.t, 105, factorOf(st, g.ID).Counter)
	}},
	{"AcceptClearsThrottleAndRecordsUse", func(h *harness) {
		u, f := h.enabled()
		h.fail(u, throttle.MaxFailures) // one lockout
		p := h.step(f, 101)
		p.UsedAt = T0.Add(time.Minute)
		require.NoError(h.t, h.store.Accept(h.ctx, u, p, nil))
		st := h.get(u)
		assert.Zero(h.t, st.Failures)
		assert.Zero(h.t, st.Lockouts)
		assert.True(h.t, st.LockedUntil.IsZero())
		assert.True(h.t, st.Factors[0].LastUsedAt.Equal(T0.Add(time.Minute)))
		assert.Equal(h.t, f.Secret, st.Factors[0].Secret, "the secret stays when none is given")

		resealed := randomBytes(60)
		p = h.step(f, 102)
		p.Secret = resealed
		require.NoError(h.t, h.store.Accept(h.ctx, u, p, nil))
		assert.Equal(h.t, resealed, h.get(u).Factors[0].Secret)
	}},
	{"AcceptRefusalChangesNothing", func(h *harness) {
		u, f := h.enabled(hashes(3)...)
		h.fail(u, 1)
		before := h.get(u)
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, h.step(f, 100), nil), mfa.ErrReplay)
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, code(randomBytes(32)), nil), mfa.ErrInvalidCode)
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, mfa.Proof{FactorID: "f-unknown", Counter: 500, UsedAt: T0}, nil), mfa.ErrInvalidCode)
		assert.Equal(h.t, before, h.get(u))
	}},
	{"AcceptNeedsAnActiveFactor", func(h *harness) {
		u, f := h.enabled()
		p := h.factor("New")
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 101), p, maxFactors, nil))
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, h.step(p, 500), nil), mfa.ErrInvalidCode, "a pending factor proves nothing")
		v, _ := h.enabled()
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, v, h.step(f, 500), nil), mfa.ErrInvalidCode, "another user's factor proves nothing")
	}},
	{"AcceptNotEnabled", func(h *harness) {
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, h.user(), code(randomBytes(32)), nil), mfa.ErrNotEnabled)
		u, f := h.pending()
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, h.step(f, 500), nil), mfa.ErrNotEnabled)
	}},
	{"AcceptWebAuthnCounter", func(h *harness) {
		u, f := h.user(), h.factor("Key")
		f.Type = mfa.FactorWebAuthn
		require.NoError(h.t, h.store.SetPending(h.ctx, u, f, nil))
		require.NoError(h.t, h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: 0, CredentialID: randomBytes(16), UsedAt: T0}, nil),
			"a key without a signature counter starts at zero")
		require.NoError(h.t, h.store.Accept(h.ctx, u, h.step(f, 0), nil), "and stays there")
		require.NoError(h.t, h.store.Accept(h.ctx, u, h.step(f, 7), nil))
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, h.step(f, 7), nil), mfa.ErrReplay, "a counter that did not grow")
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, h.step(f, 0), nil), mfa.ErrReplay, "zero after a counter")
	}},
	{"AcceptRecoveryCode", func(h *harness) {
		codes := hashes(10)
		u, _ := h.enabled(codes...)
		h.fail(u, 2)
		require.NoError(h.t, h.store.Accept(h.ctx, u, code(codes[0]), nil))
		st := h.get(u)
		assert.Equal(h.t, 9, st.RecoveryCodes)
		assert.Zero(h.t, st.Failures, "the success clears the count in the same operation")
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, code(codes[0]), nil), mfa.ErrInvalidCode, "each code works once")

		// A code hashed under an older key is found among the hashes.
		require.NoError(h.t, h.store.Accept(h.ctx, u, code(randomBytes(32), codes[1]), nil))
		assert.Equal(h.t, 8, h.get(u).RecoveryCodes)

		v, _ := h.enabled(hashes(10)...)
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, v, code(codes[2]), nil), mfa.ErrInvalidCode, "another user's code")
	}},
	{"ReplaceRecoveryCodes", func(h *harness) {
		old := hashes(10)
		u, f := h.enabled(old...)
		h.fail(u, 1)
		fresh := hashes(10)
		require.NoError(h.t, h.store.ReplaceRecoveryCodes(h.ctx, u, h.step(f, 101), fresh, nil))
		st := h.get(u)
		assert.EqualValues(h.t, 101, st.Factors[0].Counter, "the code's step is used")
		assert.Equal(h.t, 10, st.RecoveryCodes)
		assert.Zero(h.t, st.Failures)
		assert.ErrorIs(h.t, h.store.Accept(h.ctx, u, code(old[0]), nil), mfa.ErrInvalidCode, "the old batch is gone")
		assert.NoError(h.t, h.store.Accept(h.ctx, u, code(fresh[0]), nil))
	}},
	{"ReplaceRecoveryCodesRefused", func(h *harness) {
		old := hashes(10)
		u, f := h.enabled(old...)
		assert.ErrorIs(h.t, h.store.ReplaceRecoveryCodes(h.ctx, u, h.step(f, 100), hashes(10), nil), mfa.ErrReplay)
		assert.NoError(h.t, h.store.Accept(h.ctx, u, code(old[0]), nil), "the old batch stays valid")
		assert.Equal(h.t, 9, h.get(u).RecoveryCodes)
		assert.ErrorIs(h.t, h.store.ReplaceRecoveryCodes(h.ctx, h.user(), h.step(f, 500), hashes(10), nil), mfa.ErrNotEnabled)
	}},
	{"DisableWithStep", func(h *harness) {
		u, f := h.enabled(hashes(10)...)
		h.second(u, f, 101)
		ticket := h.ticket(u)
		assert.ErrorIs(h.t, h.store.Disable(h.ctx, u, h.step(f, 101), nil), mfa.ErrReplay)
		assert.True(h.t, h.get(u).Enabled, "a refused proof changes nothing")
		require.NoError(h.t, h.store.Disable(h.ctx, u, h.step(f, 102), nil))
		assert.Equal(h.t, mfa.State{}, h.get(u), "every factor, code and count is gone")
		_, err := h.store.LookupTicket(h.ctx, ticket, T0)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket, "the user's tickets are gone")
		assert.ErrorIs(h.t, h.store.Disable(h.ctx, u, h.step(f, 103), nil), mfa.ErrNotEnabled)
	}},
	{"DisableWithRecoveryCode", func(h *harness) {
		codes := hashes(10)
		u, _ := h.enabled(codes...)
		assert.ErrorIs(h.t, h.store.Disable(h.ctx, u, code(randomBytes(32)), nil), mfa.ErrInvalidCode)
		assert.True(h.t, h.get(u).Enabled)
		require.NoError(h.t, h.store.Disable(h.ctx, u, code(codes[4]), nil))
		assert.Equal(h.t, mfa.State{}, h.get(u))
	}},
}
