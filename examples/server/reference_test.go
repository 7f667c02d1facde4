package main_test

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests of this file hold the demo to "The example host as a
// reference integration" of the contract (../../shared/spec/http-api.md),
// over real HTTP against the binary.

// TestLoginThrottlePerAccount: after 5 consecutive failures an account
// gets 429 with Retry-After (30 s for the first lockout), even for the
// right password and from another client address; a success before that
// resets the count; failed logins are logged without the password.
func TestLoginThrottlePerAccount(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := newClient(t, srv.URL)
	email := uniqueEmail("throttle")
	want(t, c.post("/v1/auth/signup", map[string]string{"email": email, "password": password}), 201, "")
	wrong := func(i int) string { return fmt.Sprintf("wrong-password-%d-%d", i, time.Now().UnixNano()) }
	var tried []string

	// Four failures, then the right password: 200, and the count starts
	// again. Without the reset the fifth failure below would be a 429.
	for round := range 2 {
		for i := range 4 {
			pw := wrong(round*10 + i)
			tried = append(tried, pw)
			want(t, c.login(email, pw), 401, "authentication_required")
		}
		r := c.login(email, password)
		want(t, r, 200, "")
		assert.Equal(t, "ok", r.body["status"], "round %d: a success resets the count", round)
	}

	for i := range 5 {
		pw := wrong(100 + i)
		tried = append(tried, pw)
		want(t, c.login(email, pw), 401, "authentication_required")
	}
	r := c.login(email, password)
	want(t, r, 429, "rate_limited")
	assert.LessOrEqual(t, retryAfter(t, r), 30, "the first lockout lasts 30 s")
	other := newClientFrom(t, srv.URL, randomLoopback(t))
	r = other.login(email, password)
	want(t, r, 429, "rate_limited")
	assert.LessOrEqual(t, retryAfter(t, r), 30, "the lock is the account's, whatever the client address")

	// Another account is not affected.
	c2 := newClient(t, srv.URL)
	c2.signupAndLogin(uniqueEmail("bystander"))

	logs := srv.logs.String()
	assert.Equal(t, 13, strings.Count(logs, `msg="login failed"`), "every failed login is logged")
	assert.Contains(t, logs, `msg="login throttled"`)
	assert.Contains(t, logs, "email="+email)
	for _, pw := range append(tried, password) {
		assert.NotContains(t, logs, pw, "a password is never logged")
	}
}

// TestLoginThrottlePerAddress: a client address gets at most 100 failed
// logins in 15 minutes, exactly, even when they arrive at once; then every
// login from it gets 429, while other addresses sign in as usual. The
// failures are spread over many accounts, none of them locked by itself.
func TestLoginThrottlePerAddress(t *testing.T) {
	srv := startServer(t, t.TempDir())
	email := uniqueEmail("nat")
	want(t, newClient(t, srv.URL).post("/v1/auth/signup", map[string]string{"email": email, "password": password}), 201, "")

	attacker := newClientFrom(t, srv.URL, randomLoopback(t))
	const burst = 110
	statuses := make([]int, burst)
	errs := make([]error, burst)
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A distinct unknown account each: only the address limit applies.
			r, err := attacker.postAsync("/v1/auth/login", map[string]string{"email": fmt.Sprintf("nobody-%d-%s", i, email), "password": "wrong password"})
			statuses[i], errs[i] = r.status, err
		}()
	}
	wg.Wait()
	counts := map[int]int{}
	for i, s := range statuses {
		require.NoError(t, errs[i])
		counts[s]++
	}
	t.Logf("%d concurrent failed logins from one address: %d × 401, %d × 429", burst, counts[401], counts[429])
	assert.Equal(t, map[int]int{401: 100, 429: burst - 100}, counts, "exactly 100 passwords checked")

	r := attacker.login(email, password)
	want(t, r, 429, "rate_limited")
	assert.LessOrEqual(t, retryAfter(t, r), 900, "the window is 15 minutes")

	r = newClientFrom(t, srv.URL, randomLoopback(t)).login(email, password)
	want(t, r, 200, "")
	assert.Equal(t, "ok", r.body["status"], "another address signs in")
}

