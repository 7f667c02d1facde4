package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// authenticatorApp stands in for the user's phone: it computes the code
// for a base32 secret at a time.
func authenticatorApp(secret string, t time.Time) string {
	code, _ := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return code
}

// The whole life cycle on the in-memory store: enrol, confirm, log in with
// a code, fall back to a recovery code.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	svc, err := mfa.New(mfa.Config{
		Issuer: "Example Corp",
		Store:  memstore.New(),
		Now:    func() time.Time { return now }, // a fixed clock for the example
		Audit:  mfa.SlogAudit{Logger: discardLogger},
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close(ctx)

	// 1. Setup: show enr.QRCodeDataURL() (or enr.Secret) to the user.
	enr, err := svc.Setup(ctx, "alice", "")
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(enr.URI, "otpauth://totp/Example%20Corp:alice?"))

	// 2. Enable with the first code from the app; show the recovery codes
	// once.
	codes, err := svc.Enable(ctx, "alice", authenticatorApp(enr.Secret, now))
	if err != nil {
		panic(err)
	}
	fmt.Println(len(codes), "recovery codes")

	// 3. At login: the same code again is a replay.
	_, err = svc.Verify(ctx, "alice", mfa.Credential{Code: authenticatorApp(enr.Secret, now)})
	fmt.Println(errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrReplay))

	// Thirty seconds later the app shows a fresh code.
	now = now.Add(30 * time.Second)
	v, err := svc.Verify(ctx, "alice", mfa.Credential{Code: authenticatorApp(enr.Secret, now)})
	fmt.Println(err, v.Method, v.FactorID == enr.FactorID)

	// 4. A lost phone: a recovery code works once.
	_, err = svc.Verify(ctx, "alice", mfa.Credential{RecoveryCode: codes[0]})
	fmt.Println(err)
	st, _ := svc.Status(ctx, "alice")
	fmt.Printf("enabled=%v remaining=%d\n", st.Enabled, st.RecoveryCodesRemaining)

	// Output:
	// true
	// 10 recovery codes
	// true true
	// <nil> totp true
	// <nil>
	// enabled=true remaining=9
}

// Too many wrong codes lock the user out; the error says for how long.
func ExampleRateLimitError() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	store := memstore.New()
	svc, _ := mfa.New(mfa.Config{Issuer: "Example", Store: store, Now: func() time.Time { return now }, Audit: mfa.SlogAudit{Logger: discardLogger}})
	defer svc.Close(ctx)
	enr, _ := svc.Setup(ctx, "bob", "")
	for i := 0; i < 5; i++ {
		_, _ = svc.Enable(ctx, "bob", "000000")
	}
	_, err := svc.Enable(ctx, "bob", authenticatorApp(enr.Secret, now))
	var limited *mfa.RateLimitError
	if errors.As(err, &limited) {
		fmt.Println("locked for", limited.RetryAfter)
	}
	// Output: locked for 30s
}

// Mounting the JSON endpoints on a ServeMux under /v1/auth/mfa. The
// authenticator maps the host's own session token to a user ID.
func Example_mountHandlers() {
	svc, _ := mfa.New(mfa.Config{Issuer: "Example", Store: memstore.New(), Audit: mfa.SlogAudit{Logger: discardLogger}})
	defer svc.Close(context.Background())

	sessions := map[string]string{"token-of-alice": "alice"} // the host's session store
	h, _ := mfahttp.New(mfahttp.Config{
		Service: svc,
		Authenticate: mfahttp.CookieOrBearer("session", func(_ context.Context, token string) (string, error) {
			if userID, ok := sessions[token]; ok {
				return userID, nil
			}
			return "", mfahttp.ErrUnauthenticated
		}),
	})
	mux := http.NewServeMux()
	h.Mount(mux, "/v1/auth/mfa")

	req := httptest.NewRequest("GET", "/v1/auth/mfa/", nil)
	req.Header.Set("Authorization", "Bearer token-of-alice")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())

	req = httptest.NewRequest("POST", "/v1/auth/mfa/enable", strings.NewReader(`{"code":"123456"}`))
	req.Header.Set("Content-Type", "application/json")
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 {"mfa_enabled":false,"recovery_codes_remaining":0,"factors":0}
	// 401 {"error":{"code":"authentication_required","message":"authentication required"}}
}
