// Command mux is the smallest embedding of github.com/identsphere/mfa: the
// JSON endpoints on a plain http.ServeMux with the in-memory store. The
// "session" is a fixed bearer token; a real host plugs in its own.
//
//	go run ./examples/mux
//	curl -X POST -H 'Authorization: Bearer demo' -H 'Content-Type: application/json' -d '{}' localhost:8081/mfa/setup
package main

import (
	"context"
	"log"
	"net/http"

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

	handler, err := mfahttp.New(mfahttp.Config{
		Service: svc,
		Authenticate: mfahttp.CookieOrBearer("session", func(_ context.Context, token string) (string, error) {
			if token == "demo" { // look the session up in your store
				return "user-1", nil
			}
			return "", mfahttp.ErrUnauthenticated
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	handler.Mount(mux, "/mfa")
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", mux))
}
