package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// The step-up guard on a chi route: r.With(guard) protects one route, and
// the MFA endpoints are mounted behind http.StripPrefix.
func Example_stepUpOnChi() {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	svc, _ := mfa.New(mfa.Config{Issuer: "Example", Store: memstore.New(), Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer svc.Close(context.Background())
	enr, _ := svc.Setup(context.Background(), "alice", "")
	code := func() string {
		c, _ := totp.GenerateCodeCustom(enr.Secret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		return c
	}
	svc.Enable(context.Background(), "alice", code())

	var verifiedAt time.Time // the session's field
	h, _ := mfahttp.New(mfahttp.Config{
		Service:      svc,
		Authenticate: func(*http.Request) (string, error) { return "alice", nil },
		SteppedUp:    func(w http.ResponseWriter, r *http.Request, v mfa.Verification) error { verifiedAt = v.At; return nil },
		VerifiedAt:   func(*http.Request) (time.Time, error) { return verifiedAt, nil },
	})
	r := chi.NewRouter()
	r.Mount("/v1/auth/mfa", http.StripPrefix("/v1/auth/mfa", h))
	r.With(h.RequireStepUp(mfahttp.StepUp{Within: 5 * time.Minute})).
		Post("/v1/account/email", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "email changed") })

	send := func(path, body string) {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	send("/v1/account/email", `{}`)
	now = now.Add(30 * time.Second)
	send("/v1/auth/mfa/verify", fmt.Sprintf(`{"code":%q}`, code()))
	send("/v1/account/email", `{}`)
	// Output:
	// 403 {"error":{"code":"mfa_step_up_required","message":"confirm it is you: verify a code from your authenticator app, then retry"}}
	// 200 {"verified_at":"2026-11-28T09:00:30Z"}
	// 200 email changed
}
