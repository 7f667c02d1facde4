// Command chi mounts the github.com/identsphere/mfa endpoints on a chi
// router and protects one of the host's own routes with the step-up
// guard: changing the email address needs MFA verified within the last
// five minutes (POST /v1/auth/mfa/verify).
//
//	go run ./examples/chi
package main

import (
	"context"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// verifiedAt is what the host's session remembers: when MFA was last
// verified. A real host keeps it in the session's row.
var (
	mu         sync.Mutex
	verifiedAt time.Time
)

func main() {
	svc, err := mfa.New(mfa.Config{Issuer: "Example", Store: memstore.New()})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(context.Background())

	h, err := mfahttp.New(mfahttp.Config{
		Service: svc,
		Authenticate: mfahttp.CookieOrBearer("session", func(_ context.Context, token string) (string, error) {
			if token == "demo" { // look the session up in your store
				return "user-1", nil
			}
			return "", mfahttp.ErrUnauthenticated
		}),
		SteppedUp: func(w http.ResponseWriter, r *http.Request, v mfa.Verification) error {
			mu.Lock()
			defer mu.Unlock()
			verifiedAt = v.At
			return nil
		},
		VerifiedAt: func(r *http.Request) (time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			return verifiedAt, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Mount("/v1/auth/mfa", http.StripPrefix("/v1/auth/mfa", h))
	r.With(h.RequireStepUp(mfahttp.StepUp{Within: 5 * time.Minute})).
		Post("/v1/account/email", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"changed"}`))
		})
	log.Print("listening on http://127.0.0.1:8082")
	log.Fatal(http.ListenAndServe("127.0.0.1:8082", r))
}