// TestStepUpPasswordChange: POST /v1/auth/password needs MFA verified
// within 5 minutes for a user with MFA (the login challenge or /verify
// count; enabling MFA on the session does not): 403 mfa_step_up_required,
// then 200 after /verify. 401 for a wrong current password, 400 for a
// short new one; the new password works, the old one no longer does.
func TestStepUpPasswordChange(t *testing.T) {
	srv := startServer(t, t.TempDir())
	change := func(c *client, current, next string) reply {
		t.Helper()
		return c.post("/v1/auth/password", map[string]string{"current_password": current, "new_password": next})
	}

	t.Run("WithoutMFA", func(t *testing.T) {
		c := newClient(t, srv.URL)
		email := uniqueEmail("pw")
		c.signupAndLogin(email)
		want(t, newClient(t, srv.URL).post("/v1/auth/password", map[string]string{"current_password": password, "new_password": "another password"}), 401, "authentication_required")
		r := change(c, password, "short")
		want(t, r, 400, "invalid_input")
		assert.Contains(t, errorMessage(t, r), "new_password")
		r = c.post("/v1/auth/password", map[string]string{"new_password": "another password"})
		want(t, r, 400, "invalid_input")
		assert.Contains(t, errorMessage(t, r), "current_password")
		r = change(c, "not the password", "another password")
		want(t, r, 401, "authentication_required")
		assert.Contains(t, errorMessage(t, r), "current_password")

		want(t, change(c, password, "another password"), 200, "")
		want(t, newClient(t, srv.URL).login(email, password), 401, "authentication_required")
		want(t, newClient(t, srv.URL).login(email, "another password"), 200, "")
	})

	t.Run("WithMFA", func(t *testing.T) {
		c := newClient(t, srv.URL)
		email := uniqueEmail("pw-mfa")
		c.signupAndLogin(email)
		secret, codes := c.enrol()

		// The session was opened with the password alone; enabling MFA on
		// it does not count as a verification.
		r := change(c, password, "another password")
		want(t, r, 403, "mfa_step_up_required")
		r = c.post("/v1/auth/mfa/verify", map[string]string{"code": code(t, secret, 30*time.Second)})
		want(t, r, 200, "")
		verifiedAt, err := time.Parse(time.RFC3339, r.body["verified_at"].(string))
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), verifiedAt, time.Minute)

		want(t, change(c, "not the password", "another password"), 401, "authentication_required")
		want(t, change(c, password, "another password"), 200, "")

		// A session from the login challenge verified MFA: no prompt.
		fresh := newClient(t, srv.URL)
		r = fresh.login(email, "another password")
		want(t, r, 200, "")
		require.Equal(t, "mfa_required", r.body["status"])
		want(t, fresh.post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "recovery_code": codes[0]}), 200, "")
		want(t, change(fresh, "another password", "a third password"), 200, "")
	})

	t.Run("WrongCurrentPasswordCountsAsFailedLogin", func(t *testing.T) {
		c := newClient(t, srv.URL)
		email := uniqueEmail("pw-guess")
		c.signupAndLogin(email)
		for range 5 {
			want(t, change(c, "a guess at it", "another password"), 401, "authentication_required")
		}
		r := change(c, password, "another password")
		want(t, r, 429, "rate_limited")
		retryAfter(t, r)
		want(t, newClient(t, srv.URL).login(email, password), 429, "rate_limited")
	})
}

// TestSessionsFollowMFAChanges: enabling or disabling MFA, adding or
// removing an authenticator, regenerating recovery codes and changing the
// password end every other session of the user; the session that made
// the change goes on.
func TestSessionsFollowMFAChanges(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := newClient(t, srv.URL)
	email := uniqueEmail("sessions")
	c.signupAndLogin(email)
	var codes []string

	// otherSession signs in elsewhere (with a recovery code while MFA is
	// on) and returns that client, holding a bearer token.
	otherSession := func() *client {
		t.Helper()
		o := newClient(t, srv.URL)
		r := o.login(email, password)
		want(t, r, 200, "")
		if r.body["status"] == "mfa_required" {
			r = o.post("/v1/auth/mfa/challenge", map[string]string{"mfa_token": r.body["mfa_token"].(string), "recovery_code": codes[0]})
			want(t, r, 200, "")
			codes = codes[1:]
		}
		o.bearer = r.body["access_token"].(string)
		o.http.Jar = nil // the bearer token only
		want(t, o.do(http.MethodGet, "/v1/auth/me", nil), 200, "")
		return o
	}
	// check runs a change with another session open and checks that it
	// ended and c's did not.
	check := func(name string, change func()) {
		t.Helper()
		o := otherSession()
		change()
		want(t, o.do(http.MethodGet, "/v1/auth/me", nil), 401, "authentication_required")
		want(t, c.do(http.MethodGet, "/v1/auth/me", nil), 200, "")
		t.Logf("%s: the other session ended, the current one goes on", name)
	}

	var secret string
	check("enabled", func() { secret, codes = c.enrol() })

	var added string
	check("factor added", func() {
		r := c.post("/v1/auth/mfa/factors", map[string]string{"name": "Laptop", "recovery_code": codes[len(codes)-1]})
		codes = codes[:len(codes)-1]
		want(t, r, 201, "")
		added = r.body["id"].(string)
		want(t, c.post("/v1/auth/mfa/factors/"+added+"/confirm", map[string]string{"code": code(t, r.body["secret"].(string), 0)}), 200, "")
	})
	check("factor removed", func() {
		r := c.do(http.MethodDelete, "/v1/auth/mfa/factors/"+added, map[string]string{"recovery_code": codes[len(codes)-1]})
		codes = codes[:len(codes)-1]
		want(t, r, 200, "")
		assert.Equal(t, true, r.body["mfa_enabled"])
	})
	check("recovery codes regenerated", func() {
		r := c.post("/v1/auth/mfa/recovery-codes", map[string]string{"code": code(t, secret, 30*time.Second)})
		want(t, r, 200, "")
		codes = nil
		for _, v := range r.body["recovery_codes"].([]any) {
			codes = append(codes, v.(string))
		}
	})
	check("disabled", func() {
		r := c.post("/v1/auth/mfa/disable", map[string]string{"recovery_code": codes[len(codes)-1]})
		want(t, r, 200, "")
	})
	check("password changed", func() {
		want(t, c.post("/v1/auth/password", map[string]string{"current_password": password, "new_password": password + "!"}), 200, "")
	})
}

