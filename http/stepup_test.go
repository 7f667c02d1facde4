package mfahttp_test

import (
	"context"
	"encoding/json"
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

func TestVerifyEndpoint(t *testing.T) {
	e := newEnv(t, memstore.New())
	assertError(t, e.post("/verify", "alice", body("code", "123456")), 409, "conflict")
	secret, codes := e.enrol("alice")
	assertError(t, e.post("/verify", "alice", `{}`), 400, "invalid_input")
	assertError(t, e.post("/verify", "alice", body("code", "1")), 400, "invalid_input")
	assertError(t, e.post("/verify", "", body("code", e.code(secret, 0))), 401, "authentication_required")
	assertError(t, e.post("/verify", "alice", body("code", "000000")), 401, "authentication_required")
	assertError(t, e.post("/verify", "gone", body("code", "123456")), 404, "not_found")

	res := e.post("/verify", "alice", body("code", e.code(secret, 0)))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, map[string]any{"verified_at": e.now.Format(time.RFC3339)}, res.body)
	require.Len(t, e.steppedUp, 1, "the host's hook recorded it")
	assert.Equal(t, "alice", e.steppedUp[0].UserID)
	assert.Equal(t, e.now, e.steppedUp[0].At)

	res = e.post("/verify", "alice", body("code", e.code(secret, 0)))
	assertError(t, res, 401, "authentication_required")
	assert.Contains(t, res.body["error"].(map[string]any)["message"], "already used", "a replay says so")

	res = e.post("/verify", "alice", body("recovery_code", codes[2]))
	require.Equal(t, 200, res.status, res.raw)
	assert.Equal(t, float64(9), e.do("GET", "/", "alice", "", "").body["recovery_codes_remaining"], "a recovery code is used up")
	assert.Equal(t, mfa.MethodRecoveryCode, e.steppedUp[1].Method)
}

// stepUpEnv is a Handler whose session "verified at" time is a variable,
// with a guarded route /secret on a ServeMux.
type stepUpEnv struct {
	*env
	verifiedAt time.Time
	guarded    http.Handler
}

func newStepUpEnv(t *testing.T, s mfahttp.StepUp) *stepUpEnv {
	e := &stepUpEnv{env: newEnv(t, memstore.New())}
	h, err := mfahttp.New(mfahttp.Config{
		Service:      e.svc,
		Authenticate: bearerUser,
		VerifiedAt:   func(*http.Request) (time.Time, error) { return e.verifiedAt, nil },
	})
	require.NoError(t, err)
	e.guarded = h.RequireStepUp(s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("secret"))
	}))
	return e
}

// bearerUser authenticates "Bearer token-<user>".
func bearerUser(r *http.Request) (string, error) {
	if user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer token-"); ok && user != "" {
		return user, nil
	}
	return "", mfahttp.ErrUnauthenticated
}

func (e *stepUpEnv) get(user string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/secret", nil)
	if user != "" {
		req.Header.Set("Authorization", "Bearer token-"+user)
	}
	rec := httptest.NewRecorder()
	e.guarded.ServeHTTP(rec, req)
	return rec
}

func TestRequireStepUp(t *testing.T) {
	e := newStepUpEnv(t, mfahttp.StepUp{Within: 5 * time.Minute})
	assert.Equal(t, 401, e.get("").Code)
	assert.Equal(t, 200, e.get("nomfa").Code, "users without MFA pass")

	e.enrol("alice")
	rec := e.get("alice")
	assert.Equal(t, 403, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"mfa_step_up_required"`, "never verified")
	e.verifiedAt = e.now.Add(-4 * time.Minute)
	assert.Equal(t, 200, e.get("alice").Code, "verified four minutes ago")
	e.verifiedAt = e.now.Add(-6 * time.Minute)
	rec = e.get("alice")
	assert.Equal(t, 403, rec.Code, "six minutes is too long ago")
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))

	strict := newStepUpEnv(t, mfahttp.StepUp{Within: time.Minute, RequireEnrollment: true})
	rec = strict.get("nomfa")
	assert.Equal(t, 403, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"mfa_enrollment_required"`)
	assert.Equal(t, 404, strict.get("gone").Code, "a deleted user")

	assert.Panics(t, func() { e.h.RequireStepUp(mfahttp.StepUp{Within: time.Minute}) }, "VerifiedAt is required")
	assert.Panics(t, func() {
		h, _ := mfahttp.New(mfahttp.Config{Service: e.svc, Authenticate: bearerUser, VerifiedAt: func(*http.Request) (time.Time, error) { return time.Time{}, nil }})
		h.RequireStepUp(mfahttp.StepUp{})
	}, "Within is required")
}

func TestHookErrors(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	svc, err := mfa.New(mfa.Config{Issuer: "X", Store: memstore.New(), Audit: discard{}, Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer svc.Close(context.Background())
	var logged []error
	h, err := mfahttp.New(mfahttp.Config{
		Service:      svc,
		Authenticate: bearerUser,
		SteppedUp: func(http.ResponseWriter, *http.Request, mfa.Verification) error {
			return errors.New("session store down")
		},
		OnChange: func(http.ResponseWriter, *http.Request, mfahttp.Change) error {
			return errors.New("cannot end sessions")
		},
		OnError: func(_ *http.Request, err error) { logged = append(logged, err) },
	})
	require.NoError(t, err)
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer token-u")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := post("/setup", "{}")
	require.Equal(t, 200, rec.Code)
	var enr struct{ Secret string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &enr))
	rec = post("/enable", fmt.Sprintf(`{"code":%q}`, codeAt(t, enr.Secret, now)))
	assert.Equal(t, 200, rec.Code, "the change happened and its recovery codes are shown: %s", rec.Body)
	require.Len(t, logged, 1)
	assert.ErrorContains(t, logged[0], "cannot end sessions", "the hook's error goes to OnError")

	rec = post("/verify", fmt.Sprintf(`{"code":%q}`, codeAt(t, enr.Secret, now.Add(30*time.Second))))
	assert.Equal(t, 500, rec.Code, "a step-up the host could not record is no step-up")
	require.Len(t, logged, 2)
	assert.ErrorContains(t, logged[1], "session store down")
}
