package mfa_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/mfatest"
)

// respond answers a ceremony with key, as mfa.Assertion.
func respond(k *mfatest.Key, c *mfa.KeyCeremony, handle []byte) mfa.Assertion {
	return mfa.Assertion{Ceremony: c.Ceremony, Response: k.Respond(c.Options, handle)}
}

// registerKey registers k as the user's first factor and returns the
// recovery codes.
func (f *fixture) registerKey(t *testing.T, userID string, k *mfatest.Key) (string, []string) {
	t.Helper()
	c, err := f.svc.BeginKeyRegistration(f.ctx, userID, "YubiKey", mfa.Credential{})
	require.NoError(t, err)
	handle, err := f.store.UserHandle(f.ctx, userID, nil)
	require.NoError(t, err)
	info, codes, err := f.svc.FinishKeyRegistration(f.ctx, userID, c.FactorID, respond(k, c, handle))
	require.NoError(t, err)
	return info.ID, codes
}

func keyFixture(t *testing.T) *fixture {
	return newFixture(t, func(c *mfa.Config) { c.WebAuthn = mfatest.WebAuthn{} })
}

// A user whose only factor is a security key enrols, logs in, steps up,
// regenerates recovery codes and turns MFA off with it.
func TestSecurityKeyAsOnlyFactor(t *testing.T) {
	f := keyFixture(t)
	key := mfatest.NewKey()
	factorID, codes := f.registerKey(t, "kim", key)
	assert.Len(t, codes, 10, "a first factor turns MFA on and brings recovery codes")
	st, err := f.svc.Status(f.ctx, "kim")
	require.NoError(t, err)
	require.True(t, st.Enabled)
	require.Len(t, st.Factors, 1)
	assert.Equal(t, mfa.FactorWebAuthn, st.Factors[0].Type)
	assert.Equal(t, "YubiKey", st.Factors[0].Name)

	check := func() mfa.Credential {
		c, err := f.svc.BeginKeyCheck(f.ctx, "kim")
		require.NoError(t, err)
		a := respond(key, c, nil)
		return mfa.Credential{WebAuthn: &a}
	}
	token, err := f.svc.StartChallenge(f.ctx, "kim")
	require.NoError(t, err)
	c, err := f.svc.BeginKeyLogin(f.ctx, token)
	require.NoError(t, err)
	a := respond(key, c, nil)
	v, err := f.svc.Challenge(f.ctx, token, mfa.Credential{WebAuthn: &a})
	require.NoError(t, err)
	assert.Equal(t, mfa.Verification{UserID: "kim", Method: mfa.MethodWebAuthn, FactorID: factorID, At: f.clock.Now()}, v)

	v, err = f.svc.Verify(f.ctx, "kim", check())
	require.NoError(t, err, "step-up")
	assert.Equal(t, factorID, v.FactorID)
	fresh, err := f.svc.RegenerateRecoveryCodes(f.ctx, "kim", check())
	require.NoError(t, err)
	assert.Len(t, fresh, 10)
	require.NoError(t, f.svc.Disable(f.ctx, "kim", check()))
	st, err = f.svc.Status(f.ctx, "kim")
	require.NoError(t, err)
	assert.False(t, st.Enabled)
}

func TestSecurityKeyCeremonies(t *testing.T) {
	f := keyFixture(t)
	key := mfatest.NewKey()
	f.registerKey(t, "lee", key)

	// A response is good once: the ceremony is used up, success or not.
	c, err := f.svc.BeginKeyCheck(f.ctx, "lee")
	require.NoError(t, err)
	a := respond(key, c, nil)
	_, err = f.svc.Verify(f.ctx, "lee", mfa.Credential{WebAuthn: &a})
	require.NoError(t, err)
	_, err = f.svc.Verify(f.ctx, "lee", mfa.Credential{WebAuthn: &a})
	assert.ErrorIs(t, err, mfa.ErrInvalidCeremony, "a replayed response")
	assert.ErrorIs(t, err, mfa.ErrInvalidCode)

	// A ceremony is bound to its user and its purpose.
	f.registerKey(t, "max", mfatest.NewKey())
	c, err = f.svc.BeginKeyCheck(f.ctx, "max")
	require.NoError(t, err)
	a = respond(key, c, nil)
	_, err = f.svc.Verify(f.ctx, "lee", mfa.Credential{WebAuthn: &a})
	assert.ErrorIs(t, err, mfa.ErrInvalidCeremony, "another user's ceremony")
	token, err := f.svc.StartChallenge(f.ctx, "lee")
	require.NoError(t, err)
	c, err = f.svc.BeginKeyLogin(f.ctx, token)
	require.NoError(t, err)
	a = respond(key, c, nil)
	_, err = f.svc.Verify(f.ctx, "lee", mfa.Credential{WebAuthn: &a})
	assert.ErrorIs(t, err, mfa.ErrInvalidCeremony, "a login ceremony does not serve a session's check")

	// A ceremony lives five minutes.
	c, err = f.svc.BeginKeyCheck(f.ctx, "lee")
	require.NoError(t, err)
	a = respond(key, c, nil)
	f.clock.Advance(5 * time.Minute)
	_, err = f.svc.Verify(f.ctx, "lee", mfa.Credential{WebAuthn: &a})
	assert.ErrorIs(t, err, mfa.ErrInvalidCeremony, "expired")
}