// TestOrigins: the host serves only its configured host names (by default
// the listen address and localhost on its port) and refuses
// state-changing requests from other origins, with the 403 envelope; it
// never compares Origin with the request's own Host header.
func TestOrigins(t *testing.T) {
	post := func(c *client, host, origin, fetchSite string) reply {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, c.base+"/v1/auth/signup", strings.NewReader(fmt.Sprintf(`{"email": %q, "password": %q}`, uniqueEmail("origin"), password)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", fetchSite)
		}
		return c.send(req)
	}
	get := func(c *client, host string) reply {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, c.base+"/v1/auth/me", nil)
		require.NoError(t, err)
		req.Host = host
		return c.send(req)
	}

	t.Run("Default", func(t *testing.T) {
		srv := startServer(t, t.TempDir())
		c := newClient(t, srv.URL)
		addr := strings.TrimPrefix(srv.URL, "http://")
		port := addr[strings.LastIndex(addr, ":")+1:]
		assert.Equal(t, "http://localhost:"+port, srv.URL, "the demo prints its pages' address on localhost")
		ip := "127.0.0.1:" + port // the -addr it listens on

		want(t, get(c, ip), 401, "authentication_required")
		want(t, get(c, "localhost:"+port), 401, "authentication_required")
		want(t, get(c, "evil.example"), 403, "forbidden")
		want(t, get(c, "localhost:1"), 403, "forbidden")
		want(t, get(c, "evil.example:"+port), 403, "forbidden")

		want(t, post(c, "", "", ""), 201, "")                           // an API client sends no Origin
		want(t, post(c, "", "http://"+ip, "same-origin"), 201, "")      // the page on the address
		want(t, post(c, "", "http://localhost:"+port, "none"), 201, "") // the page on localhost
		want(t, post(c, "", "https://evil.example", "cross-site"), 403, "forbidden")
		want(t, post(c, "", "null", "cross-site"), 403, "forbidden")
		want(t, post(c, "", "http://localhost:1", "same-site"), 403, "forbidden")
		want(t, post(c, "", "", "cross-site"), 403, "forbidden")
		// DNS rebinding: evil.example resolves to this server; Host and
		// Origin agree with each other, and both are refused.
		want(t, post(c, "evil.example:"+port, "http://evil.example:"+port, "same-origin"), 403, "forbidden")

		res, err := http.Get(srv.URL + "/")
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, 200, res.StatusCode)
	})

	t.Run("Configured", func(t *testing.T) {
		srv := startServer(t, t.TempDir(), "-origin", "https://app.example, http://admin.example:8443")
		c := newClient(t, srv.URL)
		addr := strings.TrimPrefix(srv.URL, "http://")
		want(t, get(c, "app.example"), 401, "authentication_required")
		want(t, get(c, "APP.example:443"), 401, "authentication_required")
		want(t, get(c, "admin.example:8443"), 401, "authentication_required")
		want(t, get(c, addr), 403, "forbidden")
		want(t, get(c, "admin.example"), 403, "forbidden")

		want(t, post(c, "app.example", "https://app.example", "same-origin"), 201, "")
		want(t, post(c, "app.example", "http://admin.example:8443", "same-site"), 201, "")
		want(t, post(c, "app.example", "http://app.example", "cross-site"), 403, "forbidden")
		want(t, post(c, "app.example", "https://app.example:8443", "cross-site"), 403, "forbidden")
	})
}

