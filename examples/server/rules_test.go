package main_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommonRules holds the demo to the "Common rules" of the contract
// (../../shared/spec/http-api.md) that TestHTTPContract leaves out, over
// real HTTP against the binary.
func TestCommonRules(t *testing.T) {
	srv := startServer(t, t.TempDir())

	t.Run("StrictJSON", func(t *testing.T) {
		c := newClient(t, srv.URL)
		c.signupAndLogin(uniqueEmail("strict"))
		c.enrol()
		for _, tc := range []struct{ body, field string }{
			{`{"Code": "123456"}`, `"Code"`}, // names match exactly
			{`{"code": "123456", "code": "123456"}`, `"code" is given twice`},
			{`{"code": 123456}`, `"code"`},
			{`{"code": "1234é"}`, "code must be 6 to 8"}, // 5 characters, 6 bytes
			{`{"code": "` + strings.Repeat("é", 9) + `"}`, "code must be 6 to 8"},
		} {
			r := c.raw(http.MethodPost, "/v1/auth/mfa/verify", tc.body)
			want(t, r, 400, "invalid_input")
			assert.Contains(t, errorMessage(t, r), tc.field, tc.body)
		}
		// Six Arabic-Indic digits are a 6-character code that does not
		// match (12 bytes: not a shape error).
		r := c.raw(http.MethodPost, "/v1/auth/mfa/verify", `{"code": "٠١٢٣٤٥"}`)
		want(t, r, 401, "authentication_required")
		assert.NotContains(t, r.raw, "٠١٢٣٤٥", "the message never quotes the code")

		// The host's own endpoints read JSON as strictly.
		for _, body := range []string{
			`{"email": "a@example.com", "Password": "correct horse battery"}`,
			`{"email": "a@example.com", "password": "correct horse battery", "password": "x"}`,
			`{"email": "a@example.com", "password": "correct horse battery"} {}`,
		} {
			want(t, c.raw(http.MethodPost, "/v1/auth/login", body), 400, "invalid_input")
		}
		// Content-Type parameters are allowed.
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/auth/signup", strings.NewReader(fmt.Sprintf(`{"email": %q, "password": %q}`, uniqueEmail("charset"), password)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		want(t, c.send(req), 201, "")
	})

	t.Run("BadRequestMessagesNameTheField", func(t *testing.T) {
		c := newClient(t, srv.URL)
		c.signupAndLogin(uniqueEmail("fields"))
		for _, tc := range []struct{ path, body, field string }{
			{"/v1/auth/mfa/setup", `{"name": "` + strings.Repeat("x", 65) + `"}`, "name"},
			{"/v1/auth/mfa/setup", `{"name": "a\u0007b"}`, "name"}, // a control character, escaped as JSON wants
			{"/v1/auth/mfa/setup", `{"nom": "x"}`, "nom"},
			{"/v1/auth/mfa/enable", `{}`, "code"},
			{"/v1/auth/mfa/enable", `{"code": "12345"}`, "code"},
			{"/v1/auth/mfa/enable", `{"code": null}`, "code"},
			{"/v1/auth/mfa/challenge", `{"code": "123456"}`, "mfa_token"},
			{"/v1/auth/mfa/verify", `{}`, "code"},
			{"/v1/auth/mfa/verify", `{"code": "123456", "recovery_code": "AAAAAAAAAA"}`, "recovery_code"},
			{"/v1/auth/mfa/verify", `{"recovery_code": "AAAA"}`, "recovery_code"},
			{"/v1/auth/mfa/disable", `{"recovery_code": ""}`, "recovery_code"},
			{"/v1/auth/mfa/recovery-codes", `{"recovery_code": "AAAAAAAAAA"}`, "recovery_code"},
			{"/v1/auth/mfa/factors", `{"code": "123456"}`, "name"},
			{"/v1/auth/mfa/factors/f_x/confirm", `{"code": "1"}`, "code"},
			{"/v1/auth/signup", `{"email": "not an address", "password": "correct horse battery"}`, "email"},
			{"/v1/auth/signup", `{"email": "` + uniqueEmail("p") + `", "password": "short"}`, "password"},
			{"/v1/auth/password", `{"current_password": "x", "new_password": "short"}`, "new_password"},
			{"/v1/auth/password", `{"new_password": "long enough"}`, "current_password"},
		} {
			r := c.raw(http.MethodPost, tc.path, tc.body)
			want(t, r, 400, "invalid_input")
			assert.Contains(t, errorMessage(t, r), tc.field, "%s %s", tc.path, tc.body)
		}
	})

	t.Run("ReplayMessage", func(t *testing.T) {
		c := newClient(t, srv.URL)
		c.signupAndLogin(uniqueEmail("replay"))
		secret, _ := c.enrol()
		next := code(t, secret, 30*time.Second)
		want(t, c.raw(http.MethodPost, "/v1/auth/mfa/verify", `{"code": " `+next+`\t"}`), 200, "") // surrounding white space is trimmed
		replay := c.post("/v1/auth/mfa/verify", map[string]string{"code": next})
		want(t, replay, 401, "authentication_required")
		wrong := c.post("/v1/auth/mfa/verify", map[string]string{"code": "000000"})
		if next == "000000" {
			wrong = c.post("/v1/auth/mfa/verify", map[string]string{"code": "000001"})
		}
		want(t, wrong, 401, "authentication_required")
		t.Logf("replay: %q; wrong code: %q", errorMessage(t, replay), errorMessage(t, wrong))
		assert.Contains(t, errorMessage(t, replay), "already used")
		assert.NotEqual(t, errorMessage(t, wrong), errorMessage(t, replay))
		assert.NotContains(t, replay.raw, next)
	})

	t.Run("MethodNotAllowedAndUnknownPaths", func(t *testing.T) {
		c := newClient(t, srv.URL)
		for _, tc := range []struct{ method, path, allow string }{
			{http.MethodGet, "/v1/auth/mfa/enable", "POST"},
			{http.MethodPut, "/v1/auth/mfa/setup", "POST"},
			{http.MethodPost, "/v1/auth/mfa/", "GET"},
			{http.MethodDelete, "/v1/auth/mfa/factors", "GET, POST"},
			{http.MethodGet, "/v1/auth/mfa/factors/f_x", "DELETE"},
			{http.MethodGet, "/v1/auth/mfa/factors/f_x/confirm", "POST"},
		} {
			r := c.do(tc.method, tc.path, nil)
			want(t, r, 405, "method_not_allowed")
			assert.Equal(t, tc.allow, r.header.Get("Allow"), "%s %s", tc.method, tc.path)
		}
		for _, path := range []string{"/v1/auth/mfa/nope", "/v1/auth/mfa/setup/more", "/v1/auth/mfa/factors/a/b", "/v1/auth/mfa/factors/a/confirm/b"} {
			want(t, c.do(http.MethodGet, path, nil), 404, "not_found")
			want(t, c.post(path, map[string]any{}), 404, "not_found")
		}
	})

	t.Run("LockoutWins", func(t *testing.T) {
		c := newClient(t, srv.URL)
		email := uniqueEmail("lockout-wins")
		c.signupAndLogin(email)
		secret, codes := c.enrol()
		r := newClient(t, srv.URL).login(email, password)
		require.Equal(t, "mfa_required", r.body["status"])
		token := r.body["mfa_token"].(string)
		attacker := newClient(t, srv.URL)
		for range 5 {
			want(t, attacker.post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": token, "code": "000000"}), 401, "authentication_required")
		}
		// The token that caused the lockout, now out of attempts too, with
		// the right code, a wrong one or a recovery code: 429 each time.
		for _, body := range []map[string]string{
			{"mfa_token": token, "code": code(t, secret, 30*time.Second)},
			{"mfa_token": token, "code": "000000"},
			{"mfa_token": token, "recovery_code": codes[0]},
		} {
			r := attacker.post("/v1/auth/mfa/challenge", body)
			want(t, r, 429, "rate_limited")
			assert.LessOrEqual(t, retryAfter(t, r), 30)
		}
		// A fresh token and the user's own session are locked as well.
		r = newClient(t, srv.URL).login(email, password)
		want(t, newClient(t, srv.URL).post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "recovery_code": codes[0]}), 429, "rate_limited")
		r = c.post("/v1/auth/mfa/verify", map[string]string{"code": code(t, secret, 30*time.Second)})
		want(t, r, 429, "rate_limited")
		retryAfter(t, r)
		assert.Equal(t, float64(10), c.do(http.MethodGet, "/v1/auth/mfa/", nil).body["recovery_codes_remaining"], "no recovery code was used while locked")
	})

	t.Run("RecoveryCodeBudgetIsExact", func(t *testing.T) {
		c := newClient(t, srv.URL)
		c.signupAndLogin(uniqueEmail("budget"))
		c.enrol()
		const n = 40
		statuses := make([]int, n)
		retry := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := c.postAsync("/v1/auth/mfa/verify", map[string]string{"recovery_code": rand.Text()[:10]})
				statuses[i], retry[i], errs[i] = r.status, r.header.Get("Retry-After"), err
			}()
		}
		wg.Wait()
		counts := map[int]int{}
		for i, s := range statuses {
			require.NoError(t, errs[i])
			counts[s]++
			if s == 429 {
				assert.Regexp(t, `^[1-9][0-9]*$`, retry[i])
			}
		}
		t.Logf("%d concurrent wrong recovery codes: %d × 401, %d × 429", n, counts[401], counts[429])
		assert.LessOrEqual(t, counts[401], 5, "no more checks than the budget of 5")
		assert.Positive(t, counts[401])
		assert.Equal(t, n, counts[401]+counts[429], "every other answer is 429: %v", counts)
	})

	t.Run("PermanentLockout", func(t *testing.T) {
		// The default throttle locks for good after 20 lockouts in a row
		// (100 failures). Between lockouts the test moves the end of the
		// lockout into the past in the library's own table (sqlstore's
		// mfa_users, times in Unix milliseconds), which stands in for
		// waiting 30 s, 60 s, … 15 min.
		c := newClient(t, srv.URL)
		c.signupAndLogin(uniqueEmail("permanent"))
		secret, _ := c.enrol()
		userID := c.userID()
		db := srv.database(t)
		verify := func(code string) reply {
			t.Helper()
			return c.post("/v1/auth/mfa/verify", map[string]string{"code": code})
		}
		wait := 30
		for lockout := 1; lockout <= 20; lockout++ {
			for range 5 {
				want(t, verify("000000"), 401, "authentication_required")
			}
			r := verify("000000")
			want(t, r, 429, "rate_limited")
			if lockout == 20 {
				assert.Empty(t, r.header.Get("Retry-After"), "the 20th lockout is for good")
				break
			}
			got := retryAfter(t, r)
			assert.LessOrEqual(t, got, wait, "lockout %d", lockout)
			assert.Greater(t, got, wait-10, "lockout %d", lockout)
			wait = min(2*wait, 900)
			res, err := db.Exec(`UPDATE mfa_users SET locked_until = 0 WHERE user_id = ?`, userID)
			require.NoError(t, err)
			affected, err := res.RowsAffected()
			require.NoError(t, err)
			require.EqualValues(t, 1, affected)
		}
		_, err := db.Exec(`UPDATE mfa_users SET locked_until = 0 WHERE user_id = ?`, userID)
		require.NoError(t, err)
		r := verify(code(t, secret, 30*time.Second))
		want(t, r, 429, "rate_limited")
		assert.Empty(t, r.header.Get("Retry-After"), "no Retry-After: it no longer ends by itself")
		assert.Contains(t, errorMessage(t, r), "support")
	})
}
