package mfahttp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// addFactor adds and confirms a second authenticator named name for an
// enrolled user, proving with a code of secret; it returns the new
// factor's ID and secret. The clock moves to the next step.
func (e *env) addFactor(user, name, secret string) (string, string) {
	e.t.Helper()
	res := e.post("/factors", user, body("name", name, "code", e.code(secret, 0)))
	require.Equal(e.t, http.StatusCreated, res.status, res.raw)
	id, newSecret := res.body["id"].(string), res.body["secret"].(string)
	res = e.post("/factors/"+id+"/confirm", user, body("code", e.code(newSecret, 0)))
	require.Equal(e.t, http.StatusOK, res.status, res.raw)
	e.now = e.now.Add(30 * time.Second)
	return id, newSecret
}

func TestFactorsEndpoints(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret, _ := e.enrol("alice")
	res := e.do("GET", "/factors", "alice", "", "")
	require.Equal(t, 200, res.status, res.raw)
	factors := res.body["factors"].([]any)
	require.Len(t, factors, 1)
	first := factors[0].(map[string]any)
	assert.Equal(t, mfa.DefaultFactorName, first["name"])
	assert.Equal(t, "totp", first["type"])
	assert.NotEmpty(t, first["last_used_at"], "the enable code used it")
	assert.NotContains(t, res.raw, "secret")

	// Add: a pending authenticator with its own secret and QR code.
	res = e.post("/factors", "alice", body("name", "Laptop", "code", e.code(secret, 0)))
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	id := res.body["id"].(string)
	assert.Equal(t, "Laptop", res.body["name"])
	newSecret := res.body["secret"].(string)
	assert.NotEqual(t, secret, newSecret)
	assert.Contains(t, res.body["otpauth_url"], "secret="+newSecret)
	assert.True(t, strings.HasPrefix(res.body["qr_code"].(string), "data:image/png;base64,"))
	assert.Len(t, e.do("GET", "/factors", "alice", "", "").body["factors"], 1, "pending ones are not listed")

	// Confirm with its own first code; the recovery codes stay.
	res = e.post("/factors/"+id+"/confirm", "alice", body("code", e.code(newSecret, 0)))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, id, res.body["id"])
	assert.Equal(t, "Laptop", res.body["name"])
	assert.Equal(t, "totp", res.body["type"])
	assert.NotEmpty(t, res.body["created_at"])
	assert.Equal(t, float64(10), e.do("GET", "/", "alice", "", "").body["recovery_codes_remaining"])
	assert.Equal(t, float64(2), e.do("GET", "/", "alice", "", "").body["factors"])
	assert.Contains(t, e.changes, mfahttp.Change{UserID: "alice", Type: mfa.EventFactorAdded, FactorID: id})

	// Replay is per authenticator: a step used with one authenticator
	// leaves the other's code for that step good, once.
	e.now = e.now.Add(30 * time.Second)
	require.Equal(t, 200, e.post("/verify", "alice", body("code", e.code(newSecret, 0))).status)
	res = e.post("/verify", "alice", body("code", e.code(secret, 0)))
	assert.Equal(t, 200, res.status, "another authenticator's step: %s", res.raw)
	assertError(t, e.post("/verify", "alice", body("code", e.code(secret, 0))), 401, "authentication_required")

	// Remove the first with a code of the second: MFA stays on.
	e.now = e.now.Add(30 * time.Second)
	firstID := first["id"].(string)
	res = e.do("DELETE", "/factors/"+firstID, "alice", "application/json", body("code", e.code(newSecret, 0)))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, map[string]any{"mfa_enabled": true}, res.body)
	assert.Contains(t, e.changes, mfahttp.Change{UserID: "alice", Type: mfa.EventFactorRemoved, FactorID: firstID})
	ids := e.do("GET", "/factors", "alice", "", "").body["factors"].([]any)
	require.Len(t, ids, 1)
	assert.Equal(t, id, ids[0].(map[string]any)["id"])

	// Removing the last one is disabling.
	e.now = e.now.Add(30 * time.Second)
	res = e.do("DELETE", "/factors/"+id, "alice", "application/json", body("code", e.code(newSecret, 0)))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, map[string]any{"mfa_enabled": false}, res.body)
	assert.Contains(t, e.changes, mfahttp.Change{UserID: "alice", Type: mfa.EventDisabled})
	assert.Equal(t, map[string]any{"mfa_enabled": false, "recovery_codes_remaining": float64(0), "factors": float64(0)}, e.do("GET", "/", "alice", "", "").body)
}

// /setup takes an optional name; given, it must not be empty.
func TestSetupName(t *testing.T) {
	e := newEnv(t, memstore.New())
	assertError(t, e.post("/setup", "ann", `{"name":""}`), 400, "invalid_input")
	require.Equal(t, 200, e.post("/setup", "ann", `{"name":"Work phone"}`).status)
	st, err := e.svc.Status(context.Background(), "ann")
	require.NoError(t, err)
	assert.True(t, st.SetupPending)
	s, err := e.store.Get(context.Background(), "ann")
	require.NoError(t, err)
	assert.Equal(t, "Work phone", s.Factors[0].Name)
}

