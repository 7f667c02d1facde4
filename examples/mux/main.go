// Command mux is the smallest complete embedding of
// github.com/identsphere/mfa: the MFA endpoints on a plain http.ServeMux
// with the in-memory store, a password login that hands out a login
// challenge when MFA is on, and sessions in a map. A real host keeps users
// and sessions in its database (examples/server does).
//
//	go run ./examples/mux
//	curl -s -X POST -d '{"user":"alice","password":"secret"}' -H 'Content-Type: application/json' localhost:8081/login
//
// Then, with the session token as a bearer token: POST /mfa/setup, POST
// /mfa/enable {"code"}; log in again, and the answer is
// {"status":"mfa_required","mfa_token"} for POST /mfa/challenge
// {"mfa_token","code"}, which issues the session.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log"
	"net/http"
	"sync"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// passwords are the host's users (never store plain passwords: hash them).
var passwords = map[string]string{"alice": "secret"}

// sessions maps session tokens to user IDs.
var (
	mu       sync.Mutex
	sessions = map[string]string{}
)

func main() {
	svc, err := mfa.New(mfa.Config{Issuer: "Example", Store: memstore.New()})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(context.Background())

	h, err := mfahttp.New(mfahttp.Config{
		Service:      svc,
		Authenticate: mfahttp.CookieOrBearer("session", userOf),
		// After POST /mfa/challenge accepted the code: issue the session.
		CompleteLogin: func(w http.ResponseWriter, r *http.Request, v mfa.Verification) {
			reply(w, map[string]string{"status": "ok", "access_token": newSession(v.UserID)})
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Mount(mux, "/mfa")
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ User, Password string }
		if json.NewDecoder(r.Body).Decode(&req) != nil || passwords[req.User] == "" || passwords[req.User] != req.Password {
			http.Error(w, `{"error":{"code":"authentication_required","message":"wrong user or password"}}`, http.StatusUnauthorized)
			return
		}
		st, err := svc.Status(r.Context(), req.User)
		if err != nil {
			http.Error(w, `{"error":{"code":"internal_error","message":"internal error"}}`, http.StatusInternalServerError)
			return
		}
		if !st.Enabled {
			reply(w, map[string]string{"status": "ok", "access_token": newSession(req.User)})
			return
		}
		// MFA is on: no session yet, a login challenge instead.
		token, err := svc.StartChallenge(r.Context(), req.User)
		if err != nil {
			http.Error(w, `{"error":{"code":"internal_error","message":"internal error"}}`, http.StatusInternalServerError)
			return
		}
		reply(w, map[string]string{"status": "mfa_required", "mfa_token": token})
	})
	log.Print("listening on http://127.0.0.1:8081")
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", mux))
}

// userOf resolves a session token for mfahttp.CookieOrBearer.
func userOf(_ context.Context, token string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if user, ok := sessions[token]; ok {
		return user, nil
	}
	return "", mfahttp.ErrUnauthenticated
}

func newSession(user string) string {
	token := rand.Text()
	mu.Lock()
	defer mu.Unlock()
	sessions[token] = user
	return token
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
