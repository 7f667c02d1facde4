package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
)

// sessionCookie is the name of the session cookie; the same token works as
// "Authorization: Bearer <token>".
const (
	sessionCookie = "identsphere_at"
	sessionTTL    = 12 * time.Hour
	minPassword   = 8
)

// app is the host: it owns users and sessions; the library owns MFA.
type app struct {
	db     *sqlx.DB
	mfa    *mfa.Service
	mfaAPI *mfahttp.Handler
	logger *slog.Logger
	issuer string
	// dummyHash makes a login for an unknown email cost one bcrypt
	// comparison too, so response times do not tell which emails exist.
	dummyHash []byte
}

func openApp(ctx context.Context, cfg config, keys *mfa.KeyRing, logger *slog.Logger) (*app, error) {
	db, store, err := openDatabase(ctx, cfg.driver, cfg.dsn)
	if err != nil {
		return nil, err
	}
	a := &app{db: db, logger: logger, issuer: cfg.issuer}
	a.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a real password"), bcrypt.DefaultCost)
	a.mfa, err = mfa.New(mfa.Config{
		Issuer:  cfg.issuer,
		Store:   store,
		Keys:    keys,    // secrets sealed at rest, recovery codes keyed
		Account: a.email, // the label in authenticator apps; 404 for deleted users
		Logger:  logger,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	a.mfaAPI, err = mfahttp.New(mfahttp.Config{
		Service:       a.mfa,
		Authenticate:  mfahttp.CookieOrBearer(sessionCookie, a.sessionUser),
		CompleteLogin: a.completeChallenge,
		Logger:        logger,
	})
	if err != nil {
		a.close(ctx)
		return nil, err
	}
	return a, nil
}

// close delivers queued audit events and closes the database.
func (a *app) close(ctx context.Context) error {
	err := a.mfa.Close(ctx)
	if cerr := a.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.page)
	mux.Handle("GET /static/", http.FileServerFS(staticFiles))
	mux.HandleFunc("POST /v1/auth/signup", a.signup)
	mux.HandleFunc("POST /v1/auth/login", a.login)
	mux.HandleFunc("POST /v1/auth/logout", a.logout)
	mux.HandleFunc("GET /v1/auth/me", a.me)
	a.mfaAPI.Mount(mux, "/v1/auth/mfa") // the library, through its public API only
	return securityHeaders(sameOrigin(mux))
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signup: 201 {"user_id"}; 400 for a bad email or a short password; 409
// when the email is taken.
func (a *app) signup(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, err.Error())
		return
	}
	email, ok := normalEmail(req.Email)
	switch {
	case !ok:
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, "email is not a valid address")
		return
	case len(req.Password) < minPassword || len(req.Password) > 72:
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, "password must be 8 to 72 characters")
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(req.Password), bcrypt.DefaultCost)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	userID := "u_" + randomHex(12)
	_, err = a.db.ExecContext(r.Context(), a.db.Rebind(`INSERT INTO demo_users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)`),
		userID, email, string(hash), time.Now().Unix())
	if err != nil {
		if _, lookupErr := a.userByEmail(r.Context(), email); lookupErr == nil {
			writeError(w, http.StatusConflict, mfahttp.CodeConflict, "email is already registered")
			return
		}
		a.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"user_id": userID})
}

// login checks the password. Without MFA it issues the session; with MFA
// it answers {"status": "mfa_required", "mfa_token"} and no session until
// POST /v1/auth/mfa/challenge succeeds.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, err.Error())
		return
	}
	email, _ := normalEmail(req.Email)
	u, err := a.userByEmail(r.Context(), email)
	hash := a.dummyHash
	if err == nil {
		hash = []byte(u.PasswordHash)
	} else if !errors.Is(err, sql.ErrNoRows) {
		a.internal(w, r, err)
		return
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil || err != nil {
		writeError(w, http.StatusUnauthorized, mfahttp.CodeAuthenticationRequired, "wrong email or password")
		return
	}
	status, err := a.mfa.Status(r.Context(), u.ID)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if status.Enabled {
		token, err := a.mfa.StartChallenge(r.Context(), u.ID)
		if err != nil {
			a.internal(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "mfa_required", "mfa_token": token})
		return
	}
	a.completeLogin(w, r, u.ID)
}

