package main_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa/webauthn/softkey"
)

// Security keys over HTTP, without a browser: softkey answers the options
// the demo sends as a browser's PublicKeyCredential.toJSON() would, for a
// page on the demo's origin (http://localhost:PORT).

// options asks for request options (POST /v1/auth/mfa/webauthn/options)
// with body: {} with the client's session, or {"mfa_token"}. It returns
// the ceremony token and the options.
func (c *client) options(body map[string]any) (string, json.RawMessage) {
	c.t.Helper()
	r := c.post("/v1/auth/mfa/webauthn/options", body)
	want(c.t, r, 200, "")
	return r.body["ceremony"].(string), rawJSON(c.t, r.body["options"])
}

// assertion runs a key check: the options (see options), the key's
// answer, and returns the request member {"ceremony", "response"}.
func (c *client) assertion(key *softkey.Key, body map[string]any) map[string]any {
	c.t.Helper()
	ceremony, options := c.options(body)
	response, err := key.Get(options)
	require.NoError(c.t, err)
	return map[string]any{"ceremony": ceremony, "response": response}
}

// withKey returns body (a request's other fields) with a fresh assertion
// of key for the client's session as its credential.
func (c *client) withKey(key *softkey.Key, body map[string]any) map[string]any {
	c.t.Helper()
	out := map[string]any{"webauthn": c.assertion(key, map[string]any{})}
	for k, v := range body {
		out[k] = v
	}
	return out
}

// beginKey starts the registration of a key (POST /factors with type
// webauthn; fields add the name and any credential) and returns the
// pending factor's ID, ceremony and creation options.
func (c *client) beginKey(fields map[string]any) (id, ceremony string, options json.RawMessage) {
	c.t.Helper()
	body := map[string]any{"type": "webauthn"}
	for k, v := range fields {
		body[k] = v
	}
	r := c.post("/v1/auth/mfa/factors", body)
	want(c.t, r, 201, "")
	assert.Equal(c.t, "webauthn", r.body["type"])
	assert.Equal(c.t, fields["name"], r.body["name"])
	return r.body["id"].(string), r.body["ceremony"].(string), rawJSON(c.t, r.body["options"])
}

// confirmKey finishes a registration with key's answer to options.
func (c *client) confirmKey(id, ceremony string, options json.RawMessage, key *softkey.Key) reply {
	c.t.Helper()
	response, err := key.Create(options)
	require.NoError(c.t, err)
	return c.post("/v1/auth/mfa/factors/"+id+"/confirm", map[string]any{"ceremony": ceremony, "response": response})
}

func rawJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// credentialIDs returns the IDs of a list of PublicKeyCredentialDescriptor
// JSON (allowCredentials, excludeCredentials).
func credentialIDs(t *testing.T, options json.RawMessage, member string) []string {
	t.Helper()
	var o map[string][]struct {
		ID string `json:"id"`
	}
	var generic map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(options, &generic))
	require.NoError(t, json.Unmarshal([]byte(`{"x":`+string(orNull(generic[member]))+`}`), &o))
	var ids []string
	for _, d := range o["x"] {
		ids = append(ids, d.ID)
	}
	return ids
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestSecurityKeys walks "Security keys and passkeys (WebAuthn) as a
// factor" over real HTTP against the binary: a key as the first factor
// (session alone, recovery codes), the login challenge with it, step-up
// and a password change, regeneration, a second key (ending the user's
// other sessions) and an authenticator app proven with a key, a key
// registered already to this user or another (409), replayed responses
// (401, the ceremony is used up), a counter rolled back (401, the clone
// message, audited as auth.mfa.clone_suspected), a page on another
// origin, a ceremony of another purpose, removal, disable, the lockout,
// and the error rows of /webauthn/options. Every exchange is checked
// against docs/openapi.yaml.
func TestSecurityKeys(t *testing.T) {
	srv := startServer(t, t.TempDir())
	require.True(t, strings.HasPrefix(srv.URL, "http://localhost:"), srv.URL)
	c := newClient(t, srv.URL)
	email := uniqueEmail("keys")
	c.signupAndLogin(email)
	key := softkey.New(srv.URL) // a page on the demo's origin
	status := func() map[string]any {
		t.Helper()
		r := c.do(http.MethodGet, "/v1/auth/mfa/", nil)
		want(t, r, 200, "")
		return r.body
	}
	factors := func() []map[string]any {
		t.Helper()
		r := c.do(http.MethodGet, "/v1/auth/mfa/factors", nil)
		want(t, r, 200, "")
		var out []map[string]any
		for _, f := range r.body["factors"].([]any) {
			out = append(out, f.(map[string]any))
		}
		return out
	}
	verify := func(c *client, body map[string]any) reply {
		t.Helper()
		return c.post("/v1/auth/mfa/verify", body)
	}

	// The first factor: a key, with the session alone.
	var yubiKey string
	var codes []any
	{
		want(t, c.post("/v1/auth/mfa/webauthn/options", map[string]any{}), 409, "conflict") // MFA off: no key to use
		r := c.post("/v1/auth/mfa/factors", map[string]any{"type": "webauthn", "name": "YubiKey", "code": "123456"})
		want(t, r, 400, "invalid_input")
		assert.Contains(t, errorMessage(t, r), "code", "a first key needs no code")
		r = c.post("/v1/auth/mfa/factors", map[string]any{"type": "webauthn", "name": ""})
		want(t, r, 400, "invalid_input")
		assert.Contains(t, errorMessage(t, r), "name")
		r = c.post("/v1/auth/mfa/factors", map[string]any{"type": "passkey", "name": "YubiKey"})
		want(t, r, 400, "invalid_input")
		assert.Contains(t, errorMessage(t, r), "type")

		id, ceremony, options := c.beginKey(map[string]any{"name": "YubiKey"})
		var o struct {
			RP struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"rp"`
			Attestation string `json:"attestation"`
		}
		require.NoError(t, json.Unmarshal(options, &o))
		assert.Equal(t, "localhost", o.RP.ID, "the RP ID of a demo on loopback")
		assert.Equal(t, "MFA Demo", o.RP.Name)
		assert.Equal(t, "none", o.Attestation)
		assert.Equal(t, false, status()["mfa_enabled"], "pending")
		assert.Empty(t, factors(), "a pending key is not listed")

		want(t, c.post("/v1/auth/mfa/factors/"+id+"/confirm", map[string]any{"ceremony": ceremony}), 400, "invalid_input")
		want(t, c.post("/v1/auth/mfa/factors/"+id+"/confirm", map[string]any{"ceremony": ceremony, "response": map[string]any{}, "code": "123456"}), 400, "invalid_input")
		response, err := key.Create(options)
		require.NoError(t, err)
		want(t, c.post("/v1/auth/mfa/factors/f_unknown/confirm", map[string]any{"ceremony": ceremony, "response": response}), 404, "not_found")
		r = c.post("/v1/auth/mfa/factors/"+id+"/confirm", map[string]any{"ceremony": ceremony, "response": response})
		want(t, r, 200, "")
		assert.Equal(t, id, r.body["id"])
		assert.Equal(t, "YubiKey", r.body["name"])
		assert.Equal(t, "webauthn", r.body["type"])
		codes = r.body["recovery_codes"].([]any)
		assert.Len(t, codes, 10, "the first factor brings the recovery codes")
		yubiKey = id
		// The same response again: nothing is pending any more.
		want(t, c.post("/v1/auth/mfa/factors/"+id+"/confirm", map[string]any{"ceremony": ceremony, "response": response}), 404, "not_found")

		assert.Equal(t, map[string]any{"mfa_enabled": true, "recovery_codes_remaining": float64(10), "factors": float64(1)}, status())
		fs := factors()
		require.Len(t, fs, 1)
		assert.Equal(t, "webauthn", fs[0]["type"])
		assert.Equal(t, "YubiKey", fs[0]["name"])
		assert.NotNil(t, fs[0]["last_used_at"], "used by its registration")
		want(t, c.post("/v1/auth/mfa/setup", map[string]any{}), 409, "conflict")
	}

	// The login challenge with the key.
	{
		r := c.login(email, password)
		want(t, r, 200, "")
		require.Equal(t, "mfa_required", r.body["status"])
		token := r.body["mfa_token"].(string)
		fresh := newClient(t, srv.URL)
		want(t, fresh.post("/v1/auth/mfa/webauthn/options", map[string]any{}), 401, "authentication_required")
		want(t, fresh.post("/v1/auth/mfa/webauthn/options", map[string]any{"mfa_token": "forged"}), 401, "authentication_required")
		want(t, fresh.post("/v1/auth/mfa/webauthn/options", map[string]any{"mfa_token": token, "code": "123456"}), 400, "invalid_input")

		ceremony, options := fresh.options(map[string]any{"mfa_token": token})
		assert.Equal(t, []string{b64url(key.CredentialID())}, credentialIDs(t, options, "allowCredentials"))
		response, err := key.Get(options)
		require.NoError(t, err)
		assertion := map[string]any{"ceremony": ceremony, "response": response}
		r = fresh.post("/v1/auth/mfa/challenge", map[string]any{"mfa_token": token, "webauthn": assertion})
		want(t, r, 200, "")
		assert.Equal(t, "ok", r.body["status"])
		assert.Contains(t, r.header.Get("Set-Cookie"), "identsphere_at=")
		want(t, fresh.do(http.MethodGet, "/v1/auth/mfa/", nil), 200, "")

		// The same response with the token of a new login: the ceremony is
		// used up.
		r = c.login(email, password)
		r = newClient(t, srv.URL).post("/v1/auth/mfa/challenge", map[string]any{"mfa_token": r.body["mfa_token"], "webauthn": assertion})
		want(t, r, 401, "authentication_required")
		assert.Contains(t, errorMessage(t, r), "ceremony is unknown, expired or used")
	}

	// Step-up with the key: the session from the password login and
	// enabling has not verified MFA, so the password change wants it.
	newPassword := "a brand new password"
	{
		change := map[string]any{"current_password": password, "new_password": newPassword}
		want(t, c.post("/v1/auth/password", change), 403, "mfa_step_up_required")
		step := c.withKey(key, nil)
		r := verify(c, step)
		want(t, r, 200, "")
		assert.NotEmpty(t, r.body["verified_at"])
		want(t, c.post("/v1/auth/password", change), 200, "")
		r = verify(c, step)
		want(t, r, 401, "authentication_required")
		assert.Contains(t, errorMessage(t, r), "ceremony is unknown, expired or used", "a replayed response")
	}

	// New recovery codes with the key (a recovery code cannot do it).
	{
		r := c.post("/v1/auth/mfa/recovery-codes", c.withKey(key, nil))
		want(t, r, 200, "")
		fresh := r.body["recovery_codes"].([]any)
		assert.Len(t, fresh, 10)
		assert.NotEqual(t, codes, fresh)
		want(t, verify(c, map[string]any{"recovery_code": codes[0]}), 401, "authentication_required") // the old batch is gone
		codes = fresh
	}

	// A second key, proven with the first; an authenticator app proven
	// with a key; a key registered already is 409.
	backup := softkey.New(srv.URL)
	var backupKey string
	{
		// Another session of the user, signed in with the key: it ends
		// when a key is added on this one.
		r := c.login(email, newPassword)
		other := newClient(t, srv.URL)
		assertion := other.assertion(key, map[string]any{"mfa_token": r.body["mfa_token"]})
		want(t, other.post("/v1/auth/mfa/challenge", map[string]any{"mfa_token": r.body["mfa_token"], "webauthn": assertion}), 200, "")

		id, ceremony, options := c.beginKey(c.withKey(key, map[string]any{"name": "Backup key"}))
		assert.Equal(t, []string{b64url(key.CredentialID())}, credentialIDs(t, options, "excludeCredentials"), "the options exclude the user's keys")
		r = c.confirmKey(id, ceremony, options, backup)
		want(t, r, 200, "")
		assert.Equal(t, "webauthn", r.body["type"])
		assert.NotContains(t, r.body, "recovery_codes", "not the first factor: the codes stay")
		backupKey = id
		want(t, other.do(http.MethodGet, "/v1/auth/mfa/", nil), 401, "authentication_required") // sessions follow MFA changes
		assert.Equal(t, float64(10), status()["recovery_codes_remaining"])

		r = c.post("/v1/auth/mfa/factors", c.withKey(backup, map[string]any{"name": "Phone"}))
		want(t, r, 201, "")
		phone, secret := r.body["id"].(string), r.body["secret"].(string)
		want(t, c.post("/v1/auth/mfa/factors/"+phone+"/confirm", map[string]any{"code": code(t, secret, 0)}), 200, "")

		id, ceremony, options = c.beginKey(c.withKey(backup, map[string]any{"name": "The YubiKey again"}))
		assert.ElementsMatch(t, []string{b64url(key.CredentialID()), b64url(backup.CredentialID())}, credentialIDs(t, options, "excludeCredentials"))
		r = c.confirmKey(id, ceremony, options, key.Clone()) // a key that ignores the exclusion
		want(t, r, 409, "conflict")
		assert.Contains(t, errorMessage(t, r), "registered already")
		// Registered to anyone: another user's first key.
		u := newClient(t, srv.URL)
		u.signupAndLogin(uniqueEmail("keys-same-key"))
		id, ceremony, options = u.beginKey(map[string]any{"name": "Borrowed key"})
		want(t, u.confirmKey(id, ceremony, options, key.Clone()), 409, "conflict")
		assert.Equal(t, false, u.do(http.MethodGet, "/v1/auth/mfa/", nil).body["mfa_enabled"])

		fs := factors()
		require.Len(t, fs, 3)
		assert.Equal(t, []any{"YubiKey", "Backup key", "Phone"}, []any{fs[0]["name"], fs[1]["name"], fs[2]["name"]})
		assert.Equal(t, []any{"webauthn", "webauthn", "totp"}, []any{fs[0]["type"], fs[1]["type"], fs[2]["type"]})
		want(t, verify(c, c.withKey(backup, nil)), 200, "") // ends the run of failures above
	}

	// Refused assertions: each is a 401 and a failed check.
	{
		// A counter rolled back, as a copy of the key made earlier would
		// report it.
		key.SetCounter(0)
		r := verify(c, c.withKey(key, nil))
		want(t, r, 401, "authentication_required")
		assert.Contains(t, errorMessage(t, r), "signature counter went backwards; it may have been cloned")
		assert.Eventually(t, func() bool { return strings.Contains(srv.logs.String(), "msg=auth.mfa.clone_suspected") },
			5*time.Second, 20*time.Millisecond, "audited as auth.mfa.clone_suspected")
		key.SetCounter(1000) // the real key goes on

		// A page on another origin (a phishing site that relays the
		// options).
		r = verify(c, c.withKey(key.ForOrigin("http://localhost:1"), nil))
		want(t, r, 401, "authentication_required")
		assert.Equal(t, "invalid code or security key response", errorMessage(t, r))

		// The login's ceremony used for a session check.
		r = c.login(email, newPassword)
		ceremony, options := newClient(t, srv.URL).options(map[string]any{"mfa_token": r.body["mfa_token"]})
		response, err := key.Get(options)
		require.NoError(t, err)
		r = verify(c, map[string]any{"webauthn": map[string]any{"ceremony": ceremony, "response": response}})
		want(t, r, 401, "authentication_required")
		assert.Contains(t, errorMessage(t, r), "ceremony")

		want(t, verify(c, c.withKey(key, nil)), 200, "") // the real key still works
	}

	// Remove the first key with the second; its assertions no longer pass.
	{
		want(t, c.do(http.MethodDelete, "/v1/auth/mfa/factors/"+yubiKey, map[string]any{"webauthn": map[string]any{"ceremony": "x"}}), 400, "invalid_input")
		r := c.do(http.MethodDelete, "/v1/auth/mfa/factors/"+yubiKey, c.withKey(backup, nil))
		want(t, r, 200, "")
		assert.Equal(t, map[string]any{"mfa_enabled": true}, r.body)
		ceremony, options := c.options(map[string]any{})
		assert.Equal(t, []string{b64url(backup.CredentialID())}, credentialIDs(t, options, "allowCredentials"))
		response, err := key.Get(options)
		require.NoError(t, err)
		want(t, verify(c, map[string]any{"webauthn": map[string]any{"ceremony": ceremony, "response": response}}), 401, "authentication_required")
		fs := factors()
		require.Len(t, fs, 2)
		assert.Equal(t, backupKey, fs[0]["id"])
	}

	// Turn MFA off with the remaining key: the keys go with it.
	{
		r := c.post("/v1/auth/mfa/disable", c.withKey(backup, nil))
		want(t, r, 200, "")
		assert.Equal(t, map[string]any{"mfa_enabled": false}, r.body)
		assert.Empty(t, factors())
		want(t, c.post("/v1/auth/mfa/webauthn/options", map[string]any{}), 409, "conflict")
		assert.Equal(t, "ok", c.login(email, newPassword).body["status"], "the password alone signs in again")
	}

	// A user with an authenticator app and no key: 404 for key options.
	{
		u := newClient(t, srv.URL)
		uEmail := uniqueEmail("keys-totp-only")
		u.signupAndLogin(uEmail)
		u.enrol()
		r := u.post("/v1/auth/mfa/webauthn/options", map[string]any{})
		want(t, r, 404, "not_found")
		r = u.login(uEmail, password)
		want(t, newClient(t, srv.URL).post("/v1/auth/mfa/webauthn/options", map[string]any{"mfa_token": r.body["mfa_token"]}), 404, "not_found")
	}

	// The failure budget is the same for keys: five refused assertions
	// lock the user; then even the right key, with a ceremony begun
	// before, gets 429, and no new ceremony starts.
	{
		u := newClient(t, srv.URL)
		u.signupAndLogin(uniqueEmail("keys-lockout"))
		k := softkey.New(srv.URL)
		id, ceremony, options := u.beginKey(map[string]any{"name": "Key"})
		want(t, u.confirmKey(id, ceremony, options, k), 200, "")
		early := u.withKey(k, nil)
		phished := k.ForOrigin("http://localhost:1")
		for range 5 {
			want(t, verify(u, u.withKey(phished, nil)), 401, "authentication_required")
		}
		r := verify(u, early)
		want(t, r, 429, "rate_limited")
		assert.LessOrEqual(t, retryAfter(t, r), 30)
		r = u.post("/v1/auth/mfa/webauthn/options", map[string]any{})
		want(t, r, 429, "rate_limited")
		assert.LessOrEqual(t, retryAfter(t, r), 30)
	}
}

// TestSecurityKeysOnTwoInstances runs two instances on one PostgreSQL
// database, started with the same -origin (both their pages' origins),
// as replicas share their settings: a registration begun on one finishes
// on the other, a key check begun on either finishes on the other, the
// same response is refused on both, and a counter rolled back is refused
// by the instance that did not see the last use.
func TestSecurityKeysOnTwoInstances(t *testing.T) {
	dsn := os.Getenv("MFA_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MFA_TEST_POSTGRES_DSN is not set: CI must run this test (.ci/run starts PostgreSQL)")
		}
		t.Skip("skipping: set MFA_TEST_POSTGRES_DSN to a PostgreSQL URL to run two instances on one database")
	}
	dsn = isolatedPostgres(t, dsn) // the relays see no other test's events
	ports := freePorts(t, 2)
	origins := fmt.Sprintf("http://localhost:%d,http://localhost:%d", ports[0], ports[1])
	dir := t.TempDir() // one key file for both
	a := startServer(t, dir, "-driver", "postgres", "-dsn", dsn, "-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), "-origin", origins)
	b := startServer(t, dir, "-driver", "postgres", "-dsn", dsn, "-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]), "-origin", origins)
	require.Equal(t, fmt.Sprintf("http://localhost:%d", ports[0]), a.URL)

	// One session, used on both (as a bearer token: cookies do not tell
	// ports apart).
	email := uniqueEmail("keys-replicas")
	ca := newClient(t, a.URL)
	ca.signupAndLogin(email)
	r := ca.login(email, password)
	cb := newClient(t, b.URL)
	ca.bearer, cb.bearer = r.body["access_token"].(string), r.body["access_token"].(string)
	key := softkey.New(a.URL) // the user's page is on A's origin

	// Registration begun on A, finished on B.
	id, ceremony, options := ca.beginKey(map[string]any{"name": "YubiKey"})
	r = cb.confirmKey(id, ceremony, options, key)
	want(t, r, 200, "")
	assert.Len(t, r.body["recovery_codes"], 10)
	r = ca.do(http.MethodGet, "/v1/auth/mfa/factors", nil)
	want(t, r, 200, "")
	require.Len(t, r.body["factors"], 1, "A lists the key B registered")
	listed := r.body["factors"].([]any)[0].(map[string]any)
	assert.Equal(t, id, listed["id"])
	assert.Equal(t, "webauthn", listed["type"])

	// A check begun on B, finished on A; the same response on either is
	// refused.
	step := cb.withKey(key, nil)
	want(t, ca.post("/v1/auth/mfa/verify", step), 200, "")
	for _, c := range []*client{ca, cb} {
		r := c.post("/v1/auth/mfa/verify", step)
		want(t, r, 401, "authentication_required")
		assert.Contains(t, errorMessage(t, r), "ceremony is unknown, expired or used")
	}

	// The login challenge: options on A, challenge on B; the same response
	// with a new login's token, on A or B, is refused.
	r = newClient(t, a.URL).login(email, password)
	token := r.body["mfa_token"]
	assertion := newClient(t, a.URL).assertion(key, map[string]any{"mfa_token": token})
	want(t, newClient(t, b.URL).post("/v1/auth/mfa/challenge", map[string]any{"mfa_token": token, "webauthn": assertion}), 200, "")
	for _, base := range []string{a.URL, b.URL} {
		r := newClient(t, base).login(email, password)
		r = newClient(t, base).post("/v1/auth/mfa/challenge", map[string]any{"mfa_token": r.body["mfa_token"], "webauthn": assertion})
		want(t, r, 401, "authentication_required")
		assert.Contains(t, errorMessage(t, r), "ceremony is unknown, expired or used")
	}

	// The last use was on B; a copy of the key at an earlier count is
	// refused on A.
	key.SetCounter(1)
	r = ca.post("/v1/auth/mfa/verify", ca.withKey(key, nil))
	want(t, r, 401, "authentication_required")
	assert.Contains(t, errorMessage(t, r), "may have been cloned")
}

// freePorts returns n distinct free loopback ports, for instances whose
// -origin must name each other's port before they start.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
