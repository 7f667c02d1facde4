package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

func TestSeveralAuthenticators(t *testing.T) {
	f := newFixture(t)
	secret, codes := f.enabled(t, "alice")
	enr, err := f.svc.AddFactor(f.ctx, "alice", "Laptop", mfa.Credential{Code: f.code(t, secret, 0)})
	require.NoError(t, err)
	assert.Equal(t, "Laptop", enr.Name)
	assert.NotEqual(t, secret, enr.Secret, "its own secret")
	st, err := f.svc.Status(f.ctx, "alice")
	require.NoError(t, err)
	assert.True(t, st.SetupPending)
	assert.Len(t, st.Factors, 1, "pending until confirmed")

	info, err := f.svc.ConfirmFactor(f.ctx, "alice", enr.FactorID, f.code(t, enr.Secret, 0))
	require.NoError(t, err)
	assert.Equal(t, mfa.FactorInfo{ID: enr.FactorID, Name: "Laptop", Type: mfa.FactorTOTP, CreatedAt: f.clock.Now(), LastUsedAt: f.clock.Now()}, info)
	st, err = f.svc.Status(f.ctx, "alice")
	require.NoError(t, err)
	require.Len(t, st.Factors, 2)
	assert.Equal(t, 10, st.RecoveryCodesRemaining, "the recovery codes are not touched")

	// A code of either works and says which matched; replay is per
	// authenticator.
	f.clock.Advance(30 * time.Second)
	v, err := f.svc.Verify(f.ctx, "alice", mfa.Credential{Code: f.code(t, enr.Secret, 0)})
	require.NoError(t, err)
	assert.Equal(t, enr.FactorID, v.FactorID)
	v, err = f.svc.Verify(f.ctx, "alice", mfa.Credential{Code: f.code(t, secret, 0)})
	require.NoError(t, err, "the other authenticator's code for the same step")
	assert.Equal(t, st.Factors[0].ID, v.FactorID)
	assert.ErrorIs(t, verifyCode(f.svc, f.ctx, "alice", f.code(t, enr.Secret, 0)), mfa.ErrReplay)

	// Remove the first with the second's code; then the last with a
	// recovery code, which is Disable.
	f.clock.Advance(30 * time.Second)
	first := st.Factors[0].ID
	enabled, err := f.svc.RemoveFactor(f.ctx, "alice", first, mfa.Credential{Code: f.code(t, enr.Secret, 0)})
	require.NoError(t, err)
	assert.True(t, enabled)
	_, err = f.svc.RemoveFactor(f.ctx, "alice", first, mfa.Credential{RecoveryCode: codes[0]})
	assert.ErrorIs(t, err, mfa.ErrFactorNotFound)
	enabled, err = f.svc.RemoveFactor(f.ctx, "alice", enr.FactorID, mfa.Credential{RecoveryCode: codes[0]})
	require.NoError(t, err)
	assert.False(t, enabled)
	st, err = f.svc.Status(f.ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, mfa.Status{}, st, "exactly Disable")

	var added, removed, disabled []string
	for _, e := range f.events(t) {
		switch e.Type {
		case mfa.EventFactorAdded:
			added = append(added, e.FactorID)
		case mfa.EventFactorRemoved:
			removed = append(removed, e.FactorID)
		case mfa.EventDisabled:
			disabled = append(disabled, e.Operation)
		}
		assert.NotContains(t, fmt.Sprintf("%+v", e), enr.Secret)
	}
	assert.Equal(t, []string{enr.FactorID}, added)
	assert.Equal(t, []string{first, enr.FactorID}, removed)
	assert.Equal(t, []string{"remove_factor"}, disabled, "removing the last is audited as disabling")
}

