package main_test

import (
	"database/sql"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa/examples/internal/qrdecode"
)

// TestHTTPContract walks the whole contract of ../../shared/spec/http-api.md
// over real HTTP against the binary on its embedded SQLite default, error
// rows included. Each user exercises a different part, so that no TOTP
// time step is needed twice and the test never waits for the clock.
func TestHTTPContract(t *testing.T) {
	srv := startServer(t, t.TempDir())

	t.Run("Signup", func(t *testing.T) {
		c := newClient(t, srv.URL)
		email := uniqueEmail("signup")
		want(t, c.post("/v1/auth/signup", map[string]string{"email": email, "password": password}), 201, "")
		want(t, c.post("/v1/auth/signup", map[string]string{"email": strings.ToUpper(email), "password": password}), 409, "conflict")
		want(t, c.post("/v1/auth/signup", map[string]string{"email": "not-an-email", "password": password}), 400, "invalid_input")
		want(t, c.post("/v1/auth/signup", map[string]string{"email": uniqueEmail("short"), "password": "1234567"}), 400, "invalid_input")
		want(t, c.post("/v1/auth/signup", map[string]string{"email": uniqueEmail("x"), "password": password, "admin": "1"}), 400, "invalid_input")
	})

	t.Run("LoginAndSession", func(t *testing.T) {
		c := newClient(t, srv.URL)
		email := uniqueEmail("login")
		want(t, c.post("/v1/auth/signup", map[string]string{"email": email, "password": password}), 201, "")
		wrongPassword := c.post("/v1/auth/login", map[string]string{"email": email, "password": "wrong password"})
		unknownUser := c.post("/v1/auth/login", map[string]string{"email": uniqueEmail("nobody"), "password": password})
		want(t, wrongPassword, 401, "authentication_required")
		want(t, unknownUser, 401, "authentication_required")
		assert.Equal(t, wrongPassword.body, unknownUser.body, "the answer does not tell which emails exist")
		want(t, c.do("GET", "/v1/auth/mfa/", nil), 401, "authentication_required")

		r := c.post("/v1/auth/login", map[string]string{"email": email, "password": password})
		want(t, r, 200, "")
		assert.Equal(t, "ok", r.body["status"])
		token := r.body["access_token"].(string)
		cookie := r.header.Get("Set-Cookie")
		assert.Contains(t, cookie, "identsphere_at="+token)
		assert.Contains(t, cookie, "HttpOnly")
		assert.Contains(t, cookie, "SameSite=Lax")
		assert.NotContains(t, cookie, "Secure", "plain HTTP on loopback")

		// The cookie and the bearer token both authenticate.
		r = c.do("GET", "/v1/auth/mfa/", nil)
		want(t, r, 200, "")
		assert.Equal(t, map[string]any{"mfa_enabled": false, "recovery_codes_remaining": float64(0), "factors": float64(0)}, r.body)
		bearer := newClient(t, srv.URL)
		bearer.bearer = token
		want(t, bearer.do("GET", "/v1/auth/mfa/", nil), 200, "")

		want(t, c.post("/v1/auth/logout", map[string]any{}), 200, "")
		want(t, bearer.do("GET", "/v1/auth/mfa/", nil), 401, "authentication_required")
	})

	t.Run("SetupAndEnable", func(t *testing.T) {
		c := newClient(t, srv.URL)
		c.signupAndLogin(uniqueEmail("enable"))
		want(t, c.post("/v1/auth/mfa/enable", map[string]string{"code": "123456"}), 400, "invalid_input") // setup not called
		r := c.post("/v1/auth/mfa/setup", map[string]any{})
		want(t, r, 200, "")
		secret := r.body["secret"].(string)
		url := r.body["otpauth_url"].(string)
		assert.True(t, strings.HasPrefix(url, "otpauth://totp/MFA%20Demo:enable-"), url)
		assert.Equal(t, url, decodeQR(t, r.body["qr_code"].(string)), "the QR image decodes to exactly otpauth_url")

		want(t, c.post("/v1/auth/mfa/enable", map[string]string{"code": "12345"}), 400, "invalid_input")
		want(t, c.post("/v1/auth/mfa/enable", map[string]string{"code": "123456789"}), 400, "invalid_input")
		want(t, c.post("/v1/auth/mfa/enable", map[string]any{}), 400, "invalid_input")
		want(t, c.post("/v1/auth/mfa/enable", map[string]string{"code": "abcdef"}), 401, "authentication_required")
		want(t, newClient(t, srv.URL).post("/v1/auth/mfa/enable", map[string]string{"code": code(t, secret, 0)}), 401, "authentication_required")

		r = c.post("/v1/auth/mfa/enable", map[string]string{"code": code(t, secret, 0)})
		want(t, r, 200, "")
		assert.Len(t, r.body["recovery_codes"], 10)
		want(t, c.post("/v1/auth/mfa/enable", map[string]string{"code": code(t, secret, 30*time.Second)}), 409, "conflict")
		want(t, c.post("/v1/auth/mfa/setup", map[string]any{}), 409, "conflict")
		r = c.do("GET", "/v1/auth/mfa/", nil)
		assert.Equal(t, map[string]any{"mfa_enabled": true, "recovery_codes_remaining": float64(10), "factors": float64(1)}, r.body)
	})

	t.Run("LoginChallengeAndReplay", func(t *testing.T) {
		c := newClient(t, srv.URL)
		email := uniqueEmail("challenge")
		c.signupAndLogin(email)
		secret, codes := c.enrol()

		// With MFA on, login gives a token and no session.
		fresh := newClient(t, srv.URL)
		r := fresh.post("/v1/auth/login", map[string]string{"email": email, "password": password})
		want(t, r, 200, "")
		assert.Equal(t, "mfa_required", r.body["status"])
		assert.Empty(t, r.header.Get("Set-Cookie"))
		token := r.body["mfa_token"].(string)
		want(t, fresh.do("GET", "/v1/auth/mfa/", nil), 401, "authentication_required")

		want(t, fresh.post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": token}), 400, "invalid_input")
		want(t, fresh.post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": "forged", "code": "123456"}), 401, "authentication_required")
		next := code(t, secret, 30*time.Second)
		r = fresh.post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": token, "code": next})
		want(t, r, 200, "")
		assert.Equal(t, "ok", r.body["status"])
		assert.Contains(t, r.header.Get("Set-Cookie"), "identsphere_at=")
		want(t, fresh.do("GET", "/v1/auth/mfa/", nil), 200, "")
		want(t, fresh.post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": token, "code": next}), 401, "authentication_required")

		// The same code on a new login is a replay.
		r = newClient(t, srv.URL).post("/v1/auth/login", map[string]string{"email": email, "password": password})
		want(t, newClient(t, srv.URL).post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "code": next}), 401, "authentication_required")

		// A recovery code works once.
		r = newClient(t, srv.URL).post("/v1/auth/login", map[string]string{"email": email, "password": password})
		want(t, newClient(t, srv.URL).post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "recovery_code": codes[0]}), 200, "")
		r = newClient(t, srv.URL).post("/v1/auth/login", map[string]string{"email": email, "password": password})
		want(t, newClient(t, srv.URL).post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "recovery_code": codes[0]}), 401, "authentication_required")
		assert.Equal(t, float64(9), c.do("GET", "/v1/auth/mfa/", nil).body["recovery_codes_remaining"])
	})

	t.Run("RegenerateAndDisable", func(t *testing.T) {
		c := newClient(t, srv.URL)
		email := uniqueEmail("regen")
		c.signupAndLogin(email)
		secret, old := c.enrol()
		want(t, c.post("/v1/auth/mfa/recovery-codes", map[string]string{"code": "000000"}), 401, "authentication_required")
		r := c.post("/v1/auth/mfa/recovery-codes", map[string]string{"code": code(t, secret, 30*time.Second)})
		want(t, r, 200, "")
		fresh := r.body["recovery_codes"].([]any)
		assert.Len(t, fresh, 10)

		want(t, c.post("/v1/auth/mfa/disable", map[string]string{"recovery_code": old[0]}), 401, "authentication_required")
		r = c.post("/v1/auth/mfa/disable", map[string]string{"recovery_code": fresh[0].(string)})
		want(t, r, 200, "")
		assert.Equal(t, map[string]any{"mfa_enabled": false}, r.body)
		want(t, c.post("/v1/auth/mfa/disable", map[string]string{"recovery_code": fresh[1].(string)}), 409, "conflict")
		want(t, c.post("/v1/auth/mfa/recovery-codes", map[string]string{"code": "123456"}), 409, "conflict")

		r = newClient(t, srv.URL).post("/v1/auth/login", map[string]string{"email": email, "password": password})
		assert.Equal(t, "ok", r.body["status"], "MFA off: login issues the session again")
	})

	t.Run("Lockout", func(t *testing.T) {
		c := newClient(t, srv.URL)
		c.signupAndLogin(uniqueEmail("lockout"))
		secret, _ := c.enrol()
		for i := 0; i < 5; i++ {
			want(t, c.post("/v1/auth/mfa/disable", map[string]string{"code": "000000"}), 401, "authentication_required")
		}
		r := c.post("/v1/auth/mfa/disable", map[string]string{"code": code(t, secret, 30*time.Second)})
		want(t, r, 429, "rate_limited")
		assert.Regexp(t, `^[1-9][0-9]*$`, r.header.Get("Retry-After"))
	})

	t.Run("CommonRules", func(t *testing.T) {
		c := newClient(t, srv.URL)
		c.signupAndLogin(uniqueEmail("rules"))
		for _, body := range []string{`{"code":`, `{"code":"123456"} {}`, `{"code":"123456","x":1}`, `{"code":"` + strings.Repeat("1", 5000) + `"}`} {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/auth/mfa/enable", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := c.http.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			assert.Equal(t, 400, res.StatusCode, body[:min(len(body), 30)])
		}
		req, _ := http.NewRequest("POST", srv.URL+"/v1/auth/mfa/setup", strings.NewReader(`{}`))
		res, err := c.http.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, 400, res.StatusCode, "no Content-Type")

		// A cross-site request with the victim's cookie is refused.
		req, _ = http.NewRequest("POST", srv.URL+"/v1/auth/mfa/setup", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://evil.example")
		res, err = c.http.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, 403, res.StatusCode)
	})

	t.Run("Pages", func(t *testing.T) {
		res, err := http.Get(srv.URL + "/")
		require.NoError(t, err)
		defer res.Body.Close()
		assert.Equal(t, 200, res.StatusCode)
		assert.Contains(t, res.Header.Get("Content-Type"), "text/html")
		assert.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'self'")
		res2, err := http.Get(srv.URL + "/static/app.js")
		require.NoError(t, err)
		res2.Body.Close()
		assert.Equal(t, 200, res2.StatusCode)
	})
}

