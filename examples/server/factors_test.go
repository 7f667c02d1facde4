package main_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFactors walks "Several authenticators per user" of the contract over
// HTTP: every endpoint (GET and POST /factors, POST /factors/{id}/confirm,
// DELETE /factors/{id}) with every error row, replay refused per
// authenticator, and the removal of the last authenticator being exactly
// /disable. TOTP codes are used at the current step and the next one only,
// so that the test never waits for the clock. The sections share the
// users' state, so they are blocks of one test rather than subtests.
func TestFactors(t *testing.T) {
	srv := startServer(t, t.TempDir())

	// u has MFA with its first authenticator; recovery codes pay for the
	// checks that would otherwise need more time steps.
	u := newClient(t, srv.URL)
	uEmail := uniqueEmail("factors")
	u.signupAndLogin(uEmail)
	first, codes := u.enrol()
	recovery := func() string {
		t.Helper()
		require.NotEmpty(t, codes)
		c := codes[0]
		codes = codes[1:]
		return c
	}
	// unused returns a recovery code without taking it, for a request that
	// is refused before the code is checked.
	unused := func() string {
		t.Helper()
		require.NotEmpty(t, codes)
		return codes[0]
	}
	list := func(c *client) []map[string]any {
		t.Helper()
		r := c.do(http.MethodGet, "/v1/auth/mfa/factors", nil)
		want(t, r, 200, "")
		var out []map[string]any
		for _, f := range r.body["factors"].([]any) {
			out = append(out, f.(map[string]any))
		}
		return out
	}
	remaining := func() float64 {
		t.Helper()
		return u.do(http.MethodGet, "/v1/auth/mfa/", nil).body["recovery_codes_remaining"].(float64)
	}
	add := func(c *client, body map[string]string) reply {
		t.Helper()
		return c.post("/v1/auth/mfa/factors", body)
	}
	confirm := func(c *client, id, code string) reply {
		t.Helper()
		return c.post("/v1/auth/mfa/factors/"+id+"/confirm", map[string]string{"code": code})
	}
	remove := func(c *client, id string, body map[string]string) reply {
		t.Helper()
		return c.do(http.MethodDelete, "/v1/auth/mfa/factors/"+id, body)
	}

	// GET /factors: the active authenticators, never a secret; 409 for
	// factor changes while MFA is off.
	{
		want(t, newClient(t, srv.URL).do(http.MethodGet, "/v1/auth/mfa/factors", nil), 401, "authentication_required")
		fs := list(u)
		require.Len(t, fs, 1)
		f := fs[0]
		assert.Equal(t, "Authenticator app", f["name"], "the first one's default name")
		assert.Equal(t, "totp", f["type"])
		assert.NotEmpty(t, f["id"])
		assert.NotNil(t, f["last_used_at"], "used by /enable")
		for _, key := range []string{"secret", "otpauth_url", "qr_code"} {
			assert.NotContains(t, f, key, "never a secret")
		}
		assert.NotContains(t, u.do(http.MethodGet, "/v1/auth/mfa/factors", nil).raw, first)

		off := newClient(t, srv.URL)
		off.signupAndLogin(uniqueEmail("factors-off"))
		assert.Empty(t, list(off), "MFA off: no authenticators")
		want(t, add(off, map[string]string{"name": "Laptop", "code": "123456"}), 409, "conflict")
		want(t, remove(off, fs[0]["id"].(string), map[string]string{"code": "123456"}), 409, "conflict")
		// A pending first authenticator (setup) is not listed either.
		want(t, off.post("/v1/auth/mfa/setup", map[string]string{"name": "Phone"}), 200, "")
		assert.Empty(t, list(off))
	}

	// POST /factors: 400 for the shape of name or credential, naming the field.
	{
		for _, tc := range []struct {
			body  string
			field string
		}{
			{`{"code": "123456"}`, "name"},
			{`{"name": "", "code": "123456"}`, "name"},
			{`{"name": "` + strings.Repeat("x", 65) + `", "code": "123456"}`, "name"},
			{`{"name": "Lap\ntop", "code": "123456"}`, "name"},
			{`{"name": "Laptop"}`, "code"},
			{`{"name": "Laptop", "code": "12345"}`, "code"},
			{`{"name": "Laptop", "code": "123456789"}`, "code"},
			{`{"name": "Laptop", "code": "123456", "recovery_code": "AAAAAAAAAA"}`, "recovery_code"},
			{`{"name": "Laptop", "recovery_code": "short"}`, "recovery_code"},
		} {
			r := u.raw(http.MethodPost, "/v1/auth/mfa/factors", tc.body)
			want(t, r, 400, "invalid_input")
			assert.Contains(t, errorMessage(t, r), tc.field, tc.body)
		}
		assert.Len(t, list(u), 1, "nothing changed")
	}

	var laptop, laptopSecret string
	// POST /factors and POST /factors/{id}/confirm.
	{
		r := add(u, map[string]string{"name": "Laptop", "code": "000000"})
		want(t, r, 401, "authentication_required")

		// A recovery code proves the user; it is used up.
		before := remaining()
		r = add(u, map[string]string{"name": "Old laptop", "recovery_code": recovery()})
		want(t, r, 201, "")
		replaced := r.body["id"].(string)
		assert.Equal(t, before-1, remaining(), "the recovery code is used up")
		assert.Len(t, list(u), 1, "a pending authenticator is not listed")

		// A later POST /factors replaces the pending one.
		r = add(u, map[string]string{"name": "Laptop", "recovery_code": recovery()})
		want(t, r, 201, "")
		laptop, laptopSecret = r.body["id"].(string), r.body["secret"].(string)
		assert.Equal(t, "Laptop", r.body["name"])
		assert.NotEqual(t, replaced, laptop)
		assert.NotEqual(t, first, laptopSecret)
		assert.Equal(t, r.body["otpauth_url"], decodeQR(t, r.body["qr_code"].(string)))
		want(t, confirm(u, replaced, code(t, laptopSecret, 0)), 404, "not_found")

		r = u.post("/v1/auth/mfa/factors/"+laptop+"/confirm", map[string]string{"code": "1"})
		want(t, r, 400, "invalid_input")
		assert.Contains(t, errorMessage(t, r), "code")
		want(t, u.post("/v1/auth/mfa/factors/"+laptop+"/confirm", map[string]string{}), 400, "invalid_input")
		want(t, confirm(u, laptop, code(t, first, 30*time.Second)), 401, "authentication_required") // the old one's code
		want(t, confirm(u, "f_unknown", code(t, laptopSecret, 0)), 404, "not_found")

		r = confirm(u, laptop, code(t, laptopSecret, 0))
		want(t, r, 200, "")
		assert.Equal(t, laptop, r.body["id"])
		assert.Equal(t, "Laptop", r.body["name"])
		assert.Equal(t, "totp", r.body["type"])
		want(t, confirm(u, laptop, code(t, laptopSecret, 30*time.Second)), 404, "not_found") // no longer pending

		fs := list(u)
		require.Len(t, fs, 2)
		assert.Equal(t, []any{"Authenticator app", "Laptop"}, []any{fs[0]["name"], fs[1]["name"]}, "oldest first")
		assert.Equal(t, float64(2), u.do(http.MethodGet, "/v1/auth/mfa/", nil).body["factors"])
	}

	// Replay is refused per authenticator.
	{
		// The first authenticator's step S+1 is used, which does not
		// block the laptop's code for the same step.
		firstNext, laptopNext := code(t, first, 30*time.Second), code(t, laptopSecret, 30*time.Second)
		want(t, u.post("/v1/auth/mfa/verify", map[string]string{"code": firstNext}), 200, "")
		want(t, u.post("/v1/auth/mfa/verify", map[string]string{"code": laptopNext}), 200, "")
		for _, c := range []string{firstNext, laptopNext} {
			r := u.post("/v1/auth/mfa/verify", map[string]string{"code": c})
			want(t, r, 401, "authentication_required")
			assert.Contains(t, errorMessage(t, r), "already used")
		}
		// The login challenge takes a code from either authenticator.
		r := newClient(t, srv.URL).login(uEmail, password)
		fresh := newClient(t, srv.URL)
		want(t, fresh.post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "code": laptopNext}), 401, "authentication_required")
	}

	// v is another user, for ids that are not u's.
	v := newClient(t, srv.URL)
	v.signupAndLogin(uniqueEmail("factors-other"))
	_, vCodes := v.enrol()
	vActive := list(v)[0]["id"].(string)
	r := add(v, map[string]string{"name": "V's laptop", "recovery_code": vCodes[0]})
	want(t, r, 201, "")
	vPending, vPendingSecret := r.body["id"].(string), r.body["secret"].(string)

	// Another user's ids are 404, pending or active.
	{
		want(t, confirm(u, vPending, code(t, vPendingSecret, 0)), 404, "not_found")
		want(t, remove(u, vActive, map[string]string{"recovery_code": unused()}), 404, "not_found")
		want(t, remove(u, vPending, map[string]string{"recovery_code": unused()}), 404, "not_found")
		assert.Len(t, list(v), 1, "v's authenticators are untouched")
		want(t, confirm(v, vPending, code(t, vPendingSecret, 0)), 200, "") // and v's pending one still works
	}

	var extra, extraSecrets []string // authenticators 3 to 5
	// At most 5 active authenticators: 409 for a sixth.
	{
		for _, name := range []string{"Tablet", "Work phone", "Spare phone"} {
			r := add(u, map[string]string{"name": name, "recovery_code": recovery()})
			want(t, r, 201, "")
			id, secret := r.body["id"].(string), r.body["secret"].(string)
			want(t, confirm(u, id, code(t, secret, 0)), 200, "")
			extra, extraSecrets = append(extra, id), append(extraSecrets, secret)
		}
		require.Len(t, list(u), 5)
		before := remaining()
		r := add(u, map[string]string{"name": "Sixth", "recovery_code": unused()})
		want(t, r, 409, "conflict")
		assert.Contains(t, errorMessage(t, r), "maximum")
		assert.Equal(t, before, remaining(), "a refused add uses nothing up")
	}

	// DELETE /factors/{id}.
	{
		r := u.do(http.MethodDelete, "/v1/auth/mfa/factors/"+extra[2], map[string]string{})
		want(t, r, 400, "invalid_input")
		want(t, remove(u, extra[2], map[string]string{"code": "12"}), 400, "invalid_input")
		want(t, remove(u, extra[2], map[string]string{"code": "000000"}), 401, "authentication_required")
		want(t, remove(u, "f_unknown", map[string]string{"code": code(t, extraSecrets[2], 30*time.Second)}), 404, "not_found")

		// With a code of the one removed, of another one, and a recovery code.
		r = remove(u, extra[2], map[string]string{"code": code(t, extraSecrets[2], 30*time.Second)})
		want(t, r, 200, "")
		assert.Equal(t, map[string]any{"mfa_enabled": true}, r.body)
		want(t, remove(u, extra[1], map[string]string{"code": code(t, extraSecrets[0], 30*time.Second)}), 200, "")
		want(t, remove(u, extra[0], map[string]string{"recovery_code": recovery()}), 200, "")
		want(t, remove(u, extra[0], map[string]string{"recovery_code": unused()}), 404, "not_found")
		want(t, remove(u, laptop, map[string]string{"recovery_code": recovery()}), 200, "")
		fs := list(u)
		require.Len(t, fs, 1)
		assert.Equal(t, "Authenticator app", fs[0]["name"])
	}

	// Removing the last authenticator is exactly /disable: recovery codes
	// and open login challenges go too.
	{
		// An open login challenge from before the removal.
		r := newClient(t, srv.URL).login(uEmail, password)
		want(t, r, 200, "")
		token := r.body["mfa_token"].(string)

		r = remove(u, list(u)[0]["id"].(string), map[string]string{"recovery_code": recovery()})
		want(t, r, 200, "")
		assert.Equal(t, map[string]any{"mfa_enabled": false}, r.body)
		r = u.do(http.MethodGet, "/v1/auth/mfa/", nil)
		assert.Equal(t, map[string]any{"mfa_enabled": false, "recovery_codes_remaining": float64(0), "factors": float64(0)}, r.body)
		assert.Empty(t, list(u))

		want(t, newClient(t, srv.URL).post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": token, "recovery_code": codes[0]}), 401, "authentication_required")
		want(t, u.post("/v1/auth/mfa/verify", map[string]string{"recovery_code": codes[0]}), 409, "conflict")
		r = newClient(t, srv.URL).login(uEmail, password)
		assert.Equal(t, "ok", r.body["status"], "MFA off: the password alone signs in")
		want(t, u.post("/v1/auth/mfa/setup", map[string]any{}), 200, "") // a fresh start is possible
	}

	// One failure budget for every check, the factor endpoints' included.
	{
		// v's failure budget is one for every check, factor endpoints
		// included: five failures, then 429 for each of them.
		for range 5 {
			want(t, add(v, map[string]string{"name": "Attacker's phone", "code": "000000"}), 401, "authentication_required")
		}
		for _, r := range []reply{
			add(v, map[string]string{"name": "Mine", "recovery_code": vCodes[1]}),
			remove(v, vActive, map[string]string{"recovery_code": vCodes[2]}),
			v.post("/v1/auth/mfa/verify", map[string]string{"recovery_code": vCodes[3]}),
		} {
			want(t, r, 429, "rate_limited")
			assert.LessOrEqual(t, retryAfter(t, r), 30)
		}
		r := add(v, map[string]string{"name": "x"})
		want(t, r, 400, "invalid_input") // the shape comes before the lockout
		assert.Len(t, list(v), 2, "listing is not a check")
		assert.Equal(t, float64(9), v.do(http.MethodGet, "/v1/auth/mfa/", nil).body["recovery_codes_remaining"], "no recovery code used while locked")
	}
}