func TestAddFactorErrors(t *testing.T) {
	e := newEnv(t, memstore.New())
	assertError(t, e.post("/factors", "bob", body("name", "Laptop", "code", "123456")), 409, "conflict") // MFA off
	secret, codes := e.enrol("bob")
	for _, b := range []string{
		`{}`,
		body("code", e.code(secret, 0)), // no name
		body("name", "", "code", e.code(secret, 0)),
		body("name", strings.Repeat("n", 65), "code", e.code(secret, 0)),
		body("name", "Tab\there", "code", e.code(secret, 0)),
		body("name", "Laptop"),
		body("name", "Laptop", "code", "12"),
		body("name", "Laptop", "code", e.code(secret, 0), "recovery_code", codes[0]),
	} {
		res := e.post("/factors", "bob", b)
		assertError(t, res, 400, "invalid_input")
	}
	res := e.post("/factors", "bob", body("name", strings.Repeat("é", 64), "code", e.code(secret, 0)))
	assert.Equal(t, 201, res.status, "64 characters, 128 bytes: %s", res.raw)
	assertError(t, e.post("/factors", "", body("name", "Laptop", "code", e.code(secret, 0))), 401, "authentication_required")
	assertError(t, e.post("/factors", "bob", body("name", "Laptop", "code", "000000")), 401, "authentication_required")
	assertError(t, e.post("/factors", "gone", body("name", "Laptop", "code", "123456")), 404, "not_found")

	// A recovery code proves too, and is used up.
	res = e.post("/factors", "bob", body("name", "Tablet", "recovery_code", codes[0]))
	require.Equal(t, 201, res.status, res.raw)
	assert.Equal(t, float64(9), e.do("GET", "/", "bob", "", "").body["recovery_codes_remaining"])

	// Five authenticators at most (one plus four more).
	e.now = e.now.Add(30 * time.Second)
	for i := 2; i <= 5; i++ {
		e.addFactor("bob", fmt.Sprintf("Device %d", i), secret)
	}
	assertError(t, e.post("/factors", "bob", body("name", "Sixth", "code", e.code(secret, 0))), 409, "conflict")
}

func TestConfirmAndRemoveFactorErrors(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret, codes := e.enrol("carol")
	res := e.post("/factors", "carol", body("name", "Laptop", "code", e.code(secret, 0)))
	require.Equal(t, 201, res.status, res.raw)
	id, newSecret := res.body["id"].(string), res.body["secret"].(string)

	assertError(t, e.post("/factors/"+id+"/confirm", "carol", `{}`), 400, "invalid_input")
	assertError(t, e.post("/factors/"+id+"/confirm", "carol", body("code", "1")), 400, "invalid_input")
	assertError(t, e.post("/factors/"+id+"/confirm", "carol", body("recovery_code", codes[0])), 400, "invalid_input")
	assertError(t, e.post("/factors/"+id+"/confirm", "", body("code", e.code(newSecret, 0))), 401, "authentication_required")
	assertError(t, e.post("/factors/"+id+"/confirm", "carol", body("code", e.code(secret, 30*time.Second))), 401, "authentication_required")
	assertError(t, e.post("/factors/f_nope/confirm", "carol", body("code", e.code(newSecret, 0))), 404, "not_found")
	e.enrol("dave")
	assertError(t, e.post("/factors/"+id+"/confirm", "dave", body("code", e.code(newSecret, 0))), 404, "not_found")

	assertError(t, e.do("DELETE", "/factors/f_nope", "carol", "application/json", body("code", e.code(secret, 0))), 404, "not_found")
	assertError(t, e.do("DELETE", "/factors/"+id, "dave", "application/json", body("code", "123456")), 404, "not_found")
	assertError(t, e.do("DELETE", "/factors/"+id, "carol", "application/json", `{}`), 400, "invalid_input")
	assertError(t, e.do("DELETE", "/factors/"+id, "carol", "application/json", body("code", "000000")), 401, "authentication_required")
	assertError(t, e.do("DELETE", "/factors/"+id, "erin", "application/json", body("code", "123456")), 409, "conflict")
	assertError(t, e.do("POST", "/factors/"+id, "carol", "application/json", body("code", "123456")), 405, "method_not_allowed")
	assertError(t, e.do("GET", "/factors/"+id+"/confirm/x", "carol", "", ""), 404, "not_found")
}

// A wrong code against a user with several authenticators fails once, and
// the budget stays per user.
func TestFactorsShareTheBudget(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret, _ := e.enrol("frank")
	other, _ := e.addFactor("frank", "Laptop", secret)
	_ = other
	for i := 0; i < 5; i++ {
		assertError(t, e.post("/verify", "frank", body("code", "000000")), 401, "authentication_required")
	}
	res := e.post("/verify", "frank", body("code", e.code(secret, 0)))
	assertError(t, res, 429, "rate_limited")
}
