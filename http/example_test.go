package mfahttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// Mounting the endpoints under /v1/auth/mfa of a ServeMux, with the host's
// session tokens as bearer tokens, and calling two of them.
func Example() {
	svc, _ := mfa.New(mfa.Config{Issuer: "Example", Store: memstore.New(), Audit: discard{}, Logger: quiet})
	defer svc.Close(context.Background())
	h, _ := mfahttp.New(mfahttp.Config{
		Service: svc,
		Authenticate: mfahttp.CookieOrBearer("session", func(_ context.Context, token string) (string, error) {
			if token == "token-of-alice" {
				return "alice", nil
			}
			return "", mfahttp.ErrUnauthenticated
		}),
	})
	mux := http.NewServeMux()
	h.Mount(mux, "/v1/auth/mfa")

	req := httptest.NewRequest("POST", "/v1/auth/mfa/setup", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer token-of-alice")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.Contains(rec.Body.String(), `"otpauth_url":"otpauth://totp/Example:alice?`))

	req = httptest.NewRequest("POST", "/v1/auth/mfa/enable", strings.NewReader(`{"code":"12"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer token-of-alice")
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 true
	// 400 {"error":{"code":"invalid_input","message":"code must be 6 to 8 digits"}}
}

// Guarding a host's own route on a ServeMux: changing the email address
// needs MFA verified within the last five minutes. The host keeps the time
// of the last verification in its session; here it is one variable.
func ExampleHandler_RequireStepUp() {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	store := memstore.New()
	svc, _ := mfa.New(mfa.Config{Issuer: "Example", Store: store, Now: func() time.Time { return now }, Audit: discard{}, Logger: quiet})
	defer svc.Close(context.Background())
	enr, _ := svc.Setup(context.Background(), "alice", "")
	svc.Enable(context.Background(), "alice", codeAt(nil, enr.Secret, now))

	var verifiedAt time.Time // the session's field
	h, _ := mfahttp.New(mfahttp.Config{
		Service: svc,
		Authenticate: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") == "Bearer token-of-alice" {
				return "alice", nil
			}
			return "", mfahttp.ErrUnauthenticated
		},
		SteppedUp:  func(w http.ResponseWriter, r *http.Request, v mfa.Verification) error { verifiedAt = v.At; return nil },
		VerifiedAt: func(r *http.Request) (time.Time, error) { return verifiedAt, nil },
	})
	mux := http.NewServeMux()
	h.Mount(mux, "/v1/auth/mfa")
	guard := h.RequireStepUp(mfahttp.StepUp{Within: 5 * time.Minute})
	mux.Handle("POST /v1/account/email", guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "email changed")
	})))

	send := func(path, body string) {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer token-of-alice")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	send("/v1/account/email", `{}`)
	now = now.Add(30 * time.Second)
	send("/v1/auth/mfa/verify", fmt.Sprintf(`{"code":%q}`, codeAt(nil, enr.Secret, now)))
	send("/v1/account/email", `{}`)
	// Output:
	// 403 {"error":{"code":"mfa_step_up_required","message":"confirm it is you: verify a code from your authenticator app, then retry"}}
	// 200 {"verified_at":"2026-11-28T09:00:30Z"}
	// 200 email changed
}
