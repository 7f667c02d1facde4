package mfa_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

func key(id string, b byte) mfa.Key { return mfa.Key{ID: id, Secret: bytes.Repeat([]byte{b}, 32)} }

func ring(t *testing.T, keys ...mfa.Key) *mfa.KeyRing {
	t.Helper()
	r, err := mfa.NewKeyRing(keys...)
	require.NoError(t, err)
	return r
}

func TestParseKeyRing(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	k2 := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	r, err := mfa.ParseKeyRing("k2:" + k2 + ", k1:" + k1 + "\n")
	require.NoError(t, err)
	assert.Equal(t, "k2", r.PrimaryID())

	for name, text := range map[string]string{
		"empty":        "",
		"no colon":     "k1" + k1,
		"bad base64":   "k1:!!!",
		"short key":    "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16)),
		"bad id":       "k 1:" + k1,
		"long id":      strings.Repeat("k", 33) + ":" + k1,
		"duplicate id": "k1:" + k1 + ",k1:" + k2,
		"swapped":      k1 + ":k1",
	} {
		_, err := mfa.ParseKeyRing(text)
		assert.Error(t, err, name)
		if err != nil {
			assert.NotContains(t, err.Error(), k1[:8], "%s: no key material in errors", name)
		}
	}
	_, err = mfa.ParseKeyRing("k1:" + k1 + " " + k2 + ":k2")
	assert.EqualError(t, err, "mfa: key ring: entry 2: the ID must be 1 to 32 characters from [A-Za-z0-9_-] (ID and key swapped?)",
		"the error names the entry by position")
}

// rotationFixture is a memstore shared by Services with different rings,
// as a deployment rolling out a new key would be.
type rotationFixture struct {
	store *memstore.Store
	now   time.Time
}