// TestSecureCookie: the session cookie's Secure attribute comes from the
// configuration: off by default on a loopback address, on with -secure,
// and never from request headers such as X-Forwarded-Proto.
func TestSecureCookie(t *testing.T) {
	cookies := func(srv *server) (login, logout string) {
		t.Helper()
		c := newClient(t, srv.URL)
		email := uniqueEmail("cookie")
		want(t, c.post("/v1/auth/signup", map[string]string{"email": email, "password": password}), 201, "")
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"email": %q, "password": %q}`, email, password)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-Proto", "https")
		r := c.send(req)
		want(t, r, 200, "")
		c.bearer = r.body["access_token"].(string)
		out := c.post("/v1/auth/logout", map[string]any{})
		want(t, out, 200, "")
		return r.header.Get("Set-Cookie"), out.header.Get("Set-Cookie")
	}

	login, logout := cookies(startServer(t, t.TempDir()))
	assert.Contains(t, login, "identsphere_at=")
	assert.NotContains(t, login, "Secure", "loopback default, whatever X-Forwarded-Proto says")
	assert.NotContains(t, logout, "Secure")

	login, logout = cookies(startServer(t, t.TempDir(), "-secure"))
	assert.Contains(t, login, "; Secure")
	assert.Contains(t, login, "HttpOnly")
	assert.Contains(t, login, "SameSite=Lax")
	assert.Contains(t, logout, "; Secure")
	assert.Contains(t, logout, "Max-Age=0")
}

// TestFilesOwnerOnly: the SQLite database (with its -wal and -shm files)
// and the key file the demo creates are readable by their owner only, an
// existing database is tightened, and git ignores both wherever the demo
// is run in the repository.
func TestFilesOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	newClient(t, srv.URL).signupAndLogin(uniqueEmail("files"))
	for _, name := range []string{"mfa-demo.db", "mfa-demo.db-wal", "mfa-demo.db-shm", "mfa-demo.key"} {
		info, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm(), name)
	}

	// A database from before, readable by everyone, is tightened.
	dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mfa-demo.db"), nil, 0o644))
	require.NoError(t, os.Chmod(filepath.Join(dir, "mfa-demo.db"), 0o644)) // whatever the umask
	srv = startServer(t, dir)
	newClient(t, srv.URL).signupAndLogin(uniqueEmail("files"))
	info, err := os.Stat(filepath.Join(dir, "mfa-demo.db"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())

	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: cannot check .gitignore")
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not in a git work tree: cannot check .gitignore")
	}
	for _, folder := range []string{".", "examples", "examples/server"} {
		for _, name := range []string{"mfa-demo.key", "mfa-demo.db", "mfa-demo.db-wal", "mfa-demo.db-shm"} {
			path := filepath.Join(folder, name)
			cmd := exec.Command("git", "check-ignore", "--no-index", "-q", path)
			cmd.Dir = strings.TrimSpace(string(root))
			assert.NoError(t, cmd.Run(), "git ignores %s", path)
		}
	}
}

// TestHostErrorsAreJSON: every error of the host's own routes is the JSON
// envelope: 404 for an unknown path and for any directory under /static/
// (no listings), 405 with Allow for a wrong method, and 500 without
// internal details when the database fails.
func TestHostErrorsAreJSON(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := newClient(t, srv.URL)

	for _, path := range []string{"/static/", "/static/nope.js", "/nope", "/v1/nope", "/static/../go.mod"} {
		want(t, c.do(http.MethodGet, path, nil), 404, "not_found")
	}
	r := c.do(http.MethodGet, "/static/app.js", nil)
	assert.Equal(t, 200, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "javascript")

	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/auth/login", "POST"},
		{http.MethodGet, "/v1/auth/signup", "POST"},
		{http.MethodGet, "/v1/auth/logout", "POST"},
		{http.MethodGet, "/v1/auth/password", "POST"},
		{http.MethodPost, "/v1/auth/me", "GET, HEAD"},
		{http.MethodDelete, "/", "GET, HEAD"},
		{http.MethodPost, "/static/app.js", "GET, HEAD"},
	} {
		r := c.do(tc.method, tc.path, nil)
		want(t, r, 405, "method_not_allowed")
		assert.Equal(t, tc.allow, r.header.Get("Allow"), "%s %s", tc.method, tc.path)
	}

	// The database fails: the host's and the library's 500 are the
	// envelope, and the cause goes to the log only.
	email := uniqueEmail("broken")
	c.signupAndLogin(email)
	_, err := srv.database(t).Exec(`ALTER TABLE demo_sessions RENAME TO demo_sessions_gone`)
	require.NoError(t, err)
	for _, r := range []reply{
		c.login(email, password),
		c.do(http.MethodGet, "/v1/auth/me", nil),
		c.do(http.MethodGet, "/v1/auth/mfa/", nil),
	} {
		want(t, r, 500, "internal_error")
		assert.Equal(t, "internal error", errorMessage(t, r))
	}
	assert.Contains(t, srv.logs.String(), "no such table")
}
