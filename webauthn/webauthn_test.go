package mfawebauthn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/mfatest"
	mfawebauthn "github.com/identsphere/mfa/webauthn"
	"github.com/identsphere/mfa/webauthn/softkey"
)

const origin = "http://localhost:8080"

func newWebAuthn(t testing.TB) *mfawebauthn.WebAuthn {
	wa, err := mfawebauthn.New(mfawebauthn.Config{RPID: "localhost", RPDisplayName: "Test", Origins: []string{origin}})
	require.NoError(t, err)
	return wa
}

// env is a Service on memstore with real WebAuthn ceremonies.
type env struct {
	t     *testing.T
	svc   *mfa.Service
	store *memstore.Store
	clock *mfatest.Clock
	ctx   context.Context
}

func newEnv(t *testing.T) *env {
	store := memstore.New()
	svc, clock := mfatest.NewService(t, mfa.Config{Store: store, WebAuthn: newWebAuthn(t)})
	return &env{t: t, svc: svc, store: store, clock: clock, ctx: context.Background()}
}

// register registers key as a new key of user (proving with proof when
// MFA is on) and returns its factor ID and any recovery codes.
func (e *env) register(user string, key *softkey.Key, proof mfa.Credential) (string, []string, error) {
	e.t.Helper()
	c, err := e.svc.BeginKeyRegistration(e.ctx, user, "Key", proof)
	require.NoError(e.t, err)
	resp, err := key.Create(c.Options)
	require.NoError(e.t, err)
	info, codes, err := e.svc.FinishKeyRegistration(e.ctx, user, c.FactorID, mfa.Assertion{Ceremony: c.Ceremony, Response: resp})
	return info.ID, codes, err
}

// check returns the credential key gives for a check of user.
func (e *env) check(user string, key *softkey.Key) mfa.Credential {
	e.t.Helper()
	c, err := e.svc.BeginKeyCheck(e.ctx, user)
	require.NoError(e.t, err)
	resp, err := key.Get(c.Options)
	require.NoError(e.t, err)
	return mfa.Credential{WebAuthn: &mfa.Assertion{Ceremony: c.Ceremony, Response: resp}}
}

func TestRegisterAndUseAKey(t *testing.T) {
	e := newEnv(t)
	key := softkey.New(origin)
	factorID, codes, err := e.register("alice", key, mfa.Credential{})
	require.NoError(t, err)
	assert.Len(t, codes, 10, "the first factor turns MFA on")
	st, err := e.store.Get(e.ctx, "alice")
	require.NoError(t, err)
	require.Len(t, st.Factors, 1)
	assert.Equal(t, key.CredentialID(), st.Factors[0].CredentialID)
	assert.NotContains(t, string(st.Factors[0].Secret), "private", "the record holds the public key")

	v, err := e.svc.Verify(e.ctx, "alice", e.check("alice", key))
	require.NoError(t, err)
	assert.Equal(t, factorID, v.FactorID)
	assert.Equal(t, mfa.MethodWebAuthn, v.Method)

	// The login challenge, with a ceremony begun by the mfa_token.
	token, err := e.svc.StartChallenge(e.ctx, "alice")
	require.NoError(t, err)
	c, err := e.svc.BeginKeyLogin(e.ctx, token)
	require.NoError(t, err)
	resp, err := key.Get(c.Options)
	require.NoError(t, err)
	_, err = e.svc.Challenge(e.ctx, token, mfa.Credential{WebAuthn: &mfa.Assertion{Ceremony: c.Ceremony, Response: resp}})
	require.NoError(t, err)

	// A second key, proven with the first; then one registered already.
	_, codes, err = e.register("alice", softkey.New(origin), e.check("alice", key))
	require.NoError(t, err)
	assert.Nil(t, codes, "the recovery codes stay")
	_, _, err = e.register("alice", key.Clone(), e.check("alice", key))
	assert.ErrorIs(t, err, mfa.ErrCredentialInUse)
	_, _, err = e.register("bob", key.Clone(), mfa.Credential{})
	assert.ErrorIs(t, err, mfa.ErrCredentialInUse, "to anyone")
}

// go-webauthn accepts a replayed assertion; the Service does not, because
// the ceremony is used up. A counter that went back is refused.
func TestReplayAndClone(t *testing.T) {
	e := newEnv(t)
	key := softkey.New(origin)
	_, _, err := e.register("carol", key, mfa.Credential{})
	require.NoError(t, err)

	cred := e.check("carol", key)
	_, err = e.svc.Verify(e.ctx, "carol", cred)
	require.NoError(t, err)
	_, err = e.svc.Verify(e.ctx, "carol", cred)
	assert.ErrorIs(t, err, mfa.ErrInvalidCeremony, "the same response again")

	clone := key.Clone()
	_, err = e.svc.Verify(e.ctx, "carol", e.check("carol", key)) // the original moves on
	require.NoError(t, err)
	_, err = e.svc.Verify(e.ctx, "carol", e.check("carol", clone))
	assert.ErrorIs(t, err, mfa.ErrCloneSuspected, "the clone's counter did not grow")

	key.SetCounter(0)
	_, err = e.svc.Verify(e.ctx, "carol", e.check("carol", key))
	assert.ErrorIs(t, err, mfa.ErrCloneSuspected, "a counter rolled back")
}

