package storetest

import (
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

const ticketAttempts = 3

// ticket stores a ticket for userID expiring five minutes after T0.
func (h *harness) ticket(userID string) []byte {
	hash := randomBytes(32)
	require.NoError(h.t, h.store.CreateTicket(h.ctx, mfa.Ticket{Hash: hash, UserID: userID, ExpiresAt: T0.Add(5 * time.Minute)}))
	return hash
}

// lifecycleCases cover disable, regeneration and login challenges.
var lifecycleCases = []testCase{
	{"ReplaceRecoveryCodes", func(h *harness) {
		old := hashes(10)
		u, _ := h.enabled(old...)
		_, err := h.reserve(u, true, T0)
		require.NoError(h.t, err)
		fresh := hashes(10)
		require.NoError(h.t, h.store.ReplaceRecoveryCodes(h.ctx, u, 101, fresh))
		st := h.get(u)
		assert.EqualValues(h.t, 101, st.LastStep, "the code's step is used")
		assert.Equal(h.t, 10, st.RecoveryCodes)
		assert.Zero(h.t, st.Failures)
		assert.ErrorIs(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, old[0]), mfa.ErrInvalidCode, "the old batch is gone")
		assert.NoError(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, fresh[0]))
	}},
	{"ReplaceRecoveryCodesRefused", func(h *harness) {
		old := hashes(10)
		u, _ := h.enabled(old...)
		assert.ErrorIs(h.t, h.store.ReplaceRecoveryCodes(h.ctx, u, 100, hashes(10)), mfa.ErrReplay)
		assert.NoError(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, old[0]), "the old batch stays valid")
		assert.Equal(h.t, 9, h.get(u).RecoveryCodes)
		assert.ErrorIs(h.t, h.store.ReplaceRecoveryCodes(h.ctx, h.user(), 5, hashes(10)), mfa.ErrNotEnabled)
	}},
	{"DisableWithStep", func(h *harness) {
		u, _ := h.enabled(hashes(10)...)
		ticket := h.ticket(u)
		assert.ErrorIs(h.t, h.store.Disable(h.ctx, u, mfa.Proof{Step: 100}), mfa.ErrReplay)
		assert.True(h.t, h.get(u).Enabled, "a refused proof changes nothing")
		require.NoError(h.t, h.store.Disable(h.ctx, u, mfa.Proof{Step: 101}))
		assert.Equal(h.t, mfa.State{}, h.get(u))
		_, err := h.store.ReserveTicket(h.ctx, ticket, T0, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket, "the user's tickets are gone")
		assert.ErrorIs(h.t, h.store.Disable(h.ctx, u, mfa.Proof{Step: 102}), mfa.ErrNotEnabled)
	}},
	{"DisableWithRecoveryCode", func(h *harness) {
		codes := hashes(10)
		u, _ := h.enabled(codes...)
		assert.ErrorIs(h.t, h.store.Disable(h.ctx, u, mfa.Proof{RecoveryCode: randomBytes(32)}), mfa.ErrInvalidCode)
		assert.True(h.t, h.get(u).Enabled)
		require.NoError(h.t, h.store.Disable(h.ctx, u, mfa.Proof{RecoveryCode: codes[2]}))
		assert.Equal(h.t, mfa.State{}, h.get(u))

		// A new enrolment does not bring the old codes back.
		secret := randomBytes(20)
		require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
		require.NoError(h.t, h.store.Enable(h.ctx, u, mfa.Enablement{Secret: secret, Step: 1, RecoveryCodes: hashes(10)}))
		assert.ErrorIs(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, codes[3]), mfa.ErrInvalidCode)
	}},
	{"TicketReserveAndComplete", func(h *harness) {
		u, _ := h.enabled(hashes(10)...)
		ticket := h.ticket(u)
		got, err := h.store.ReserveTicket(h.ctx, ticket, T0, ticketAttempts)
		require.NoError(h.t, err)
		assert.Equal(h.t, u, got)

		// A refused proof leaves the ticket usable.
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, ticket, u, mfa.Proof{Step: 100}, T0), mfa.ErrReplay)
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, ticket, "someone-else", mfa.Proof{Step: 101}, T0), mfa.ErrInvalidTicket)
		_, err = h.reserve(u, true, T0)
		require.NoError(h.t, err)
		require.NoError(h.t, h.store.CompleteChallenge(h.ctx, ticket, u, mfa.Proof{Step: 101}, T0))
		st := h.get(u)
		assert.EqualValues(h.t, 101, st.LastStep)
		assert.Zero(h.t, st.Failures, "a success resets the count")

		// Single use.
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, ticket, u, mfa.Proof{Step: 102}, T0), mfa.ErrInvalidTicket)
		_, err = h.store.ReserveTicket(h.ctx, ticket, T0, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
	}},
	{"TicketWithRecoveryCode", func(h *harness) {
		codes := hashes(10)
		u, _ := h.enabled(codes...)
		ticket := h.ticket(u)
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, ticket, u, mfa.Proof{RecoveryCode: randomBytes(32)}, T0), mfa.ErrInvalidCode)
		require.NoError(h.t, h.store.CompleteChallenge(h.ctx, ticket, u, mfa.Proof{RecoveryCode: codes[7]}, T0))
		assert.Equal(h.t, 9, h.get(u).RecoveryCodes)
		again := h.ticket(u)
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, again, u, mfa.Proof{RecoveryCode: codes[7]}, T0), mfa.ErrInvalidCode, "consumed")
	}},
	{"TicketAttemptBudget", func(h *harness) {
		u, _ := h.enabled()
		ticket := h.ticket(u)
		for i := 0; i < ticketAttempts; i++ {
			_, err := h.store.ReserveTicket(h.ctx, ticket, T0, ticketAttempts)
			require.NoError(h.t, err, "attempt %d", i+1)
		}
		_, err := h.store.ReserveTicket(h.ctx, ticket, T0, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
	}},
	{"TicketExpiry", func(h *harness) {
		u, _ := h.enabled()
		ticket := h.ticket(u) // expires at T0+5m
		_, err := h.store.ReserveTicket(h.ctx, ticket, T0.Add(5*time.Minute-time.Second), ticketAttempts)
		require.NoError(h.t, err)
		assert.ErrorIs(h.t, h.store.CompleteChallenge(h.ctx, ticket, u, mfa.Proof{Step: 101}, T0.Add(5*time.Minute)), mfa.ErrInvalidTicket)
		assert.EqualValues(h.t, 100, h.get(u).LastStep, "nothing accepted with an expired ticket")
		_, err = h.store.ReserveTicket(h.ctx, ticket, T0.Add(5*time.Minute), ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
		_, err = h.store.ReserveTicket(h.ctx, ticket, T0, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket, "an expired ticket is deleted when presented")
	}},
	{"DeleteExpiredTickets", func(h *harness) {
		u, _ := h.enabled()
		// Far in the future, so that other cases' tickets sharing the
		// store are already expired and counted too: count only ours.
		ours := make([][]byte, 3)
		for i := range ours {
			ours[i] = randomBytes(32)
			require.NoError(h.t, h.store.CreateTicket(h.ctx, mfa.Ticket{Hash: ours[i], UserID: u, ExpiresAt: T0.Add(time.Duration(i+1) * 1000 * time.Hour)}))
		}
		n, err := h.store.DeleteExpiredTickets(h.ctx, T0.Add(2500*time.Hour))
		require.NoError(h.t, err)
		assert.GreaterOrEqual(h.t, n, 2)
		_, err = h.store.ReserveTicket(h.ctx, ours[2], T0, ticketAttempts)
		assert.NoError(h.t, err, "a live ticket stays")
		_, err = h.store.ReserveTicket(h.ctx, ours[0], T0, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
	}},
	{"CreateTicketCollision", func(h *harness) {
		u, _ := h.enabled()
		ticket := h.ticket(u)
		err := h.store.CreateTicket(h.ctx, mfa.Ticket{Hash: ticket, UserID: h.user(), ExpiresAt: T0.Add(time.Hour)})
		assert.Error(h.t, err)
		got, err := h.store.ReserveTicket(h.ctx, ticket, T0, ticketAttempts)
		require.NoError(h.t, err)
		assert.Equal(h.t, u, got, "the first ticket is intact")
	}},
	{"DeleteRemovesTickets", func(h *harness) {
		u, _ := h.enabled()
		ticket := h.ticket(u)
		require.NoError(h.t, h.store.Delete(h.ctx, u))
		_, err := h.store.ReserveTicket(h.ctx, ticket, T0, ticketAttempts)
		assert.ErrorIs(h.t, err, mfa.ErrInvalidTicket)
	}},

	{"ReplaceSecret", func(h *harness) {
		u, secret := h.enabled()
		sealed := randomBytes(70)
		ok, err := h.store.ReplaceSecret(h.ctx, u, randomBytes(20), sealed)
		require.NoError(h.t, err)
		assert.False(h.t, ok, "not the stored secret: nothing changes")
		assert.Equal(h.t, secret, h.get(u).Secret)
		ok, err = h.store.ReplaceSecret(h.ctx, u, secret, sealed)
		require.NoError(h.t, err)
		assert.True(h.t, ok)
		st := h.get(u)
		assert.Equal(h.t, sealed, st.Secret)
		assert.True(h.t, st.Enabled)
		assert.EqualValues(h.t, 100, st.LastStep, "only the secret changes")
		ok, err = h.store.ReplaceSecret(h.ctx, h.user(), secret, sealed)
		require.NoError(h.t, err)
		assert.False(h.t, ok, "unknown user")
	}},
	{"ListSecretsPages", func(h *harness) {
		// The store may hold other cases' users: page through all and
		// find ours, each once, in ascending order.
		want := map[string][]byte{}
		for i := 0; i < 7; i++ {
			u := h.user()
			secret := randomBytes(20)
			require.NoError(h.t, h.store.SetPending(h.ctx, u, secret))
			want[u] = secret
		}
		seen := map[string]int{}
		after := ""
		for pages := 0; ; pages++ {
			require.Less(h.t, pages, 10000, "paging must end")
			rows, err := h.store.ListSecrets(h.ctx, after, 3)
			require.NoError(h.t, err)
			require.LessOrEqual(h.t, len(rows), 3)
			for _, r := range rows {
				seen[r.UserID]++
				if secret, ok := want[r.UserID]; ok {
					assert.Equal(h.t, secret, r.Secret)
				}
			}
			if len(rows) < 3 {
				break
			}
			after = rows[len(rows)-1].UserID
		}
		for u := range want {
			assert.Equal(h.t, 1, seen[u], "user %s listed once", u)
		}
	}},

	{"RaceCompleteOneTicket", func(h *harness) {
		u, _ := h.enabled()
		ticket := h.ticket(u)
		errs := race(func(i int) error {
			return h.store.CompleteChallenge(h.ctx, ticket, u, mfa.Proof{Step: int64(101 + i)}, T0)
		})
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrInvalidTicket, mfa.ErrReplay), "one ticket, one login")
	}},
	{"RaceDisableAndChallenge", func(h *harness) {
		u, _ := h.enabled()
		tickets := make([][]byte, Racers)
		for i := range tickets {
			tickets[i] = h.ticket(u)
		}
		var disabled atomic.Bool
		var lateSuccess atomic.Int32
		errs := race(func(i int) error {
			if i == 0 {
				err := h.store.Disable(h.ctx, u, mfa.Proof{Step: 1_000_000})
				disabled.Store(err == nil)
				return err
			}
			after := disabled.Load()
			err := h.store.CompleteChallenge(h.ctx, tickets[i], u, mfa.Proof{Step: int64(100 + i)}, T0)
			if err == nil && after {
				lateSuccess.Add(1)
			}
			return err
		})
		require.NoError(h.t, errs[0], "disable")
		tally(h.t, errs, mfa.ErrInvalidTicket, mfa.ErrReplay, mfa.ErrNotEnabled)
		assert.Zero(h.t, lateSuccess.Load(), "no challenge succeeds once disable committed")
		for _, ticket := range tickets[1:] {
			assert.Error(h.t, h.store.CompleteChallenge(h.ctx, ticket, u, mfa.Proof{Step: 2_000_000}, T0))
		}
	}},
	{"RaceRegenerateAndRecoveryChallenge", func(h *harness) {
		old := hashes(10)
		u, _ := h.enabled(old...)
		tickets := make([][]byte, Racers)
		for i := range tickets {
			tickets[i] = h.ticket(u)
		}
		fresh := hashes(10)
		var replaced atomic.Bool
		var lateSuccess atomic.Int32
		errs := race(func(i int) error {
			if i == 0 {
				err := h.store.ReplaceRecoveryCodes(h.ctx, u, 1_000_000, fresh)
				replaced.Store(err == nil)
				return err
			}
			after := replaced.Load()
			err := h.store.CompleteChallenge(h.ctx, tickets[i], u, mfa.Proof{RecoveryCode: old[i%len(old)]}, T0)
			if err == nil && after {
				lateSuccess.Add(1)
			}
			return err
		})
		require.NoError(h.t, errs[0], "regenerate")
		wins := tally(h.t, errs, mfa.ErrInvalidCode) - 1 // not counting the regeneration
		assert.LessOrEqual(h.t, wins, len(old), "each old code at most once")
		assert.Zero(h.t, lateSuccess.Load(), "no old code works once the new batch committed")
		for _, code := range old {
			assert.ErrorIs(h.t, h.store.ConsumeRecoveryCode(h.ctx, u, code), mfa.ErrInvalidCode)
		}
		assert.Equal(h.t, 10, h.get(u).RecoveryCodes, "the new batch is whole")
	}},
}
