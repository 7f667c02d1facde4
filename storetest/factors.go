package storetest

import (
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// factorCases cover AddFactor, ConfirmFactor and RemoveFactor.
var factorCases = []testCase{
	{"AddFactorIsPendingAndReplaced", func(h *harness) {
		codes := hashes(3)
		u, f := h.enabled(codes...)
		h.fail(u, 1)
		p := h.factor("Laptop")
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 101), p, maxFactors, nil))
		st := h.get(u)
		require.Len(h.t, st.Factors, 2)
		got := factorOf(st, p.ID)
		require.NotNil(h.t, got)
		assert.False(h.t, got.Active)
		assert.Equal(h.t, "Laptop", got.Name)
		assert.Equal(h.t, p.Secret, got.Secret)
		assert.EqualValues(h.t, 101, factorOf(st, f.ID).Counter, "the proof's step is used")
		assert.Zero(h.t, st.Failures)

		q := h.factor("Tablet")
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, code(codes[0]), q, maxFactors, nil), "a recovery code proves too")
		st = h.get(u)
		assert.Len(h.t, st.Factors, 2, "the new pending factor replaced the old one")
		assert.Nil(h.t, factorOf(st, p.ID))
		assert.NotNil(h.t, factorOf(st, q.ID))
		assert.Equal(h.t, 2, st.RecoveryCodes)
	}},
	{"AddFactorRefused", func(h *harness) {
		u, f := h.enabled()
		before := h.get(u)
		assert.ErrorIs(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 100), h.factor("X"), maxFactors, nil), mfa.ErrReplay)
		assert.ErrorIs(h.t, h.store.AddFactor(h.ctx, u, code(randomBytes(32)), h.factor("X"), maxFactors, nil), mfa.ErrInvalidCode)
		assert.Equal(h.t, before, h.get(u))
		v, _ := h.pending()
		assert.ErrorIs(h.t, h.store.AddFactor(h.ctx, v, code(randomBytes(32)), h.factor("X"), maxFactors, nil), mfa.ErrNotEnabled)
	}},
	{"AddFactorAtTheMaximum", func(h *harness) {
		u, f := h.enabled()
		h.second(u, f, 101)
		h.second(u, f, 102)
		before := h.get(u)
		require.Equal(h.t, maxFactors, activeCount(before))
		err := h.store.AddFactor(h.ctx, u, h.step(f, 103), h.factor("One too many"), maxFactors, nil)
		assert.ErrorIs(h.t, err, mfa.ErrTooManyFactors)
		assert.Equal(h.t, before, h.get(u), "nothing changes, the proof is not used")
	}},
	{"ConfirmFactor", func(h *harness) {
		codes := hashes(4)
		u, f := h.enabled(codes...)
		p := h.factor("Laptop")
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 101), p, maxFactors, nil))
		h.fail(u, 2)
		require.NoError(h.t, h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: p.ID, Counter: 77, UsedAt: T0}, maxFactors, nil))
		st := h.get(u)
		got := factorOf(st, p.ID)
		require.NotNil(h.t, got)
		assert.True(h.t, got.Active)
		assert.EqualValues(h.t, 77, got.Counter)
		assert.Zero(h.t, st.Failures)
		assert.Equal(h.t, 4, st.RecoveryCodes, "the recovery codes are not touched")

		err := h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: p.ID, Counter: 78, UsedAt: T0}, maxFactors, nil)
		assert.ErrorIs(h.t, err, mfa.ErrFactorNotFound, "an active factor is not pending")
		require.NoError(h.t, h.store.Accept(h.ctx, u, h.step(p, 78), nil), "it proves like any other")
	}},
	{"ConfirmFactorRefused", func(h *harness) {
		u, f := h.enabled()
		p := h.factor("Laptop")
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 101), p, maxFactors, nil))
		before := h.get(u)
		conf := func(id string, counter int64) error {
			return h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: id, Counter: counter, UsedAt: T0}, maxFactors, nil)
		}
		assert.ErrorIs(h.t, conf("f-unknown", 5), mfa.ErrFactorNotFound)
		assert.ErrorIs(h.t, conf(f.ID, 500), mfa.ErrFactorNotFound, "an active factor")
		assert.ErrorIs(h.t, conf(p.ID, 0), mfa.ErrReplay)
		assert.Equal(h.t, before, h.get(u), "nothing changes")

		v, g := h.enabled()
		err := h.store.ConfirmFactor(h.ctx, v, mfa.Confirmation{FactorID: p.ID, Counter: 5, UsedAt: T0}, maxFactors, nil)
		assert.ErrorIs(h.t, err, mfa.ErrFactorNotFound, "another user's pending factor")
		_ = g
		assert.ErrorIs(h.t, h.store.ConfirmFactor(h.ctx, h.user(), mfa.Confirmation{FactorID: p.ID, Counter: 5, UsedAt: T0}, maxFactors, nil), mfa.ErrNotEnabled)
	}},
	{"ConfirmFactorAtTheMaximum", func(h *harness) {
		u, f := h.enabled()
		h.second(u, f, 101)
		p := h.factor("Pending")
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 102), p, maxFactors, nil))
		err := h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: p.ID, Counter: 5, UsedAt: T0}, maxFactors-1, nil)
		assert.ErrorIs(h.t, err, mfa.ErrTooManyFactors)
		assert.False(h.t, factorOf(h.get(u), p.ID).Active)
	}},
	{"RemoveFactor", func(h *harness) {
		codes := hashes(5)
		u, f := h.enabled(codes...)
		g := h.second(u, f, 101)
		h.fail(u, 1)
		disabled, err := h.store.RemoveFactor(h.ctx, u, f.ID, h.step(g, 101), nil, nil)
		require.NoError(h.t, err)
		assert.False(h.t, disabled)
		st := h.get(u)
		assert.True(h.t, st.Enabled)
		require.Len(h.t, st.Factors, 1)
		assert.Equal(h.t, g.ID, st.Factors[0].ID)
		assert.EqualValues(h.t, 101, st.Factors[0].Counter)
		assert.Zero(h.t, st.Failures)
		assert.Equal(h.t, 5, st.RecoveryCodes)

		_, err = h.store.RemoveFactor(h.ctx, u, f.ID, h.step(g, 102), nil, nil)
		assert.ErrorIs(h.t, err, mfa.ErrFactorNotFound)
		assert.EqualValues(h.t, 101, h.get(u).Factors[0].Counter, "the proof is not used")
	}},
	{"RemoveLastFactorDisables", func(h *harness) {
		codes := hashes(5)
		u, f := h.enabled(codes...)
		ticket := h.ticket(u)
		disabled, err := h.store.RemoveFactor(h.ctx, u, f.ID, code(codes[0]), nil, nil)
		require.NoError(h.t, err)
		assert.True(h.t, disabled)
		assert.Equal(h.t, mfa.State{}, h.get(u), "exactly Disable")
		_, err = h.store.LookupTicket(h.ctx, ticket, T0)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
	}},
	{"RemovePendingFactor", func(h *harness) {
		u, f := h.enabled()
		p := h.factor("Pending")
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 101), p, maxFactors, nil))
		disabled, err := h.store.RemoveFactor(h.ctx, u, p.ID, h.step(f, 102), nil, nil)
		require.NoError(h.t, err)
		assert.False(h.t, disabled)
		st := h.get(u)
		assert.True(h.t, st.Enabled)
		assert.Len(h.t, st.Factors, 1)
	}},
	{"RemoveFactorRefused", func(h *harness) {
		u, f := h.enabled()
		g := h.second(u, f, 101)
		before := h.get(u)
		_, err := h.store.RemoveFactor(h.ctx, u, g.ID, h.step(f, 101), nil, nil)
		assert.ErrorIs(h.t, err, mfa.ErrReplay)
		_, err = h.store.RemoveFactor(h.ctx, u, g.ID, code(randomBytes(32)), nil, nil)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCode)
		assert.Equal(h.t, before, h.get(u))
		v, _ := h.enabled()
		_, err = h.store.RemoveFactor(h.ctx, v, g.ID, h.step(g, 500), nil, nil)
		assert.ErrorIs(h.t, err, mfa.ErrFactorNotFound, "another user's factor")
		_, err = h.store.RemoveFactor(h.ctx, h.user(), g.ID, h.step(g, 500), nil, nil)
		assert.ErrorIs(h.t, err, mfa.ErrNotEnabled)
	}},
}
