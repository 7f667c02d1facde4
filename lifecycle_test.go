package mfa_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/mfatest"
)

func TestChallengeWithTOTP(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.enabled(t, "alice")
	token, err := f.svc.StartChallenge(f.ctx, "alice")
	require.NoError(t, err)
	assert.Len(t, token, 43, "256 bits, base64url")

	code := f.code(t, secret, 0)
	v, err := f.svc.Challenge(f.ctx, token, mfa.Credential{Code: code})
	require.NoError(t, err)
	assert.Equal(t, "alice", v.UserID)
	assert.Equal(t, mfa.MethodTOTP, v.Method)
	assert.NotEmpty(t, v.FactorID, "it tells which authenticator matched")
	assert.Equal(t, f.clock.Now(), v.At)

	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: f.code(t, secret, 30*time.Second)})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket, "a token works once")

	token2, err := f.svc.StartChallenge(f.ctx, "alice")
	require.NoError(t, err)
	_, err = f.svc.Challenge(f.ctx, token2, mfa.Credential{Code: code})
	assert.ErrorIs(t, err, mfa.ErrReplay, "a code works once")
	_, err = f.svc.Challenge(f.ctx, token2, mfa.Credential{Code: f.code(t, secret, 30*time.Second)})
	assert.NoError(t, err, "a refused code leaves the token usable")
}

func TestChallengeWithRecoveryCode(t *testing.T) {
	f := newFixture(t)
	_, codes := f.enabled(t, "bob")
	token, err := f.svc.StartChallenge(f.ctx, "bob")
	require.NoError(t, err)
	v, err := f.svc.Challenge(f.ctx, token, mfa.Credential{RecoveryCode: codes[3]})
	require.NoError(t, err)
	assert.Equal(t, "bob", v.UserID)
	assert.Equal(t, mfa.MethodRecoveryCode, v.Method)
	assert.Empty(t, v.FactorID)
	token, err = f.svc.StartChallenge(f.ctx, "bob")
	require.NoError(t, err)
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{RecoveryCode: codes[3]})
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "consumed")
	st, err := f.svc.Status(f.ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, 9, st.RecoveryCodesRemaining)

	var types []mfa.EventType
	for _, e := range f.events(t) {
		if e.Operation == "challenge" {
			types = append(types, e.Type)
		}
	}
	assert.Equal(t, []mfa.EventType{mfa.EventRecoveryCodeUsed, mfa.EventChallengeSucceeded, mfa.EventChallengeFailed}, types)
}

func TestChallengeBadInput(t *testing.T) {
	f := newFixture(t)
	secret, codes := f.enabled(t, "carol")
	token, err := f.svc.StartChallenge(f.ctx, "carol")
	require.NoError(t, err)
	for name, c := range map[string]mfa.Credential{
		"neither":    {},
		"both":       {Code: f.code(t, secret, 0), RecoveryCode: codes[0]},
		"short code": {Code: "123"},
		"bad code":   {RecoveryCode: "not-a-code"},
	} {
		_, err := f.svc.Challenge(f.ctx, token, c)
		assert.ErrorIs(t, err, mfa.ErrInvalidInput, name)
	}
	_, err = f.svc.Challenge(f.ctx, "", mfa.Credential{Code: "123456"})
	assert.ErrorIs(t, err, mfa.ErrInvalidInput)
	_, err = f.svc.Challenge(f.ctx, "no-such-token", mfa.Credential{Code: "123456"})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket)
	_, err = f.svc.Challenge(f.ctx, strings.Repeat("x", 5000), mfa.Credential{RecoveryCode: codes[1]})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket)
	_, err = f.svc.Challenge(f.ctx, "no-such-token", mfa.Credential{WebAuthn: &mfa.Assertion{}})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket, "an unknown token answers before a bad shape")

	st, err := f.store.Get(f.ctx, "carol")
	require.NoError(t, err)
	assert.Zero(t, st.Failures, "bad input is not a counted attempt")
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: f.code(t, secret, 0)})
	assert.NoError(t, err, "the token is still whole")

	_, err = f.svc.StartChallenge(f.ctx, "nobody")
	assert.ErrorIs(t, err, mfa.ErrNotEnabled)

	// Refused tokens are audited with the kind of credential they came with.
	var methods []string
	for _, e := range f.events(t) {
		if e.Reason == mfa.ReasonInvalidTicket {
			methods = append(methods, e.Method)
		}
	}
	assert.Equal(t, []string{mfa.MethodTOTP, mfa.MethodRecoveryCode, mfa.MethodWebAuthn}, methods)
}