// completeChallenge is mfahttp's CompleteLogin: the user passed the login
// challenge.
func (a *app) completeChallenge(w http.ResponseWriter, r *http.Request, v mfa.Verification) {
	a.completeLogin(w, r, v.UserID)
}

// completeLogin issues a session: the cookie, and the same token in the
// body for API clients.
func (a *app) completeLogin(w http.ResponseWriter, r *http.Request, userID string) {
	token := randomToken()
	expires := time.Now().Add(sessionTTL)
	_, err := a.db.ExecContext(r.Context(), a.db.Rebind(`INSERT INTO demo_sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)`),
		tokenHash(token), userID, expires.Unix())
	if err != nil {
		a.internal(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   !plainLoopback(r),
	})
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "access_token": token})
}

// logout ends the session of the cookie or bearer token.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if token := sessionToken(r); token != "" {
		if _, err := a.db.ExecContext(r.Context(), a.db.Rebind(`DELETE FROM demo_sessions WHERE token_hash = ?`), tokenHash(token)); err != nil {
			a.internal(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: !plainLoopback(r)})
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged_out"})
}

// me: 200 {"user_id", "email"} for the session's user, 401 without one.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	userID, err := mfahttp.CookieOrBearer(sessionCookie, a.sessionUser)(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, mfahttp.CodeAuthenticationRequired, "authentication required")
		return
	}
	email, err := a.email(r.Context(), userID)
	if err != nil {
		writeError(w, http.StatusUnauthorized, mfahttp.CodeAuthenticationRequired, "authentication required")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user_id": userID, "email": email})
}

// sessionUser resolves a session token for mfahttp.CookieOrBearer.
func (a *app) sessionUser(ctx context.Context, token string) (string, error) {
	var userID string
	err := a.db.GetContext(ctx, &userID, a.db.Rebind(`SELECT user_id FROM demo_sessions WHERE token_hash = ? AND expires_at > ?`),
		tokenHash(token), time.Now().Unix())
	if errors.Is(err, sql.ErrNoRows) {
		return "", mfahttp.ErrUnauthenticated
	}
	return userID, err
}

// email is mfa.Config.Account: the user's email, or mfa.ErrUserNotFound.
func (a *app) email(ctx context.Context, userID string) (string, error) {
	var email string
	err := a.db.GetContext(ctx, &email, a.db.Rebind(`SELECT email FROM demo_users WHERE id = ?`), userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", mfa.ErrUserNotFound
	}
	return email, err
}

type user struct {
	ID           string `db:"id"`
	PasswordHash string `db:"password_hash"`
}

func (a *app) userByEmail(ctx context.Context, email string) (user, error) {
	var u user
	err := a.db.GetContext(ctx, &u, a.db.Rebind(`SELECT id, password_hash FROM demo_users WHERE email = ?`), email)
	return u, err
}

func (a *app) internal(w http.ResponseWriter, r *http.Request, err error) {
	a.logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, mfahttp.CodeInternalError, "internal error")
}

// sameOrigin refuses state-changing requests whose Origin header names
// another site. With the JSON-only API (a cross-site form cannot send
// application/json without a CORS preflight, which this server never
// grants) and SameSite=Lax cookies, it makes cookie-authenticated changes
// CSRF-safe.
func sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if origin := r.Header.Get("Origin"); origin != "" && origin != "http://"+r.Host && origin != "https://"+r.Host {
				writeError(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// plainLoopback reports a plain-HTTP request to a loopback address, the
// one case where the session cookie may go without Secure.
func plainLoopback(r *http.Request) bool {
	if r.TLS != nil {
		return false
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// normalEmail returns the lower-cased address when s is a bare email
// address.
func normalEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || len(s) > 254 || addr.Name != "" {
		return "", false
	}
	return strings.ToLower(s), true
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
