package mfahttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

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