func TestChallengeTicketExpiresAndRunsOutOfAttempts(t *testing.T) {
	f := newFixture(t, func(c *mfa.Config) {
		c.TicketTTL = time.Minute
		c.TicketAttempts = 3
		c.Throttle.MaxFailures = 100
	})
	secret, _ := f.enabled(t, "dave")
	token, err := f.svc.StartChallenge(f.ctx, "dave")
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: f.code(t, secret, 0)})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket, "expired")

	token, err = f.svc.StartChallenge(f.ctx, "dave")
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: "000000"})
		assert.ErrorIs(t, err, mfa.ErrInvalidCode)
	}
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: f.code(t, secret, 0)})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket, "the ticket's own budget is spent")

	f.clock.Advance(time.Hour)
	n, err := f.svc.DeleteExpiredTickets(f.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// Two Services on one store stand for two replicas: a ticket minted on
// one is completed on the other, once.
func TestChallengeAcrossReplicas(t *testing.T) {
	f := newFixture(t)
	other, err := mfa.New(mfa.Config{Issuer: "Example", Store: f.store, Now: f.clock.Now, Audit: &recorder{}})
	require.NoError(t, err)
	defer other.Close(f.ctx)
	secret, _ := f.enabled(t, "erin")
	token, err := f.svc.StartChallenge(f.ctx, "erin")
	require.NoError(t, err)

	code := f.code(t, secret, 0)
	var wg sync.WaitGroup
	results := make([]error, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := []*mfa.Service{f.svc, other}[i%2]
			_, results[i] = svc.Challenge(f.ctx, token, mfa.Credential{Code: code})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		if err == nil {
			wins++
		}
	}
	assert.Equal(t, 1, wins)
}

func TestDisable(t *testing.T) {
	f := newFixture(t)
	secret, codes := f.enabled(t, "frank")
	token, err := f.svc.StartChallenge(f.ctx, "frank")
	require.NoError(t, err)

	assert.ErrorIs(t, f.svc.Disable(f.ctx, "frank", mfa.Credential{Code: "000000"}), mfa.ErrInvalidCode)
	assert.ErrorIs(t, f.svc.Disable(f.ctx, "frank", mfa.Credential{}), mfa.ErrInvalidInput)
	require.NoError(t, f.svc.Disable(f.ctx, "frank", mfa.Credential{Code: f.code(t, secret, 0)}))
	st, err := f.svc.Status(f.ctx, "frank")
	require.NoError(t, err)
	assert.Equal(t, mfa.Status{}, st)
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{RecoveryCode: codes[0]})
	assert.ErrorIs(t, err, mfa.ErrInvalidTicket, "open challenges die with MFA")
	assert.ErrorIs(t, f.svc.Disable(f.ctx, "frank", mfa.Credential{Code: f.code(t, secret, 30*time.Second)}), mfa.ErrNotEnabled)

	// With a recovery code.
	_, codes = f.enabled(t, "grace")
	require.NoError(t, f.svc.Disable(f.ctx, "grace", mfa.Credential{RecoveryCode: codes[9]}))
	st, err = f.svc.Status(f.ctx, "grace")
	require.NoError(t, err)
	assert.False(t, st.Enabled)
}