// A signature counter that did not grow is refused and audited as a
// possible clone.
func TestSecurityKeyCloneSuspected(t *testing.T) {
	f := keyFixture(t)
	key := mfatest.NewKey()
	factorID, _ := f.registerKey(t, "ned", key)
	c, err := f.svc.BeginKeyCheck(f.ctx, "ned")
	require.NoError(t, err)
	clone := key.Clone() // a copy that missed the original's next uses
	a := respond(key, c, nil)
	_, err = f.svc.Verify(f.ctx, "ned", mfa.Credential{WebAuthn: &a})
	require.NoError(t, err)
	c, err = f.svc.BeginKeyCheck(f.ctx, "ned")
	require.NoError(t, err)
	a = respond(clone, c, nil)
	_, err = f.svc.Verify(f.ctx, "ned", mfa.Credential{WebAuthn: &a})
	assert.ErrorIs(t, err, mfa.ErrCloneSuspected)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode)
	var clones []mfa.Event
	for _, e := range f.events(t) {
		if e.Type == mfa.EventCloneSuspected {
			clones = append(clones, e)
		}
	}
	require.Len(t, clones, 1)
	assert.Equal(t, factorID, clones[0].FactorID)
}

// Refused assertions draw on the user's failure budget; a locked user
// starts no ceremony.
func TestSecurityKeyBudget(t *testing.T) {
	f := keyFixture(t)
	key := mfatest.NewKey()
	f.registerKey(t, "ora", key)
	early, err := f.svc.BeginKeyCheck(f.ctx, "ora")
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		c, err := f.svc.BeginKeyCheck(f.ctx, "ora")
		require.NoError(t, err)
		a := respond(mfatest.NewKey(), c, nil) // a key the user does not have
		_, err = f.svc.Verify(f.ctx, "ora", mfa.Credential{WebAuthn: &a})
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
	}
	_, err = f.svc.BeginKeyCheck(f.ctx, "ora")
	assert.ErrorIs(t, err, mfa.ErrRateLimited, "locked: no new ceremony")
	a := respond(key, early, nil)
	_, err = f.svc.Verify(f.ctx, "ora", mfa.Credential{WebAuthn: &a})
	assert.ErrorIs(t, err, mfa.ErrRateLimited, "locked: even the right key is refused")

	token, err := f.svc.StartChallenge(f.ctx, "ora")
	require.NoError(t, err)
	_, err = f.svc.BeginKeyLogin(f.ctx, token)
	assert.ErrorIs(t, err, mfa.ErrRateLimited, "at the login challenge too")
}

func TestSecurityKeyRegistrationRules(t *testing.T) {
	f := keyFixture(t)
	key := mfatest.NewKey()
	f.registerKey(t, "pat", key)

	// With MFA on, adding a key needs a credential.
	_, err := f.svc.BeginKeyRegistration(f.ctx, "pat", "Spare", mfa.Credential{})
	assert.ErrorIs(t, err, mfa.ErrInvalidInput)
	proof, err := f.svc.BeginKeyCheck(f.ctx, "pat")
	require.NoError(t, err)
	a := respond(key, proof, nil)
	c, err := f.svc.BeginKeyRegistration(f.ctx, "pat", "Spare", mfa.Credential{WebAuthn: &a})
	require.NoError(t, err)
	handle, err := f.store.UserHandle(f.ctx, "pat", nil)
	require.NoError(t, err)
	// A credential registered already, to anyone, is refused.
	_, _, err = f.svc.FinishKeyRegistration(f.ctx, "pat", c.FactorID, respond(key.Clone(), c, handle))
	assert.ErrorIs(t, err, mfa.ErrCredentialInUse)

	c, err = f.svc.BeginKeyRegistration(f.ctx, "pat", "Spare", mfa.Credential{RecoveryCode: "AAAAAAAAAA"})
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "a wrong recovery code does not prove")
	_, _, err = f.svc.FinishKeyRegistration(f.ctx, "pat", "f_nope", mfa.Assertion{Ceremony: "x", Response: json.RawMessage(`{}`)})
	assert.ErrorIs(t, err, mfa.ErrFactorNotFound)

	// Without WebAuthn configured, keys are not offered.
	plain := newFixture(t)
	_, err = plain.svc.BeginKeyRegistration(plain.ctx, "pat", "Key", mfa.Credential{})
	assert.ErrorIs(t, err, mfa.ErrInvalidInput)
	_, err = plain.svc.Verify(plain.ctx, "pat", mfa.Credential{WebAuthn: &a})
	assert.ErrorIs(t, err, mfa.ErrInvalidInput)
}
