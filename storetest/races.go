package storetest

import (
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// budget is the failure budget of the budget races: the library's
// defaults, 5 failures and 20 lockouts, so at most 100 checks.
var budget = mfa.Throttle{MaxFailures: 5, Lockout: 30 * time.Second, MaxLockout: 15 * time.Minute, MaxLockouts: 20}

// check runs one check of a wrong credential as the Service does: reserve
// an attempt, then ask the store to accept the proof. It reports whether
// the credential was checked (the reservation succeeded).
func (h *harness) check(userID string, now time.Time, p mfa.Proof) (bool, error) {
	_, err := h.store.ReserveAttempt(h.ctx, userID, mfa.Attempt{Enabled: true, Now: now, Throttle: budget})
	if err != nil {
		return false, err
	}
	return true, h.store.Accept(h.ctx, userID, p, nil)
}

// raceCases race goroutines against the rules that must hold exactly:
// at-most-once acceptance and the failure budget.
var raceCases = []testCase{
	{"RaceRecoveryCodeBudgetIsExact", func(h *harness) {
		u, _ := h.enabled(hashes(10)...)
		var checked atomic.Int64
		errs := race(BudgetRacers, func(int) error {
			ok, err := h.check(u, T0, code(randomBytes(32)))
			if ok {
				checked.Add(1)
			}
			return err
		})
		tally(h.t, errs, mfa.ErrInvalidCode, mfa.ErrRateLimited)
		h.t.Logf("%d concurrent wrong recovery codes, budget %d: %d checked", BudgetRacers, budget.MaxFailures, checked.Load())
		assert.EqualValues(h.t, budget.MaxFailures, checked.Load())
	}},
	{"RaceMixedBudgetIsExact", func(h *harness) {
		u, f := h.enabled(hashes(10)...)
		var checked atomic.Int64
		errs := race(BudgetRacers, func(i int) error {
			p := code(randomBytes(32))
			if i%2 == 0 {
				p = h.step(f, 100) // a replayed TOTP step
			}
			ok, err := h.check(u, T0, p)
			if ok {
				checked.Add(1)
			}
			return err
		})
		tally(h.t, errs, mfa.ErrInvalidCode, mfa.ErrRateLimited)
		h.t.Logf("%d concurrent wrong TOTP and recovery codes, budget %d: %d checked", BudgetRacers, budget.MaxFailures, checked.Load())
		assert.LessOrEqual(h.t, checked.Load(), int64(budget.MaxFailures))
	}},
	{"RaceBurstsUntilPermanentLock", func(h *harness) {
		u, _ := h.enabled(hashes(10)...)
		var checked atomic.Int64
		now := T0
		for burst := 0; burst < budget.MaxLockouts+5; burst++ {
			race(Racers, func(int) error {
				if ok, _ := h.check(u, now, code(randomBytes(32))); ok {
					checked.Add(1)
				}
				return nil
			})
			now = now.Add(time.Hour) // past every lockout
		}
		max := int64(budget.MaxFailures * budget.MaxLockouts)
		h.t.Logf("%d bursts of %d wrong recovery codes until the permanent lock: %d checked (bound %d)", budget.MaxLockouts+5, Racers, checked.Load(), max)
		assert.LessOrEqual(h.t, checked.Load(), max)
		_, err := h.store.ReserveAttempt(h.ctx, u, mfa.Attempt{Enabled: true, Now: now, Throttle: budget})
		var limited *mfa.RateLimitError
		require.ErrorAs(h.t, err, &limited)
		assert.True(h.t, limited.Permanent)
	}},
	{"RaceReserveTakesExactBudget", func(h *harness) {
		u, _ := h.pending()
		errs := race(Racers, func(int) error {
			_, err := h.reserve(u, false, T0)
			return err
		})
		wins := tally(h.t, errs, mfa.ErrRateLimited)
		assert.Equal(h.t, throttle.MaxFailures, wins)
		assert.Equal(h.t, 1, h.get(u).Lockouts)
	}},
	{"RaceEnableOneWins", func(h *harness) {
		u, f := h.pending()
		errs := race(Racers, func(i int) error {
			return h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: int64(10 + i%3), UsedAt: T0, RecoveryCodes: hashes(10)}, nil)
		})
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrAlreadyEnabled))
		assert.Equal(h.t, 10, h.get(u).RecoveryCodes, "exactly one batch")
	}},
	{"RaceAcceptSameStepOneWins", func(h *harness) {
		u, f := h.enabled()
		errs := race(Racers, func(int) error { return h.store.Accept(h.ctx, u, h.step(f, 101), nil) })
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrReplay))
	}},
	{"RaceRecoveryCodeOneWins", func(h *harness) {
		codes := hashes(10)
		u, _ := h.enabled(codes...)
		errs := race(Racers, func(int) error { return h.store.Accept(h.ctx, u, code(codes[5]), nil) })
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrInvalidCode))
		assert.Equal(h.t, 9, h.get(u).RecoveryCodes)
	}},
	{"RaceDisableOneWins", func(h *harness) {
		u, f := h.enabled(hashes(10)...)
		errs := race(Racers, func(i int) error { return h.store.Disable(h.ctx, u, h.step(f, int64(101+i)), nil) })
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrNotEnabled, mfa.ErrReplay))
		assert.Equal(h.t, mfa.State{}, h.get(u))
	}},
	{"RaceConfirmOneWins", func(h *harness) {
		u, f := h.enabled()
		p := h.factor("Laptop")
		require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(f, 101), p, maxFactors, nil))
		errs := race(Racers, func(i int) error {
			return h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: p.ID, Counter: int64(10 + i%3), UsedAt: T0}, maxFactors, nil)
		})
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrFactorNotFound))
		assert.Equal(h.t, 2, activeCount(h.get(u)))
	}},
	{"RaceOneCredentialOneOwner", func(h *harness) {
		cred := randomBytes(16)
		users := make([]string, Racers)
		factors := make([]mfa.Factor, Racers)
		for i := range users {
			users[i], factors[i] = h.user(), h.factor("Key")
			factors[i].Type = mfa.FactorWebAuthn
			require.NoError(h.t, h.store.SetPending(h.ctx, users[i], factors[i], nil))
		}
		errs := race(Racers, func(i int) error {
			return h.store.Enable(h.ctx, users[i], mfa.Enablement{FactorID: factors[i].ID, Counter: 1, Secret: []byte("data"), CredentialID: cred, UsedAt: T0}, nil)
		})
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrCredentialInUse), "one user registers the credential")
	}},
	{"RaceAddsNeverExceedTheMaximum", func(h *harness) {
		u, f := h.enabled(hashes(10)...)
		// Each racer adds a factor (proving with a step of its own) and
		// confirms it at once; adds replace each other's pending factor.
		errs := race(Racers, func(i int) error {
			p := h.factor("Racer")
			if err := h.store.AddFactor(h.ctx, u, h.step(f, int64(1000+i)), p, maxFactors, nil); err != nil {
				return err
			}
			return h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: p.ID, Counter: 5, UsedAt: T0}, maxFactors, nil)
		})
		wins := tally(h.t, errs, mfa.ErrTooManyFactors, mfa.ErrReplay, mfa.ErrFactorNotFound)
		st := h.get(u)
		h.t.Logf("%d racing adds and confirms, maximum %d: %d confirmed, %d active", Racers, maxFactors, wins, activeCount(st))
		assert.LessOrEqual(h.t, activeCount(st), maxFactors)
		assert.Equal(h.t, 1+wins, activeCount(st))
	}},
	{"RaceRemovingTheLastTwoFactors", func(h *harness) {
		for round := 0; round < 10; round++ {
			u, f := h.enabled(hashes(10)...)
			g := h.second(u, f, 101)
			// Each racer removes one factor, proving with either.
			errs := race(Racers, func(i int) error {
				target, prover := f, g
				if i%2 == 1 {
					target = g
				}
				if i%4 >= 2 {
					prover = f
				}
				_, err := h.store.RemoveFactor(h.ctx, u, target.ID, h.step(prover, int64(200+i)), nil, nil)
				return err
			})
			tally(h.t, errs, mfa.ErrFactorNotFound, mfa.ErrInvalidCode, mfa.ErrReplay, mfa.ErrNotEnabled)
			st := h.get(u)
			if st.Enabled {
				assert.Positive(h.t, activeCount(st), "MFA is never left on with no factor")
			} else {
				assert.Equal(h.t, mfa.State{}, st, "removing the last factor removes everything")
			}
		}
	}},
	{"RaceChallengeOneCompletion", func(h *harness) {
		u, f := h.enabled()
		hash := h.ticket(u)
		errs := race(Racers, func(i int) error {
			return h.store.CompleteChallenge(h.ctx, hash, u, h.step(f, int64(101+i)), T0, nil)
		})
		assert.Equal(h.t, 1, tally(h.t, errs, mfa.ErrInvalidTicket, mfa.ErrReplay))
	}},
	{"RaceTicketBudget", func(h *harness) {
		u, _ := h.enabled()
		hash := h.ticket(u)
		errs := race(Racers, func(int) error {
			_, err := h.store.ReserveTicket(h.ctx, hash, T0, ticketAttempts)
			return err
		})
		assert.Equal(h.t, ticketAttempts, tally(h.t, errs, mfa.ErrInvalidTicket))
	}},
}