func TestWrongOriginAndTamperedResponses(t *testing.T) {
	e := newEnv(t)
	key := softkey.New(origin)
	_, _, err := e.register("dave", key, mfa.Credential{})
	require.NoError(t, err)

	phished := key.ForOrigin("http://localhost:9999")
	_, err = e.svc.Verify(e.ctx, "dave", e.check("dave", phished))
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "a response made for another origin (a phishing page)")

	cred := e.check("dave", key)
	var resp map[string]any
	require.NoError(t, json.Unmarshal(cred.WebAuthn.Response, &resp))
	resp["response"].(map[string]any)["signature"] = "MEUCIQ"
	cred.WebAuthn.Response, err = json.Marshal(resp)
	require.NoError(t, err)
	_, err = e.svc.Verify(e.ctx, "dave", cred)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "a bad signature")

	_, _, err = e.register("erin", softkey.New("http://evil.example:8080"), mfa.Credential{})
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "a registration from another origin")
}

func TestConfig(t *testing.T) {
	for name, cfg := range map[string]mfawebauthn.Config{
		"no RP ID":         {RPDisplayName: "X", Origins: []string{"https://example.com"}},
		"IP RP ID":         {RPID: "127.0.0.1", RPDisplayName: "X", Origins: []string{"http://127.0.0.1:8080"}},
		"no name":          {RPID: "example.com", Origins: []string{"https://example.com"}},
		"no origins":       {RPID: "example.com", RPDisplayName: "X"},
		"other host":       {RPID: "example.com", RPDisplayName: "X", Origins: []string{"https://example.org"}},
		"path":             {RPID: "example.com", RPDisplayName: "X", Origins: []string{"https://example.com/app"}},
		"no scheme":        {RPID: "example.com", RPDisplayName: "X", Origins: []string{"example.com"}},
		"ftp":              {RPID: "example.com", RPDisplayName: "X", Origins: []string{"ftp://example.com"}},
		"upper-case RP ID": {RPID: "Example.com", RPDisplayName: "X", Origins: []string{"https://example.com"}},
	} {
		_, err := mfawebauthn.New(cfg)
		assert.Error(t, err, name)
	}
	for _, origins := range [][]string{{"https://example.com"}, {"https://login.example.com:8443"}, {"https://example.com:443"}} {
		_, err := mfawebauthn.New(mfawebauthn.Config{RPID: "example.com", RPDisplayName: "X", Origins: origins})
		assert.NoError(t, err, origins)
	}
}

// A page on a port the configuration does not list is refused: origins
// are compared with their port; a default port is written without it.
func TestOriginPorts(t *testing.T) {
	store := memstore.New()
	wa, err := mfawebauthn.New(mfawebauthn.Config{RPID: "localhost", RPDisplayName: "X", Origins: []string{"http://localhost"}})
	require.NoError(t, err)
	svc, _ := mfatest.NewService(t, mfa.Config{Store: store, WebAuthn: wa})
	e := &env{t: t, svc: svc, store: store, ctx: context.Background()}
	_, _, err = e.register("fay", softkey.New("http://localhost:8080"), mfa.Credential{})
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "http://localhost:8080 is not http://localhost")
	_, _, err = e.register("fay", softkey.New("http://localhost"), mfa.Credential{})
	assert.NoError(t, err)

	wa, err = mfawebauthn.New(mfawebauthn.Config{RPID: "localhost", RPDisplayName: "X", Origins: []string{"http://localhost:80"}})
	require.NoError(t, err)
	svc, _ = mfatest.NewService(t, mfa.Config{Store: memstore.New(), WebAuthn: wa})
	e = &env{t: t, svc: svc, store: store, ctx: context.Background()}
	_, _, err = e.register("gus", softkey.New("http://localhost"), mfa.Credential{})
	assert.NoError(t, err, "port 80 is the default of http")
}

// BenchmarkFinishLogin: checking one assertion with go-webauthn (parse,
// client data, authenticator data, signature), against the floor of one
// ECDSA P-256 signature check in the same run.
func BenchmarkFinishLogin(b *testing.B) {
	wa := newWebAuthn(b)
	key := softkey.New(origin)
	user := mfa.KeyUser{ID: "u", Handle: []byte("handle-of-u"), Name: "u"}
	options, state, err := wa.BeginRegistration(user, nil)
	require.NoError(b, err)
	resp, err := key.Create(options)
	require.NoError(b, err)
	reg, err := wa.FinishRegistration(user, state, resp)
	require.NoError(b, err)
	factor := mfa.Factor{ID: "f", Type: mfa.FactorWebAuthn, Active: true, CredentialID: reg.CredentialID, Secret: reg.Data}
	options, state, err = wa.BeginLogin(user, []mfa.Factor{factor})
	require.NoError(b, err)
	resp, err = key.Get(options)
	require.NoError(b, err)

	floor := func(n int) time.Duration {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		digest := sha256.Sum256([]byte("authenticator data and client data hash"))
		sig, _ := ecdsa.SignASN1(rand.Reader, priv, digest[:])
		start := time.Now()
		for i := 0; i < n; i++ {
			if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
				b.Fatal("floor: signature refused")
			}
		}
		return time.Since(start)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := wa.FinishLogin(user, state, []mfa.Factor{factor}, resp); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed())/float64(floor(b.N)), "x-floor")
}

// BenchmarkFloorECDSAVerify is the floor by itself.
func BenchmarkFloorECDSAVerify(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("authenticator data and client data hash"))
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
			b.Fatal("refused")
		}
	}
}
