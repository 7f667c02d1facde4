package mfahttp_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

// The contract's common rules on strict input: exact names, no name
// twice, lengths in characters, messages that name the field.
func TestStrictInput(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret, codes := e.enrol("alice")
	for _, c := range []struct{ body, message string }{
		{`{"Code":"123456"}`, `unknown field "Code"`},
		{`{"code":"123456","code":"654321"}`, `field "code" is given twice`},
		{`{"code":"1234é"}`, "code must be 6 to 8 digits"},
		{`{"code":123456}`, `field "code" has the wrong type`},
		{`{"code":"123456","recovery_code":"` + codes[0] + `"}`, "give code or recovery_code, not both"},
		{`{"recovery_code":""}`, "recovery_code must be 10 letters and digits"},
		{`{"recovery_code":"short"}`, "recovery_code must be 10 letters and digits"},
		{`{}`, "give code or recovery_code"},
		{`[]`, "request body must be a JSON object"},
		{"{\"code\":\"12345\xff\"}", "request body is not valid JSON"},
	} {
		res := e.post("/verify", "alice", c.body)
		assertError(t, res, 400, "invalid_input")
		assert.Equal(t, c.message, res.body["error"].(map[string]any)["message"], c.body)
	}
	// Six Arabic-Indic digits are a six-character code that does not match.
	assertError(t, e.post("/verify", "alice", `{"code":"١٢٣٤٥٦"}`), 401, "authentication_required")
	require.Equal(t, 200, e.post("/verify", "alice", body("code", e.code(secret, 0))).status)
}

// Messages a person can act on: a used code says so.
func TestReplayMessage(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret, _ := e.enrol("bob")
	require.Equal(t, 200, e.post("/verify", "bob", body("code", e.code(secret, 0))).status)
	replay := e.post("/verify", "bob", body("code", e.code(secret, 0)))
	wrong := e.post("/verify", "bob", body("code", "000000"))
	assertError(t, replay, 401, "authentication_required")
	assertError(t, wrong, 401, "authentication_required")
	assert.Equal(t, "this code was already used; wait for the next one", replay.body["error"].(map[string]any)["message"])
	assert.NotEqual(t, replay.body, wrong.body)
}

// Lockout wins: the token whose failed attempts caused the lockout gets
// 429 with Retry-After, never 401.
func TestLockoutWinsOnTheToken(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret, _ := e.enrol("carol")
	token := e.ticket("carol")
	for i := 0; i < 5; i++ {
		assertError(t, e.post("/challenge", "", body("mfa_token", token, "code", "000000")), 401, "authentication_required")
	}
	for _, b := range []string{
		body("mfa_token", token, "code", e.code(secret, 0)),
		body("mfa_token", token, "recovery_code", "AAAAAAAAAA"),
	} {
		res := e.post("/challenge", "", b)
		assertError(t, res, 429, "rate_limited")
		assert.Equal(t, "30", res.header.Get("Retry-After"))
	}
	assertError(t, e.post("/challenge", "", body("mfa_token", "no-such-token", "code", "123456")), 401, "authentication_required")

	// After the lockout the spent token is refused as such.
	e.now = e.now.Add(30 * time.Second)
	assertError(t, e.post("/challenge", "", body("mfa_token", token, "code", e.code(secret, 0))), 401, "authentication_required")
	require.Equal(t, 200, e.post("/challenge", "", body("mfa_token", e.ticket("carol"), "code", e.code(secret, 0))).status)
}

// A lockout that no longer ends by itself: 429 without Retry-After, and a
// message that sends the person to support.
func TestPermanentLockout(t *testing.T) {
	e := newEnv(t, memstore.New(), func(c *mfa.Config) { c.Throttle = mfa.Throttle{MaxFailures: 1, MaxLockouts: 2} })
	secret, _ := e.enrol("dave")
	for i := 0; i < 2; i++ {
		assertError(t, e.post("/verify", "dave", body("code", "000000")), 401, "authentication_required")
		e.now = e.now.Add(time.Hour)
	}
	res := e.post("/verify", "dave", body("code", e.code(secret, 0)))
	assertError(t, res, 429, "rate_limited")
	assert.Empty(t, res.header.Get("Retry-After"))
	assert.Contains(t, res.body["error"].(map[string]any)["message"], "support")
}

// 40 concurrent wrong recovery codes against one account: at most five
// are checked (401), the rest refused by the lockout (429).
func TestRecoveryCodeBurst(t *testing.T) {
	e := newEnv(t, memstore.New())
	e.enrol("erin")
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := e.post("/verify", "erin", body("recovery_code", "AAAAAAAAAA"))
			mu.Lock()
			statuses[res.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("40 concurrent wrong recovery codes: %d × 401, %d × 429", statuses[401], statuses[429])
	assert.Equal(t, 5, statuses[http.StatusUnauthorized])
	assert.Equal(t, 35, statuses[http.StatusTooManyRequests])
}
