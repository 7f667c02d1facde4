package mfahttp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// enrol runs setup and enable for user and returns the secret and the
// recovery codes; the clock then moves to the next step.
func (e *env) enrol(user string) (string, []string) {
	e.t.Helper()
	secret := e.setup(user)
	res := e.post("/enable", user, fmt.Sprintf(`{"code":%q}`, e.code(secret, 0)))
	require.Equal(e.t, 200, res.status, res.raw)
	var codes []string
	for _, c := range res.body["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	e.now = e.now.Add(30 * time.Second)
	return secret, codes
}

// ticket stands for the host's login: password checked, MFA on.
func (e *env) ticket(user string) string {
	e.t.Helper()
	token, err := e.svc.StartChallenge(context.Background(), user)
	require.NoError(e.t, err)
	return token
}

func body(fields ...string) string {
	var parts []string
	for i := 0; i+1 < len(fields); i += 2 {
		parts = append(parts, fmt.Sprintf("%q:%q", fields[i], fields[i+1]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// The whole life cycle over HTTP: enable, login ticket, challenge with a
// TOTP code, challenge with a recovery code, replay refused, lockout with
// 429, disable.
func TestLifecycleOverHTTP(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret, codes := e.enrol("alice")

	res := e.post("/challenge", "", body("mfa_token", e.ticket("alice"), "code", e.code(secret, 0)))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, map[string]any{"status": "ok", "access_token": "token-alice"}, res.body)
	used := e.code(secret, 0)

	res = e.post("/challenge", "", body("mfa_token", e.ticket("alice"), "recovery_code", codes[0]))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, float64(9), e.do("GET", "/", "alice", "", "").body["recovery_codes_remaining"])

	assertError(t, e.post("/challenge", "", body("mfa_token", e.ticket("alice"), "code", used)), 401, "authentication_required")
	assertError(t, e.post("/challenge", "", body("mfa_token", e.ticket("alice"), "recovery_code", codes[0])), 401, "authentication_required")

	// Five failures in all (two above, three here) lock the user.
	for i := 0; i < 3; i++ {
		assertError(t, e.post("/challenge", "", body("mfa_token", e.ticket("alice"), "code", "000000")), 401, "authentication_required")
	}
	fresh := e.code(secret, 30*time.Second) // the next step: within the window, not used yet
	res = e.post("/challenge", "", body("mfa_token", e.ticket("alice"), "code", fresh))
	assertError(t, res, 429, "rate_limited")
	assert.Equal(t, "30", res.header.Get("Retry-After"))
	res = e.post("/disable", "alice", body("code", fresh))
	assertError(t, res, 429, "rate_limited")

	e.now = e.now.Add(60 * time.Second)
	res = e.post("/disable", "alice", body("code", e.code(secret, 0)))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, map[string]any{"mfa_enabled": false}, res.body)
	assert.Equal(t, false, e.do("GET", "/", "alice", "", "").body["mfa_enabled"])
}

func TestChallengeErrors(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret, codes := e.enrol("bob")
	token := e.ticket("bob")
	// 400: bad shape.
	for _, b := range []string{
		`{}`,
		body("code", e.code(secret, 0)),
		body("mfa_token", token),
		body("mfa_token", token, "code", e.code(secret, 0), "recovery_code", codes[0]),
		body("mfa_token", token, "code", "123"),
		body("mfa_token", token, "recovery_code", "abc"),
		`{"mfa_token":"x","code":"123456","extra":1}`,
	} {
		assertError(t, e.post("/challenge", "", b), 400, "invalid_input")
	}
	// 401: unknown, expired or used token; wrong code.
	assertError(t, e.post("/challenge", "", body("mfa_token", "nope", "code", e.code(secret, 0))), 401, "authentication_required")
	assertError(t, e.post("/challenge", "", body("mfa_token", token, "code", "000000")), 401, "authentication_required")
	e.now = e.now.Add(5 * time.Minute)
	assertError(t, e.post("/challenge", "", body("mfa_token", token, "code", e.code(secret, 0))), 401, "authentication_required")
	token = e.ticket("bob")
	require.Equal(t, 200, e.post("/challenge", "", body("mfa_token", token, "code", e.code(secret, 0))).status)
	e.now = e.now.Add(30 * time.Second)
	assertError(t, e.post("/challenge", "", body("mfa_token", token, "code", e.code(secret, 0))), 401, "authentication_required")
}

func TestDisableErrors(t *testing.T) {
	e := newEnv(t, memstore.New())
	assertError(t, e.post("/disable", "carol", body("code", "123456")), 409, "conflict")
	secret, codes := e.enrol("carol")
	assertError(t, e.post("/disable", "carol", `{}`), 400, "invalid_input")
	assertError(t, e.post("/disable", "carol", body("code", "12")), 400, "invalid_input")
	assertError(t, e.post("/disable", "carol", body("code", e.code(secret, 0), "recovery_code", codes[0])), 400, "invalid_input")
	assertError(t, e.post("/disable", "", body("code", e.code(secret, 0))), 401, "authentication_required")
	assertError(t, e.post("/disable", "carol", body("code", "000000")), 401, "authentication_required")
	assertError(t, e.post("/disable", "gone", body("code", "123456")), 404, "not_found")
	res := e.post("/disable", "carol", body("recovery_code", codes[4]))
	require.Equal(t, 200, res.status, res.raw)
	assertError(t, e.post("/disable", "carol", body("recovery_code", codes[5])), 409, "conflict")
}

func TestRegenerateErrors(t *testing.T) {
	e := newEnv(t, memstore.New())
	assertError(t, e.post("/recovery-codes", "dave", body("code", "123456")), 409, "conflict")
	secret, codes := e.enrol("dave")
	assertError(t, e.post("/recovery-codes", "dave", `{}`), 400, "invalid_input")
	assertError(t, e.post("/recovery-codes", "dave", body("recovery_code", codes[0])), 400, "invalid_input")
	assertError(t, e.post("/recovery-codes", "", body("code", e.code(secret, 0))), 401, "authentication_required")
	assertError(t, e.post("/recovery-codes", "dave", body("code", "000000")), 401, "authentication_required")
	assertError(t, e.post("/recovery-codes", "gone", body("code", "123456")), 404, "not_found")
	res := e.post("/recovery-codes", "dave", body("code", e.code(secret, 0)))
	require.Equal(t, 200, res.status, res.raw)
	fresh := res.body["recovery_codes"].([]any)
	assert.Len(t, fresh, 10)
	assert.NotContains(t, fresh, codes[0])
	assert.Equal(t, float64(10), e.do("GET", "/", "dave", "", "").body["recovery_codes_remaining"])
	assertError(t, e.post("/recovery-codes", "dave", body("code", e.code(secret, 0))), 401, "authentication_required")
	for i := 0; i < 4; i++ {
		assertError(t, e.post("/recovery-codes", "dave", body("code", "000000")), 401, "authentication_required")
	}
	res = e.post("/recovery-codes", "dave", body("code", e.code(secret, 30*time.Second)))
	assertError(t, res, 429, "rate_limited")
	assert.Equal(t, "30", res.header.Get("Retry-After"))
}

// lifecycleBroken fails the lifecycle store calls.
type lifecycleBroken struct{ mfa.Store }

func (lifecycleBroken) ReserveAttempt(context.Context, string, mfa.Attempt) (mfa.Reservation, error) {
	return mfa.Reservation{}, errors.New("db: deadlock detected")
}
func (lifecycleBroken) ReserveTicket(context.Context, []byte, time.Time, int) (string, error) {
	return "", errors.New("db: deadlock detected")
}

func TestLifecycleInternalErrors(t *testing.T) {
	e := newEnv(t, lifecycleBroken{memstore.New()})
	for _, res := range []response{
		e.post("/challenge", "", body("mfa_token", "t", "code", "123456")),
		e.post("/disable", "erin", body("code", "123456")),
		e.post("/recovery-codes", "erin", body("code", "123456")),
	} {
		assertError(t, res, 500, "internal_error")
		assert.NotContains(t, res.raw, "deadlock")
	}
}

func TestChallengeNotServedWithoutHook(t *testing.T) {
	svc, err := mfa.New(mfa.Config{Issuer: "X", Store: memstore.New(), Audit: discard{}})
	require.NoError(t, err)
	defer svc.Close(context.Background())
	h, err := mfahttp.New(mfahttp.Config{Service: svc, Authenticate: func(*http.Request) (string, error) { return "u", nil }})
	require.NoError(t, err)
	req := httptest.NewRequest("POST", "/challenge", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, 404, rec.Code)
}
