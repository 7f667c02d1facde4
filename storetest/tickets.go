package storetest

import (
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

const ticketAttempts = 3

// ticket stores a ticket for userID expiring five minutes after T0.
func (h *harness) ticket(userID string) []byte {
	h.t.Helper()
	hash := randomBytes(32)
	require.NoError(h.t, h.store.CreateTicket(h.ctx, mfa.Ticket{Hash: hash, UserID: userID, ExpiresAt: T0.Add(5 * time.Minute)}))
	return hash
}

// ticketCases cover login challenge tickets.
var ticketCases = []testCase{
	{"TicketDuplicateHash", func(h *harness) {
		u, _ := h.enabled()
		hash := h.ticket(u)
		err := h.store.CreateTicket(h.ctx, mfa.Ticket{Hash: hash, UserID: u, ExpiresAt: T0.Add(time.Minute)})
		assert.Error(h.t, err)
	}},
	{"TicketAttemptBudget", func(h *harness) {
		u, _ := h.enabled()
		hash := h.ticket(u)
		got, err := h.store.LookupTicket(h.ctx, hash, T0)
		require.NoError(h.t, err)
		assert.Equal(h.t, u, got)
		for i := 0; i < ticketAttempts; i++ {
			got, err := h.store.ReserveTicket(h.ctx, hash, T0, ticketAttempts)
			require.NoError(h.t, err)
			assert.Equal(h.t, u, got)
		}
		got, err = h.store.ReserveTicket(h.ctx, hash, T0, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
		assert.Equal(h.t, u, got, "out of attempts, it still names its user")
		got, err = h.store.LookupTicket(h.ctx, hash, T0)
		require.NoError(h.t, err, "lookup takes no attempt")
		assert.Equal(h.t, u, got)
	}},
	{"TicketUnknownAndExpired", func(h *harness) {
		got, err := h.store.ReserveTicket(h.ctx, randomBytes(32), T0, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
		assert.Empty(h.t, got)
		_, err = h.store.LookupTicket(h.ctx, randomBytes(32), T0)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)

		u, _ := h.enabled()
		hash := h.ticket(u)
		expiry := T0.Add(5 * time.Minute)
		_, err = h.store.LookupTicket(h.ctx, hash, expiry)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket, "expired at ExpiresAt")
		got, err = h.store.ReserveTicket(h.ctx, hash, expiry, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
		assert.Empty(h.t, got, "an expired ticket names no user")
	}},
	{"CompleteChallenge", func(h *harness) {
		codes := hashes(3)
		u, f := h.enabled(codes...)
		hash := h.ticket(u)
		_, err := h.store.ReserveTicket(h.ctx, hash, T0, ticketAttempts)
		require.NoError(h.t, err)
		h.fail(u, 1)
		require.NoError(h.t, h.store.CompleteChallenge(h.ctx, hash, u, h.step(f, 101), T0, nil))
		st := h.get(u)
		assert.EqualValues(h.t, 101, st.Factors[0].Counter)
		assert.Zero(h.t, st.Failures)
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, hash, u, h.step(f, 102), T0, nil), mfa.ErrInvalidTicket, "single use")

		hash = h.ticket(u)
		require.NoError(h.t, h.store.CompleteChallenge(h.ctx, hash, u, code(codes[0]), T0, nil))
		assert.Equal(h.t, 2, h.get(u).RecoveryCodes)
	}},
	{"CompleteChallengeRefused", func(h *harness) {
		u, f := h.enabled()
		hash := h.ticket(u)
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, hash, u, h.step(f, 100), T0, nil), mfa.ErrReplay)
		v, g := h.enabled()
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, hash, v, h.step(g, 101), T0, nil), mfa.ErrInvalidTicket, "bound to one user")
		_, err := h.store.LookupTicket(h.ctx, hash, T0)
		require.NoError(h.t, err, "a refused completion leaves the ticket")
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, hash, u, h.step(f, 101), T0.Add(5*time.Minute), nil), mfa.ErrInvalidTicket, "expired")
		assert.EqualValues(h.t, 100, h.get(u).Factors[0].Counter)
	}},
	{"DeleteExpiredTickets", func(h *harness) {
		u, _ := h.enabled()
		live := h.ticket(u)
		old := randomBytes(32)
		require.NoError(h.t, h.store.CreateTicket(h.ctx, mfa.Ticket{Hash: old, UserID: u, ExpiresAt: T0.Add(-time.Second)}))
		n, err := h.store.DeleteExpiredTickets(h.ctx, T0)
		require.NoError(h.t, err)
		assert.GreaterOrEqual(h.t, n, 1) // stores may be shared by concurrent cases
		_, err = h.store.LookupTicket(h.ctx, live, T0)
		assert.NoError(h.t, err)
		_, err = h.store.LookupTicket(h.ctx, old, T0.Add(-time.Minute))
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket, "deleted, not merely expired")
	}},
}

