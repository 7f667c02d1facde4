package mfahttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/mfatest"
)

// keyEnv is an env whose Service takes security keys through
// mfatest.WebAuthn.
func keyEnv(t *testing.T) *env {
	return newEnv(t, memstore.New(), func(c *mfa.Config) { c.WebAuthn = mfatest.WebAuthn{} })
}

// answer returns the JSON of {"ceremony", "response"} answering a
// ceremony response with key.
func (e *env) answer(res response, key *mfatest.Key, handle []byte) string {
	e.t.Helper()
	options, err := json.Marshal(res.body["options"])
	require.NoError(e.t, err)
	b, err := json.Marshal(map[string]any{"ceremony": res.body["ceremony"], "response": json.RawMessage(key.Respond(options, handle))})
	require.NoError(e.t, err)
	return string(b)
}

// handle is the user's WebAuthn user handle.
func (e *env) handle(user string) []byte {
	h, err := e.store.UserHandle(context.Background(), user, nil)
	require.NoError(e.t, err)
	return h
}

// keyProof is a {"webauthn": …} body proving with key.
func (e *env) keyProof(user string, key *mfatest.Key) string {
	e.t.Helper()
	res := e.post("/webauthn/options", user, `{}`)
	require.Equal(e.t, 200, res.status, res.raw)
	return `{"webauthn":` + e.answer(res, key, nil) + `}`
}

func TestSecurityKeyEndpoints(t *testing.T) {
	e := keyEnv(t)
	key := mfatest.NewKey()

	// Register a first key with the session alone.
	res := e.post("/factors", "kim", `{"type":"webauthn","name":"YubiKey"}`)
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	assert.Equal(t, "webauthn", res.body["type"])
	assert.Equal(t, "YubiKey", res.body["name"])
	id := res.body["id"].(string)
	res = e.post("/factors/"+id+"/confirm", "kim", e.answer(res, key, e.handle("kim")))
	require.Equal(t, 200, res.status, res.raw)
	assert.Len(t, res.body["recovery_codes"], 10, "a first factor turns MFA on")
	assert.Equal(t, "webauthn", res.body["type"])
	assert.Contains(t, e.changes, mfahttp.Change{UserID: "kim", Type: mfa.EventEnabled})
	factors := e.do("GET", "/factors", "kim", "", "").body["factors"].([]any)
	require.Len(t, factors, 1)
	assert.Equal(t, "webauthn", factors[0].(map[string]any)["type"])

	// Step up, then regenerate codes, with the key.
	res = e.post("/verify", "kim", e.keyProof("kim", key))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, mfa.MethodWebAuthn, e.steppedUp[0].Method)
	res = e.post("/recovery-codes", "kim", e.keyProof("kim", key))
	require.Equal(t, 200, res.status, res.raw)

	// Log in with it: the options come with the mfa_token, no session.
	token := e.ticket("kim")
	res = e.post("/webauthn/options", "", `{"mfa_token":"`+token+`"}`)
	require.Equal(t, 200, res.status, res.raw)
	res = e.post("/challenge", "", `{"mfa_token":"`+token+`","webauthn":`+e.answer(res, key, nil)+`}`)
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, "token-kim", res.body["access_token"])

	// A second key needs a credential; a key registered already is 409.
	res = e.post("/factors", "kim", `{"type":"webauthn","name":"Spare"}`)
	assertError(t, res, 400, "invalid_input")
	res = e.post("/factors", "kim", `{"type":"webauthn","name":"Spare",`+e.keyProof("kim", key)[1:])
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	dup := e.post("/factors/"+res.body["id"].(string)+"/confirm", "kim", e.answer(res, key.Clone(), e.handle("kim")))
	assertError(t, dup, 409, "conflict")

	// Turn MFA off with the key.
	res = e.post("/disable", "kim", e.keyProof("kim", key))
	require.Equal(t, 200, res.status, res.raw)
}

func TestSecurityKeyErrors(t *testing.T) {
	e := keyEnv(t)
	key := mfatest.NewKey()
	assertError(t, e.post("/webauthn/options", "lee", `{}`), 409, "conflict")
	res := e.post("/factors", "lee", `{"type":"webauthn","name":"Key"}`)
	require.Equal(t, 201, res.status, res.raw)
	id := res.body["id"].(string)
	assertError(t, e.post("/factors/"+id+"/confirm", "lee", `{"ceremony":"x"}`), 400, "invalid_input")
	assertError(t, e.post("/factors/"+id+"/confirm", "lee", `{"code":"123456","ceremony":"x","response":{}}`), 400, "invalid_input")
	assertError(t, e.post("/factors/"+id+"/confirm", "lee", `{"ceremony":"unknown","response":{}}`), 401, "authentication_required")
	assertError(t, e.post("/factors", "lee", `{"type":"sms","name":"Phone"}`), 400, "invalid_input")

	res = e.post("/factors", "lee", `{"type":"webauthn","name":"Key"}`)
	id = res.body["id"].(string)
	require.Equal(t, 200, e.post("/factors/"+id+"/confirm", "lee", e.answer(res, key, e.handle("lee"))).status)

	assertError(t, e.post("/webauthn/options", "", `{}`), 401, "authentication_required")
	assertError(t, e.post("/webauthn/options", "lee", `{"extra":1}`), 400, "invalid_input")
	assertError(t, e.post("/webauthn/options", "", `{"mfa_token":"nope"}`), 401, "authentication_required")
	// Without a session, a body of the wrong shape is 401 unless it names a
	// live token: then it is 400.
	assertError(t, e.post("/webauthn/options", "", `{"extra":1}`), 401, "authentication_required")
	assertError(t, e.post("/webauthn/options", "", `{"mfa_token":"forged","code":"1"}`), 401, "authentication_required")
	token, err := e.svc.StartChallenge(context.Background(), "lee")
	require.NoError(t, err)
	assertError(t, e.post("/webauthn/options", "", `{"mfa_token":"`+token+`","code":"1"}`), 400, "invalid_input")
	// With MFA on, adding a key without a credential says what to give.
	res = e.post("/factors", "lee", `{"type":"webauthn","name":"Spare"}`)
	assertError(t, res, 400, "invalid_input")
	assert.Contains(t, res.body["error"].(map[string]any)["message"], "give code, recovery_code or webauthn")

	// A replayed response: the ceremony is used up.
	proof := e.keyProof("lee", key)
	require.Equal(t, 200, e.post("/verify", "lee", proof).status)
	assertError(t, e.post("/verify", "lee", proof), 401, "authentication_required")
	// A clone's counter did not grow.
	clone := key.Clone()
	require.Equal(t, 200, e.post("/verify", "lee", e.keyProof("lee", key)).status)
	res = e.post("/verify", "lee", e.keyProof("lee", clone))
	assertError(t, res, 401, "authentication_required")
	assert.Contains(t, res.body["error"].(map[string]any)["message"], "cloned")
	// Both a code and a key response.
	assertError(t, e.post("/verify", "lee", `{"code":"123456","webauthn":{"ceremony":"x","response":{}}}`), 400, "invalid_input")
}
