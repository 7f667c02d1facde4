package mfahttp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

const prefix = "/v1/auth/mfa"

// env is a ServeMux with the handlers mounted under prefix, a fixed clock
// and bearer tokens "token-<user>" for every user but "gone".
type env struct {
	t     *testing.T
	svc   *mfa.Service
	mux   *http.ServeMux
	store mfa.Store
	h     *mfahttp.Handler
	now   time.Time
	mu    sync.Mutex
	// What the hooks saw.
	errors    []error
	steppedUp []mfa.Verification
	changes   []mfahttp.Change
}

func newEnv(t *testing.T, store mfa.Store, edit ...func(*mfa.Config)) *env {
	e := &env{t: t, mux: http.NewServeMux(), store: store, now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	cfg := mfa.Config{
		Issuer: "Example",
		Store:  store,
		Now:    func() time.Time { return e.now },
		Audit:  discard{},
		Account: func(_ context.Context, userID string) (string, error) {
			if userID == "gone" {
				return "", mfa.ErrUserNotFound
			}
			return userID + "@example.com", nil
		},
	}
	for _, ed := range edit {
		ed(&cfg)
	}
	svc, err := mfa.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	e.svc = svc
	h, err := mfahttp.New(mfahttp.Config{
		Service: svc,
		CompleteLogin: func(w http.ResponseWriter, r *http.Request, v mfa.Verification) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"status":"ok","access_token":"token-%s"}`, v.UserID)
		},
		SteppedUp: func(w http.ResponseWriter, r *http.Request, v mfa.Verification) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.steppedUp = append(e.steppedUp, v)
			return nil
		},
		OnChange: func(w http.ResponseWriter, r *http.Request, c mfahttp.Change) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.changes = append(e.changes, c)
			return nil
		},
		Authenticate: mfahttp.CookieOrBearer("identsphere_at", func(_ context.Context, token string) (string, error) {
			if user, ok := strings.CutPrefix(token, "token-"); ok {
				return user, nil
			}
			return "", mfahttp.ErrUnauthenticated
		}),
		OnError: func(_ *http.Request, err error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.errors = append(e.errors, err)
		},
	})
	require.NoError(t, err)
	h.Mount(e.mux, prefix)
	e.h = h
	return e
}

type discard struct{}

func (discard) RecordEvent(context.Context, mfa.Event) error { return nil }

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request as user (no credential when user is "").
func (e *env) do(method, path, user, contentType, body string) response {
	e.t.Helper()
	req := httptest.NewRequest(method, prefix+path, strings.NewReader(body))
	if user != "" {
		req.Header.Set("Authorization", "Bearer token-"+user)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	require.NoError(e.t, json.Unmarshal(rec.Body.Bytes(), &res.body), "every response is JSON: %s", res.raw)
	assert.Equal(e.t, "application/json", rec.Header().Get("Content-Type"))
	return res
}

func (e *env) post(path, user, body string) response {
	return e.do(http.MethodPost, path, user, "application/json", body)
}

// code is the TOTP code for secret at the env's time plus offset.
func (e *env) code(secret string, offset time.Duration) string {
	return codeAt(e.t, secret, e.now.Add(offset))
}

// codeAt is the TOTP code for secret at t, from pquerna/otp. t may be nil
// (in Examples), which panics on an error instead.
func codeAt(t *testing.T, secret string, at time.Time) string {
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if t == nil && err != nil {
		panic(err)
	}
	if t != nil {
		require.NoError(t, err)
	}
	return code
}

func (e *env) setup(user string) string {
	res := e.post("/setup", user, "")
	require.Equal(e.t, http.StatusOK, res.status, res.raw)
	return res.body["secret"].(string)
}

// assertError checks the error envelope.
func assertError(t *testing.T, res response, status int, code string) {
	t.Helper()
	assert.Equal(t, status, res.status, res.raw)
	errObj, ok := res.body["error"].(map[string]any)
	require.True(t, ok, "error envelope: %s", res.raw)
	assert.Equal(t, code, errObj["code"], res.raw)
	assert.NotEmpty(t, errObj["message"])
	assert.Len(t, res.body, 1)
}

func TestSetupEndpoint(t *testing.T) {
	e := newEnv(t, memstore.New())
	res := e.post("/setup", "alice", "{}")
	require.Equal(t, http.StatusOK, res.status, res.raw)
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	secret := res.body["secret"].(string)
	url := res.body["otpauth_url"].(string)
	assert.Len(t, secret, 32)
	assert.Equal(t, "otpauth://totp/Example:alice@example.com?secret="+secret+"&issuer=Example&algorithm=SHA1&digits=6&period=30", url, "the spec's form")
	png64, ok := strings.CutPrefix(res.body["qr_code"].(string), "data:image/png;base64,")
	require.True(t, ok, "qr_code is a PNG data URL")
	raw, err := base64.StdEncoding.DecodeString(png64)
	require.NoError(t, err)
	_, err = png.Decode(bytes.NewReader(raw))
	assert.NoError(t, err, "a valid PNG; examples/internal/qrdecode and the end-to-end test decode the QR code itself")

	// An empty body works too, and replaces the pending secret.
	again := e.post("/setup", "alice", "")
	require.Equal(t, http.StatusOK, again.status)
	assert.NotEqual(t, secret, again.body["secret"])
}

func TestSetupErrors(t *testing.T) {
	e := newEnv(t, memstore.New())
	assertError(t, e.post("/setup", "", "{}"), 401, "authentication_required")
	assertError(t, e.post("/setup", "gone", "{}"), 404, "not_found")
	assertError(t, e.post("/setup", "alice", `{"x":1}`), 400, "invalid_input")
	assertError(t, e.do("POST", "/setup", "alice", "text/plain", "{}"), 400, "invalid_input")

	secret := e.setup("bob")
	require.Equal(t, 200, e.post("/enable", "bob", fmt.Sprintf(`{"code":%q}`, e.code(secret, 0))).status)
	assertError(t, e.post("/setup", "bob", "{}"), 409, "conflict")
}

func TestEnableEndpoint(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret := e.setup("alice")
	res := e.post("/enable", "alice", fmt.Sprintf(`{"code":%q}`, e.code(secret, 0)))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	codes := res.body["recovery_codes"].([]any)
	require.Len(t, codes, 10)
	for _, c := range codes {
		assert.Regexp(t, `^[A-Za-z0-9]{10}$`, c)
	}
	status := e.do("GET", "/", "alice", "", "")
	assert.Equal(t, 200, status.status)
	assert.Equal(t, map[string]any{"mfa_enabled": true, "recovery_codes_remaining": float64(10), "factors": float64(1)}, status.body)
	assert.Equal(t, []mfahttp.Change{{UserID: "alice", Type: mfa.EventEnabled}}, e.changes, "OnChange hears of it")
}

func TestEnableErrors(t *testing.T) {
	e := newEnv(t, memstore.New())
	// 400: bad code shape, or setup never called.
	assertError(t, e.post("/enable", "alice", `{"code":"123456"}`), 400, "invalid_input")
	secret := e.setup("alice")
	right := e.code(secret, 0)
	for _, body := range []string{`{}`, `{"code":null}`, `{"code":""}`, `{"code":"12345"}`, `{"code":"123456789"}`, `{"code":123456}`} {
		res := e.post("/enable", "alice", body)
		assertError(t, res, 400, "invalid_input")
		assert.NotContains(t, res.raw, "12345", "the message never echoes the code")
	}
	// 401: no credential, or the code does not match (digits or not).
	assertError(t, e.post("/enable", "", fmt.Sprintf(`{"code":%q}`, right)), 401, "authentication_required")
	assertError(t, e.post("/enable", "alice", `{"code":"abcdef"}`), 401, "authentication_required")
	wrong := fmt.Sprintf("%06d", (atoi(right)+1)%1_000_000)
	res := e.post("/enable", "alice", fmt.Sprintf(`{"code":%q}`, wrong))
	assertError(t, res, 401, "authentication_required")
	assert.NotContains(t, res.raw, wrong)
	// 404: the user no longer exists.
	assertError(t, e.post("/enable", "gone", `{"code":"123456"}`), 404, "not_found")
	// 200, then 409: already enabled.
	require.Equal(t, 200, e.post("/enable", "alice", fmt.Sprintf(`{"code":%q}`, right)).status)
	assertError(t, e.post("/enable", "alice", fmt.Sprintf(`{"code":%q}`, e.code(secret, 30*time.Second))), 409, "conflict")
}

func TestEnableRateLimited(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret := e.setup("carol")
	for i := 0; i < 5; i++ {
		assertError(t, e.post("/enable", "carol", `{"code":"000000"}`), 401, "authentication_required")
	}
	res := e.post("/enable", "carol", fmt.Sprintf(`{"code":%q}`, e.code(secret, 0)))
	assertError(t, res, 429, "rate_limited")
	assert.Equal(t, "30", res.header.Get("Retry-After"))
	e.now = e.now.Add(29*time.Second + 500*time.Millisecond)
	res = e.post("/enable", "carol", fmt.Sprintf(`{"code":%q}`, e.code(secret, 0)))
	assertError(t, res, 429, "rate_limited")
	assert.Equal(t, "1", res.header.Get("Retry-After"), "whole seconds, rounded up")
	e.now = e.now.Add(time.Second)
	assert.Equal(t, 200, e.post("/enable", "carol", fmt.Sprintf(`{"code":%q}`, e.code(secret, 0))).status)
}

func TestConcurrentEnablesOne200(t *testing.T) {
	e := newEnv(t, memstore.New())
	secret := e.setup("dave")
	body := fmt.Sprintf(`{"code":%q}`, e.code(secret, 0))
	statuses := make([]int, 16)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("POST", prefix+"/enable", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer token-dave")
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.mux.ServeHTTP(rec, req)
			statuses[i] = rec.Code
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		} else {
			assert.Contains(t, []int{401, 409, 429}, s)
		}
	}
	assert.Equal(t, 1, ok, "%v", statuses)
}

func TestStatusEndpoint(t *testing.T) {
	e := newEnv(t, memstore.New())
	res := e.do("GET", "/", "erin", "", "")
	assert.Equal(t, 200, res.status)
	assert.Equal(t, map[string]any{"mfa_enabled": false, "recovery_codes_remaining": float64(0), "factors": float64(0)}, res.body)
	assert.Equal(t, 200, e.do("GET", "", "erin", "", "").status, "the prefix without a slash")
	assertError(t, e.do("GET", "/", "", "", ""), 401, "authentication_required")
	assertError(t, e.do("GET", "/", "gone", "", ""), 404, "not_found")
	res = e.do("GET", "/enable", "erin", "", "")
	assertError(t, res, 405, "method_not_allowed")
	assert.Equal(t, "POST", res.header.Get("Allow"))
	res = e.do("PUT", "/factors", "erin", "application/json", "{}")
	assertError(t, res, 405, "method_not_allowed")
	assert.Equal(t, "GET, POST", res.header.Get("Allow"))
	assertError(t, e.do("POST", "/nope", "erin", "application/json", "{}"), 404, "not_found")
}

func TestCommonRules(t *testing.T) {
	e := newEnv(t, memstore.New())
	e.setup("frank")
	for name, c := range map[string]struct{ contentType, body string }{
		"no content type":  {"", `{"code":"123456"}`},
		"form":             {"application/x-www-form-urlencoded", `code=123456`},
		"bad content type": {"application/json;;", `{"code":"123456"}`},
		"malformed":        {"application/json", `{"code":`},
		"not an object":    {"application/json", `["123456"]`},
		"unknown field":    {"application/json", `{"code":"123456","admin":true}`},
		"trailing data":    {"application/json", `{"code":"123456"} {}`},
		"trailing garbage": {"application/json", `{"code":"123456"}x`},
		"too large":        {"application/json", `{"code":"123456","pad":"` + strings.Repeat("x", 5000) + `"}`},
		"too large valid":  {"application/json", `{"code":"123456"}` + strings.Repeat(" ", 5000)},
		"empty":            {"application/json", ``},
	} {
		res := e.do("POST", "/enable", "frank", c.contentType, c.body)
		assertError(t, res, 400, "invalid_input")
		assert.NotContains(t, res.raw, "123456", name)
	}
	st, err := e.store.Get(context.Background(), "frank")
	require.NoError(t, err)
	assert.Zero(t, st.Failures, "a rejected request changes nothing")
	assert.False(t, st.Enabled)

	secret := e.setup("grace")
	res := e.do("POST", "/enable", "grace", "application/json; charset=utf-8", fmt.Sprintf(`{"code":%q}`, e.code(secret, 0)))
	assert.Equal(t, 200, res.status, "parameters on the content type are fine")
}

// brokenStore fails every call, with internal detail in the error text.
type brokenStore struct{ mfa.Store }

func (brokenStore) Get(context.Context, string) (mfa.State, error) {
	return mfa.State{}, errors.New("pq: password authentication failed for user \"mfa\"")
}
func (brokenStore) SetPending(context.Context, string, mfa.Factor, []mfa.Event) error {
	return errors.New("pq: relation \"mfa_users\" does not exist")
}
func (brokenStore) ReserveAttempt(context.Context, string, mfa.Attempt) (mfa.Reservation, error) {
	return mfa.Reservation{}, errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func TestInternalErrorsStayInternal(t *testing.T) {
	e := newEnv(t, brokenStore{})
	for _, res := range []response{
		e.post("/setup", "alice", "{}"),
		e.post("/enable", "alice", `{"code":"123456"}`),
		e.do("GET", "/", "alice", "", ""),
	} {
		assertError(t, res, 500, "internal_error")
		assert.NotContains(t, res.raw, "pq:")
		assert.NotContains(t, res.raw, "10.0.0.5")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Len(t, e.errors, 3, "every 500 reaches OnError")
	assert.ErrorIs(t, e.errors[0], mfa.ErrStore)
	assert.Contains(t, e.errors[0].Error(), "does not exist", "the host's log gets the cause")
}

func TestAuthenticatorErrors(t *testing.T) {
	svc, err := mfa.New(mfa.Config{Issuer: "X", Store: memstore.New(), Audit: discard{}})
	require.NoError(t, err)
	defer svc.Close(context.Background())
	var logged error
	h, err := mfahttp.New(mfahttp.Config{
		Service:      svc,
		Authenticate: func(*http.Request) (string, error) { return "", errors.New("session store down") },
		OnError:      func(_ *http.Request, err error) { logged = err },
	})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 500, rec.Code)
	assert.EqualError(t, logged, "session store down")

	_, err = mfahttp.New(mfahttp.Config{Service: svc})
	assert.Error(t, err)
	_, err = mfahttp.New(mfahttp.Config{Authenticate: func(*http.Request) (string, error) { return "", nil }})
	assert.Error(t, err)
}

func TestCookieOrBearer(t *testing.T) {
	auth := mfahttp.CookieOrBearer("sid", func(_ context.Context, token string) (string, error) {
		if token == "good" {
			return "u1", nil
		}
		return "", mfahttp.ErrUnauthenticated
	})
	for name, c := range map[string]struct {
		cookie, header string
		user           string
	}{
		"cookie":          {cookie: "good", user: "u1"},
		"bearer":          {header: "Bearer good", user: "u1"},
		"bearer any case": {header: "bearer good", user: "u1"},
		"cookie wins":     {cookie: "bad", header: "Bearer good"},
		"basic":           {header: "Basic Z29vZA=="},
		"bad token":       {header: "Bearer nope"},
		"nothing":         {},
		"empty bearer":    {header: "Bearer "},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if c.cookie != "" {
			req.AddCookie(&http.Cookie{Name: "sid", Value: c.cookie})
		}
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		user, err := auth(req)
		if c.user != "" {
			assert.NoError(t, err, name)
			assert.Equal(t, c.user, user, name)
		} else {
			assert.ErrorIs(t, err, mfahttp.ErrUnauthenticated, name)
		}
	}
}

func TestRoutingBehindStripPrefix(t *testing.T) {
	svc, err := mfa.New(mfa.Config{Issuer: "X", Store: memstore.New(), Audit: discard{}})
	require.NoError(t, err)
	defer svc.Close(context.Background())
	h, err := mfahttp.New(mfahttp.Config{Service: svc, Authenticate: func(*http.Request) (string, error) { return "u", nil }})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/api/mfa/", http.StripPrefix("/api/mfa", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/api/mfa/")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	res, err = http.Post(srv.URL+"/api/mfa/setup", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	res, err = http.Get(srv.URL + "/api/mfa/setup")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 405, res.StatusCode)
	assert.Equal(t, "POST", res.Header.Get("Allow"))
	res, err = http.Get(srv.URL + "/api/mfa/nope")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 404, res.StatusCode)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