// ceremonyCases cover WebAuthn ceremonies and user handles.
var ceremonyCases = []testCase{
	{"CeremonyIsTakenOnce", func(h *harness) {
		u := h.user()
		c := mfa.Ceremony{Hash: randomBytes(32), UserID: u, Purpose: mfa.CeremonyRegister, FactorID: "f-key", Data: []byte(`{"challenge":"x"}`), ExpiresAt: T0.Add(5 * time.Minute)}
		require.NoError(h.t, h.store.CreateCeremony(h.ctx, c))
		assert.Error(h.t, h.store.CreateCeremony(h.ctx, c), "a hash that exists is an error")
		got, err := h.store.TakeCeremony(h.ctx, c.Hash, T0)
		require.NoError(h.t, err)
		assert.Equal(h.t, c.UserID, got.UserID)
		assert.Equal(h.t, c.Purpose, got.Purpose)
		assert.Equal(h.t, c.FactorID, got.FactorID)
		assert.Equal(h.t, c.Data, got.Data)
		assert.True(h.t, got.ExpiresAt.Equal(c.ExpiresAt))
		_, err = h.store.TakeCeremony(h.ctx, c.Hash, T0)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCeremony, "used up")
		_, err = h.store.TakeCeremony(h.ctx, randomBytes(32), T0)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCeremony, "unknown")
	}},
	{"CeremonyExpires", func(h *harness) {
		c := mfa.Ceremony{Hash: randomBytes(32), UserID: h.user(), Purpose: mfa.CeremonySession, Data: []byte("state"), ExpiresAt: T0.Add(5 * time.Minute)}
		require.NoError(h.t, h.store.CreateCeremony(h.ctx, c))
		_, err := h.store.TakeCeremony(h.ctx, c.Hash, T0.Add(5*time.Minute))
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCeremony)
		_, err = h.store.TakeCeremony(h.ctx, c.Hash, T0)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCeremony, "an expired ceremony presented is gone")

		old := mfa.Ceremony{Hash: randomBytes(32), UserID: h.user(), Purpose: mfa.CeremonyLogin, Data: []byte("state"), ExpiresAt: T0}
		require.NoError(h.t, h.store.CreateCeremony(h.ctx, old))
		n, err := h.store.DeleteExpiredTickets(h.ctx, T0)
		require.NoError(h.t, err)
		assert.GreaterOrEqual(h.t, n, 1)
		_, err = h.store.TakeCeremony(h.ctx, old.Hash, T0.Add(-time.Hour))
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCeremony, "deleted, not merely expired")
	}},
	{"CeremoniesGoWithTheUser", func(h *harness) {
		u, f := h.enabled()
		c := mfa.Ceremony{Hash: randomBytes(32), UserID: u, Purpose: mfa.CeremonySession, Data: []byte("state"), ExpiresAt: T0.Add(time.Minute)}
		require.NoError(h.t, h.store.CreateCeremony(h.ctx, c))
		require.NoError(h.t, h.store.Disable(h.ctx, u, h.step(f, 101), nil))
		_, err := h.store.TakeCeremony(h.ctx, c.Hash, T0)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidCeremony)
	}},
	{"RaceCeremonyTakenOnce", func(h *harness) {
		c := mfa.Ceremony{Hash: randomBytes(32), UserID: h.user(), Purpose: mfa.CeremonyLogin, Data: []byte("state"), ExpiresAt: T0.Add(time.Minute)}
		require.NoError(h.t, h.store.CreateCeremony(h.ctx, c))
		errs := race(Racers, func(int) error {
			_, err := h.store.TakeCeremony(h.ctx, c.Hash, T0)
			return err
		})
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrInvalidCeremony), "a replayed response finds nothing")
	}},
	{"UserHandleIsStable", func(h *harness) {
		u := h.user()
		first, err := h.store.UserHandle(h.ctx, u, randomBytes(32))
		require.NoError(h.t, err)
		require.Len(h.t, first, 32)
		again, err := h.store.UserHandle(h.ctx, u, randomBytes(32))
		require.NoError(h.t, err)
		assert.Equal(h.t, first, again, "once per user")

		v, _ := h.enabled()
		handles := make([][]byte, Racers)
		errs := race(Racers, func(i int) error {
			var err error
			handles[i], err = h.store.UserHandle(h.ctx, v, randomBytes(32))
			return err
		})
		tally(h.t, errs)
		for _, got := range handles {
			assert.Equal(h.t, handles[0], got, "racing callers agree")
		}
		assert.True(h.t, h.get(v).Enabled, "the user's state is kept")
	}},
}