// TestTwoInstancesOnPostgres runs two servers on one PostgreSQL database,
// as two replicas behind a load balancer: sessions, tokens and used time
// steps are shared, 16 concurrent enables split over both give exactly
// one 200, and the password-login throttle counts the failures on both.
func TestTwoInstancesOnPostgres(t *testing.T) {
	dsn := os.Getenv("MFA_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MFA_TEST_POSTGRES_DSN is not set: CI must run this test (.ci/run starts PostgreSQL)")
		}
		t.Skip("skipping: set MFA_TEST_POSTGRES_DSN to a PostgreSQL URL to run two instances on one database")
	}
	dir := t.TempDir() // one key file for both, as replicas share their secrets
	a := startServer(t, dir, "-driver", "postgres", "-dsn", dsn)
	b := startServer(t, dir, "-driver", "postgres", "-dsn", dsn)

	email := uniqueEmail("replicas")
	ca := newClient(t, a.URL)
	ca.signupAndLogin(email)
	r := ca.post("/v1/auth/mfa/setup", map[string]any{})
	want(t, r, 200, "")
	secret := r.body["secret"].(string)

	// The session from A works on B.
	r = ca.post("/v1/auth/login", map[string]string{"email": email, "password": password})
	cb := newClient(t, b.URL)
	cb.bearer = r.body["access_token"].(string)
	ca.bearer = cb.bearer
	want(t, cb.do("GET", "/v1/auth/mfa/", nil), 200, "")

	enable := code(t, secret, 0)
	statuses := make([]int, 16)
	errs := make([]error, 16)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := []*client{ca, cb}[i%2]
			r, err := c.postAsync("/v1/auth/mfa/enable", map[string]string{"code": enable})
			statuses[i], errs[i] = r.status, err
		}()
	}
	wg.Wait()
	ok := 0
	for i, s := range statuses {
		require.NoError(t, errs[i])
		if s == 200 {
			ok++
		} else {
			assert.Contains(t, []int{401, 409, 429}, s)
		}
	}
	assert.Equal(t, 1, ok, "exactly one enable wins across both instances: %v", statuses)

	// A step used on A is refused on B, with a ticket minted on B.
	next := code(t, secret, 30*time.Second)
	r = newClient(t, a.URL).post("/v1/auth/login", map[string]string{"email": email, "password": password})
	want(t, newClient(t, b.URL).post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "code": next}), 200, "")
	r = newClient(t, b.URL).post("/v1/auth/login", map[string]string{"email": email, "password": password})
	want(t, newClient(t, a.URL).post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "code": next}), 401, "authentication_required")

	// Failed logins on A and B count together: five lock the account on
	// both, even for the right password. The client address is new to
	// the database, which outlives the test, so that earlier runs do not
	// count towards its limit.
	from := randomLoopback(t)
	clients := []*client{newClientFrom(t, a.URL, from), newClientFrom(t, b.URL, from)}
	victim := uniqueEmail("replica-throttle")
	want(t, clients[0].post("/v1/auth/signup", map[string]string{"email": victim, "password": password}), 201, "")
	failFive := func() {
		t.Helper()
		for i := range 5 {
			want(t, clients[i%2].login(victim, "wrong password"), 401, "authentication_required")
		}
	}
	failFive()
	for _, c := range clients {
		r := c.login(victim, password)
		want(t, r, 429, "rate_limited")
		assert.LessOrEqual(t, retryAfter(t, r), 30, "the first lockout lasts 30 s")
	}

	// The next lockout lasts twice as long. Moving the lockout's start 30
	// seconds into the past stands in for waiting it out.
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	res, err := db.Exec(`UPDATE demo_login_accounts SET locked_at = locked_at - 30000 WHERE email = $1`, victim)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	failFive()
	for _, c := range clients {
		r := c.login(victim, password)
		want(t, r, 429, "rate_limited")
		wait := retryAfter(t, r)
		assert.Greater(t, wait, 30, "the second lockout doubles")
		assert.LessOrEqual(t, wait, 60)
	}
}

func decodeQR(t *testing.T, dataURL string) string {
	t.Helper()
	text, err := qrdecode.DataURL(dataURL)
	require.NoError(t, err)
	return text
}
