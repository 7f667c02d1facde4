// Command chi mounts the github.com/identsphere/mfa endpoints on a chi
// router, one exported handler per route, behind the host's own
// authentication middleware.
//
//	go run ./examples/chi
package main

import (
	"context"
	"log"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
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
		CompleteLogin: func(w http.ResponseWriter, r *http.Request, userID string) {
			// Issue your session for userID here.
			mfahttp.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Route("/v1/auth/mfa", func(r chi.Router) {
		r.Get("/", h.Status)
		r.Post("/setup", h.Setup)
		r.Post("/enable", h.Enable)
		r.Post("/challenge", h.Challenge)
		r.Post("/disable", h.Disable)
		r.Post("/recovery-codes", h.RegenerateRecoveryCodes)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8082", r))
}