func TestAddFactorRules(t *testing.T) {
	f := newFixture(t, func(c *mfa.Config) { c.MaxFactors = 2 })
	_, err := f.svc.AddFactor(f.ctx, "nobody", "Laptop", mfa.Credential{Code: "123456"})
	assert.ErrorIs(t, err, mfa.ErrNotEnabled)
	secret, codes := f.enabled(t, "bob")
	for _, name := range []string{"", string(make([]rune, 65)), "a\nb"} {
		_, err := f.svc.AddFactor(f.ctx, "bob", name, mfa.Credential{Code: f.code(t, secret, 0)})
		assert.ErrorIs(t, err, mfa.ErrInvalidInput, "%q", name)
	}
	_, err = f.svc.AddFactor(f.ctx, "bob", "Laptop", mfa.Credential{Code: "000000"})
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "a session alone cannot add a device")

	// A recovery code proves, and is used up.
	enr, err := f.svc.AddFactor(f.ctx, "bob", "Laptop", mfa.Credential{RecoveryCode: codes[0]})
	require.NoError(t, err)
	// A later add replaces the pending one.
	again, err := f.svc.AddFactor(f.ctx, "bob", "Tablet", mfa.Credential{Code: f.code(t, secret, 0)})
	require.NoError(t, err)
	_, err = f.svc.ConfirmFactor(f.ctx, "bob", enr.FactorID, f.code(t, enr.Secret, 0))
	assert.ErrorIs(t, err, mfa.ErrFactorNotFound, "replaced")
	_, err = f.svc.ConfirmFactor(f.ctx, "bob", again.FactorID, f.code(t, enr.Secret, 0))
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "the first code must come from the new authenticator")
	_, err = f.svc.ConfirmFactor(f.ctx, "bob", again.FactorID, f.code(t, again.Secret, 0))
	require.NoError(t, err)

	// At the maximum: refused before anything is counted.
	f.clock.Advance(30 * time.Second)
	before, err := f.store.Get(f.ctx, "bob")
	require.NoError(t, err)
	_, err = f.svc.AddFactor(f.ctx, "bob", "Third", mfa.Credential{Code: f.code(t, secret, 0)})
	assert.ErrorIs(t, err, mfa.ErrTooManyFactors)
	after, err := f.store.Get(f.ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing changes")
}

// Recovery-code guesses take an attempt before they are checked, so a
// burst gets exactly the budget of checks.
func TestRecoveryCodeBudgetIsExact(t *testing.T) {
	f := newFixture(t)
	f.enabled(t, "carol")
	results := make([]error, 200)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = redeem(f.svc, f.ctx, "carol", "AAAAAAAAAA")
		}()
	}
	wg.Wait()
	checked, limited := 0, 0
	for _, err := range results {
		switch {
		case errors.Is(err, mfa.ErrInvalidCode):
			checked++
		case errors.Is(err, mfa.ErrRateLimited):
			limited++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	t.Logf("200 concurrent wrong recovery codes: %d checked, %d refused by the lockout", checked, limited)
	assert.Equal(t, 5, checked)
}

// A user the host deleted cannot finish a login or pass a check, even
// with a token minted before the deletion.
func TestDeletedAccounts(t *testing.T) {
	deleted := map[string]bool{}
	var mu sync.Mutex
	f := newFixture(t, func(c *mfa.Config) {
		c.Account = func(_ context.Context, userID string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if deleted[userID] {
				return "", mfa.ErrUserNotFound
			}
			return userID, nil
		}
	})
	secret, codes := f.enabled(t, "dave")
	token, err := f.svc.StartChallenge(f.ctx, "dave")
	require.NoError(t, err)
	mu.Lock()
	deleted["dave"] = true
	mu.Unlock()
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: f.code(t, secret, 0)})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket)
	_, err = f.svc.Verify(f.ctx, "dave", mfa.Credential{RecoveryCode: codes[0]})
	assert.ErrorIs(t, err, mfa.ErrUserNotFound)
	st, err := f.store.Get(f.ctx, "dave")
	require.NoError(t, err)
	assert.Equal(t, 10, st.RecoveryCodes, "nothing was used up")
}

// Lockout wins: over the token whose failures caused it, and over a
// deleted account.
func TestLockoutAnswersFirst(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.enabled(t, "erin")
	token, err := f.svc.StartChallenge(f.ctx, "erin")
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, err := f.svc.Challenge(f.ctx, token, mfa.Credential{Code: "000000"})
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
	}
	var limited *mfa.RateLimitError
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: f.code(t, secret, 0)})
	require.ErrorAs(t, err, &limited, "the token is out of attempts, but the user is locked")
	assert.Equal(t, 30*time.Second, limited.RetryAfter)
	_, err = f.svc.Challenge(f.ctx, "unknown", mfa.Credential{Code: "12"})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket, "an unknown token answers before a bad shape")
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: "12"})
	assert.ErrorIs(t, err, mfa.ErrInvalidInput, "a known token, a bad shape")
}

func TestFactorAccepts(t *testing.T) {
	totp := mfa.Factor{Type: mfa.FactorTOTP, Counter: 10}
	assert.True(t, totp.Accepts(11))
	assert.False(t, totp.Accepts(10), "a used step")
	assert.False(t, totp.Accepts(9))
	key := mfa.Factor{Type: mfa.FactorWebAuthn}
	assert.True(t, key.Accepts(0), "a key without a signature counter stays at zero")
	assert.True(t, key.Accepts(1))
	key.Counter = 5
	assert.False(t, key.Accepts(0), "a counter that went back to zero")
	assert.False(t, key.Accepts(5))
	assert.False(t, mfa.Factor{Type: mfa.FactorTOTP}.Accepts(0), "zero is special for keys only")
}