func (f *rotationFixture) service(t *testing.T, keys *mfa.KeyRing) *mfa.Service {
	svc, err := mfa.New(mfa.Config{Issuer: "X", Store: f.store, Keys: keys, Now: func() time.Time { return f.now }, Audit: &recorder{}, Logger: discardLogger})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

func (f *rotationFixture) enrol(t *testing.T, svc *mfa.Service, user string) (string, []string) {
	enr, err := svc.Setup(context.Background(), user, "")
	require.NoError(t, err)
	codes, err := svc.Enable(context.Background(), user, authenticatorApp(enr.Secret, f.now))
	require.NoError(t, err)
	return enr.Secret, codes
}

// storedKeyID reads the key ID out of the stored form of a user's secret.
func (f *rotationFixture) storedKeyID(t *testing.T, user string) string {
	st, err := f.store.Get(context.Background(), user)
	require.NoError(t, err)
	secret := st.Factors[0].Secret
	require.True(t, bytes.HasPrefix(secret, []byte("MFA\x01")), "sealed")
	n := int(secret[4])
	return string(secret[5 : 5+n])
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	f := &rotationFixture{store: memstore.New(), now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	a := key("A", 0xaa)
	b := key("B", 0xbb)

	// Three users enrolled under key A.
	onlyA := f.service(t, ring(t, a))
	secrets := map[string]string{}
	codes := map[string][]string{}
	for _, u := range []string{"u1", "u2", "u3"} {
		secrets[u], codes[u] = f.enrol(t, onlyA, u)
		assert.Equal(t, "A", f.storedKeyID(t, u))
	}
	f.now = f.now.Add(30 * time.Second)

	// B becomes primary; A stays listed. A secret sealed under A verifies
	// and is re-sealed under B on that use.
	bThenA := f.service(t, ring(t, b, a))
	require.NoError(t, verifyCode(bThenA, ctx, "u1", authenticatorApp(secrets["u1"], f.now)))
	assert.Equal(t, "B", f.storedKeyID(t, "u1"))
	assert.Equal(t, "A", f.storedKeyID(t, "u2"))
	// Recovery codes issued under A stay valid until regenerated.
	require.NoError(t, redeem(bThenA, ctx, "u3", codes["u3"][0]))

	// Reseal moves the rest, and a second run has nothing to do.
	rep, err := bThenA.Reseal(ctx, 2, nil)
	require.NoError(t, err)
	assert.Equal(t, mfa.ResealReport{Scanned: 3, Resealed: 2}, rep)
	for _, u := range []string{"u1", "u2", "u3"} {
		assert.Equal(t, "B", f.storedKeyID(t, u))
	}
	rep, err = bThenA.Reseal(ctx, 2, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Resealed)

	// Removing A breaks no secret.
	onlyB := f.service(t, ring(t, b))
	f.now = f.now.Add(30 * time.Second)
	for _, u := range []string{"u1", "u2", "u3"} {
		assert.NoError(t, verifyCode(onlyB, ctx, u, authenticatorApp(secrets[u], f.now)), u)
	}
	// Fresh recovery codes (under B) work with B alone.
	f.now = f.now.Add(30 * time.Second)
	fresh, err := onlyB.RegenerateRecoveryCodes(ctx, "u2", mfa.Credential{Code: authenticatorApp(secrets["u2"], f.now)})
	require.NoError(t, err)
	assert.NoError(t, redeem(onlyB, ctx, "u2", fresh[0]))

	// A service that lost key B says which key it needs, never garbage.
	err = verifyCode(onlyA, ctx, "u3", authenticatorApp(secrets["u3"], f.now.Add(30*time.Second)))
	var keyErr *mfa.KeyError
	require.ErrorAs(t, err, &keyErr)
	assert.Equal(t, "B", keyErr.KeyID)
	assert.True(t, keyErr.Missing)
	assert.Contains(t, err.Error(), `"B"`)
}

// A secret that no longer opens (its key left the ring) costs only its own
// factor: the user's other authenticators still work, a wrong code is a
// plain failed check, and the operator is told which factor to look at.
func TestUnopenedSecretSkipsOnlyItsFactor(t *testing.T) {
	ctx := context.Background()
	f := &rotationFixture{store: memstore.New(), now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	a, b := key("A", 0xaa), key("B", 0xbb)
	old, codes := f.enrol(t, f.service(t, ring(t, a)), "u") // sealed under A
	bThenA := f.service(t, ring(t, b, a))
	f.now = f.now.Add(30 * time.Second)
	// (A recovery code proves: a code of the old factor would re-seal it
	// under B.)
	enr, err := bThenA.AddFactor(ctx, "u", "Laptop", mfa.Credential{RecoveryCode: codes[0]})
	require.NoError(t, err)
	_, err = bThenA.ConfirmFactor(ctx, "u", enr.FactorID, authenticatorApp(enr.Secret, f.now)) // sealed under B
	require.NoError(t, err)

	var logs bytes.Buffer
	onlyB, err := mfa.New(mfa.Config{Issuer: "X", Store: f.store, Keys: ring(t, b), Now: func() time.Time { return f.now }, Audit: &recorder{}, Logger: slogTo(&logs)})
	require.NoError(t, err)
	defer onlyB.Close(ctx)
	f.now = f.now.Add(30 * time.Second)
	v, err := onlyB.Verify(ctx, "u", mfa.Credential{Code: authenticatorApp(enr.Secret, f.now)})
	require.NoError(t, err, "the factor sealed under B works")
	assert.Equal(t, enr.FactorID, v.FactorID)
	assert.Contains(t, logs.String(), "level=ERROR msg=\"mfa: a TOTP secret does not open; its factor is skipped\"")
	assert.NotContains(t, logs.String(), enr.FactorID, "only the unopened factor is named")

	f.now = f.now.Add(30 * time.Second)
	err = verifyCode(onlyB, ctx, "u", authenticatorApp(old, f.now))
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "the unopened factor's code is refused as any wrong code")
}

func TestSealedSecretsAtRest(t *testing.T) {
	ctx := context.Background()
	f := &rotationFixture{store: memstore.New(), now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	svc := f.service(t, ring(t, key("k1", 1)))
	secret, _ := f.enrol(t, svc, "alice")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	require.NoError(t, err)
	alice := storedFactor(t, f.store, "alice")
	assert.False(t, bytes.Contains(alice.Secret, raw), "the stored form does not contain the secret")

	// A row copied to another user does not open for that user.
	f.enrol(t, svc, "mallory")
	mallory := storedFactor(t, f.store, "mallory")
	replaced, err := f.store.ReplaceSecret(ctx, mallory.ID, mallory.Secret, alice.Secret)
	require.NoError(t, err)
	require.True(t, replaced)
	f.now = f.now.Add(30 * time.Second)
	err = verifyCode(svc, ctx, "mallory", authenticatorApp(secret, f.now))
	var keyErr *mfa.KeyError
	require.ErrorAs(t, err, &keyErr)
	assert.False(t, keyErr.Missing)
	assert.Equal(t, "k1", keyErr.KeyID)

	// The wrong bytes under the right ID fail the same way.
	wrong := f.service(t, ring(t, key("k1", 2)))
	err = verifyCode(wrong, ctx, "alice", authenticatorApp(secret, f.now))
	require.ErrorAs(t, err, &keyErr)
	assert.False(t, keyErr.Missing)
	require.NoError(t, verifyCode(svc, ctx, "alice", authenticatorApp(secret, f.now)))
}

// A deployment that starts without keys and adds a ring later keeps its
// users while Config.AllowPlaintextSecrets is set: plaintext secrets work,
// each opening logged, and are sealed on use or by Reseal. Without the
// switch a plaintext secret is refused, so that someone who can write the
// database cannot plant a secret of their choosing.
func TestPlaintextSecretsUpgrade(t *testing.T) {
	ctx := context.Background()
	f := &rotationFixture{store: memstore.New(), now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	plain, err := mfa.New(mfa.Config{Issuer: "X", Store: f.store, Now: func() time.Time { return f.now }, Audit: &recorder{}, Logger: slogTo(&logs)})
	require.NoError(t, err)
	defer plain.Close(ctx)
	assert.Contains(t, logs.String(), "no key ring configured", "New says once that secrets are stored in plaintext")
	s1, _ := f.enrol(t, plain, "p1")
	s2, _ := f.enrol(t, plain, "p2")
	f.now = f.now.Add(30 * time.Second)

	strict := f.service(t, ring(t, key("k1", 1)))
	err = verifyCode(strict, ctx, "p1", authenticatorApp(s1, f.now))
	assert.ErrorIs(t, err, mfa.ErrPlaintextSecret, "refused by default")
	_, err = strict.Reseal(ctx, 10, nil)
	assert.ErrorIs(t, err, mfa.ErrPlaintextSecret)

	logs.Reset()
	migrating, err := mfa.New(mfa.Config{Issuer: "X", Store: f.store, Keys: ring(t, key("k1", 1)), AllowPlaintextSecrets: true,
		Now: func() time.Time { return f.now }, Audit: &recorder{}, Logger: slogTo(&logs)})
	require.NoError(t, err)
	defer migrating.Close(ctx)
	require.NoError(t, verifyCode(migrating, ctx, "p1", authenticatorApp(s1, f.now)))
	assert.Contains(t, logs.String(), "level=WARN msg=\"mfa: opened a TOTP secret stored in plaintext", "each opening is logged")
	assert.Equal(t, "k1", f.storedKeyID(t, "p1"))
	var reports []mfa.ResealReport
	rep, err := migrating.Reseal(ctx, 1, func(r mfa.ResealReport) { reports = append(reports, r) })
	require.NoError(t, err)
	assert.Equal(t, mfa.ResealReport{Scanned: 2, Resealed: 1}, rep)
	assert.NotEmpty(t, reports, "progress after each batch")
	assert.Equal(t, rep, reports[len(reports)-1])
	assert.Equal(t, "k1", f.storedKeyID(t, "p2"))
	f.now = f.now.Add(30 * time.Second)
	assert.NoError(t, verifyCode(strict, ctx, "p2", authenticatorApp(s2, f.now)), "sealed now: no switch needed")

	// Without the ring, the sealed rows are refused with the key they need.
	err = verifyCode(plain, ctx, "p2", authenticatorApp(s2, f.now.Add(30*time.Second)))
	var keyErr *mfa.KeyError
	require.ErrorAs(t, err, &keyErr)
	assert.Equal(t, "k1", keyErr.KeyID)
}

// storedFactor returns the user's first factor as the store keeps it.
func storedFactor(t *testing.T, store mfa.Store, user string) mfa.Factor {
	st, err := store.Get(context.Background(), user)
	require.NoError(t, err)
	require.NotEmpty(t, st.Factors)
	return st.Factors[0]
}