func TestRegenerateRecoveryCodes(t *testing.T) {
	f := newFixture(t)
	secret, old := f.enabled(t, "heidi")
	_, err := f.svc.RegenerateRecoveryCodes(f.ctx, "heidi", mfa.Credential{Code: old[0]})
	assert.ErrorIs(t, err, mfa.ErrInvalidInput, "a recovery code does not regenerate")

	fresh, err := f.svc.RegenerateRecoveryCodes(f.ctx, "heidi", mfa.Credential{Code: f.code(t, secret, 0)})
	require.NoError(t, err)
	require.Len(t, fresh, 10)
	assert.NotEqual(t, old, fresh)
	assert.ErrorIs(t, redeem(f.svc, f.ctx, "heidi", old[1]), mfa.ErrInvalidCode)
	require.NoError(t, redeem(f.svc, f.ctx, "heidi", fresh[1]))

	_, err = f.svc.RegenerateRecoveryCodes(f.ctx, "heidi", mfa.Credential{Code: f.code(t, secret, 0)})
	assert.ErrorIs(t, err, mfa.ErrReplay, "the code's step is used")
	_, err = f.svc.RegenerateRecoveryCodes(f.ctx, "nobody", mfa.Credential{Code: "123456"})
	assert.ErrorIs(t, err, mfa.ErrNotEnabled)

	types := map[mfa.EventType]int{}
	for _, e := range f.events(t) {
		types[e.Type]++
	}
	assert.Equal(t, 1, types[mfa.EventRecoveryCodesRegenerated])
}

// Nothing the user typed, and no secret, appears in an error message.
func TestErrorsNeverEchoSecrets(t *testing.T) {
	f := newFixture(t)
	secret, codes := f.enabled(t, "ivan")
	token, err := f.svc.StartChallenge(f.ctx, "ivan")
	require.NoError(t, err)
	inputs := []string{secret, codes[0], token, f.code(t, secret, 0)}
	var errs []error
	_, err = f.svc.Challenge(f.ctx, token, mfa.Credential{Code: codes[0][:8]})
	errs = append(errs, err)
	_, err = f.svc.Challenge(f.ctx, token+"x", mfa.Credential{RecoveryCode: codes[0] + "!"})
	errs = append(errs, err)
	errs = append(errs, f.svc.Disable(f.ctx, "ivan", mfa.Credential{Code: f.code(t, secret, 0), RecoveryCode: codes[0]}))
	errs = append(errs, redeem(f.svc, f.ctx, "ivan", codes[0][:9]))
	for _, err := range errs {
		require.Error(t, err)
		for _, in := range inputs {
			assert.NotContains(t, err.Error(), in)
		}
		assert.NotContains(t, fmt.Sprint(err), codes[0][:8])
	}
}

// tokenRecorder records the hashes a Store is given for login tokens and
// WebAuthn ceremonies.
type tokenRecorder struct {
	mfa.Store
	stored [][]byte
}

func (r *tokenRecorder) CreateTicket(ctx context.Context, t mfa.Ticket) error {
	r.stored = append(r.stored, t.Hash)
	return r.Store.CreateTicket(ctx, t)
}

func (r *tokenRecorder) CreateCeremony(ctx context.Context, c mfa.Ceremony) error {
	r.stored = append(r.stored, c.Hash, c.Data)
	return r.Store.CreateCeremony(ctx, c)
}

// Login tokens and ceremony tokens are 256 random bits; the Store keeps
// only their SHA-256.
func TestTokensAreStoredHashed(t *testing.T) {
	rec := &tokenRecorder{Store: memstore.New()}
	svc, _ := mfatest.NewService(t, mfa.Config{Store: rec, WebAuthn: mfatest.WebAuthn{}})
	ctx := context.Background()
	reg, err := svc.BeginKeyRegistration(ctx, "ann", "Key", mfa.Credential{})
	require.NoError(t, err)
	handle, err := rec.UserHandle(ctx, "ann", nil)
	require.NoError(t, err)
	_, _, err = svc.FinishKeyRegistration(ctx, "ann", reg.FactorID, mfa.Assertion{Ceremony: reg.Ceremony, Response: mfatest.NewKey().Respond(reg.Options, handle)})
	require.NoError(t, err)
	token, err := svc.StartChallenge(ctx, "ann")
	require.NoError(t, err)
	c, err := svc.BeginKeyLogin(ctx, token)
	require.NoError(t, err)
	raw, err := base64.RawURLEncoding.DecodeString(c.Ceremony)
	require.NoError(t, err)
	assert.Len(t, raw, 32, "256 bits")
	for _, tok := range []string{reg.Ceremony, token, c.Ceremony} {
		sum := sha256.Sum256([]byte(tok))
		assert.Contains(t, rec.stored, sum[:], "the hash is stored")
		for _, s := range rec.stored {
			assert.NotContains(t, string(s), tok, "the token is not")
		}
	}
}
