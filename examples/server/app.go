package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
)

const (
	// minPassword is the shortest password, in characters; bcrypt reads
	// no more than maxPasswordBytes.
	minPassword      = 8
	maxPasswordBytes = 72
	// stepUpWindow is how recent the session's last MFA verification must
	// be for a sensitive action (a password change) of a user with MFA.
	stepUpWindow = 5 * time.Minute
)

// app is the host: it owns users and sessions; the library owns MFA.
type app struct {
	db       *sqlx.DB
	mfa      *mfa.Service
	mfaAPI   *mfahttp.Handler
	throttle *loginThrottle
	logger   *slog.Logger
	issuer   string
	// origins are the origins and host names the app serves (-origin).
	origins *origins
	// secureCookies sets the Secure attribute of the session cookie
	// (-secure).
	secureCookies bool
	// authenticate resolves the request's session cookie or bearer token.
	authenticate mfahttp.Authenticator
	// now is the clock of sessions and of the login throttle.
	now func() time.Time
	// dummyHash makes a login for an unknown email cost one bcrypt
	// comparison too, so response times do not tell which emails exist.
	dummyHash []byte
}

// openApp opens the database and builds the app on it.
func openApp(ctx context.Context, cfg config, keys *mfa.KeyRing, logger *slog.Logger) (*app, error) {
	webAuthn, err := newWebAuthn(cfg.origins, cfg.issuer, logger) // security keys and passkeys (keys.go)
	if err != nil {
		return nil, err
	}
	db, store, err := openDatabase(ctx, cfg.driver, cfg.dsn, logger)
	if err != nil {
		return nil, err
	}
	a := &app{db: db, logger: logger, issuer: cfg.issuer, origins: cfg.origins, secureCookies: cfg.secure, now: time.Now}
	a.throttle = newLoginThrottle(db, a.now)
	a.authenticate = mfahttp.CookieOrBearer(sessionCookie, a.sessionUser)
	a.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a real password"), bcrypt.DefaultCost)
	a.mfa, err = mfa.New(mfa.Config{
		Issuer:  cfg.issuer,
		Store:   store,
		Keys:    keys,    // secrets sealed at rest, recovery codes keyed
		Account: a.email, // the label in authenticator apps; 404 for deleted users
		Logger:  logger,
		Audit:   cfg.audit, // -audit-url; nil: the log

		WebAuthn: webAuthn, // security keys and passkeys; nil: none
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	a.mfaAPI, err = mfahttp.New(mfahttp.Config{
		Service:       a.mfa,
		Authenticate:  a.authenticate,
		CompleteLogin: a.completeChallenge,
		SteppedUp:     a.steppedUp,
		VerifiedAt:    a.verifiedAt,
		OnChange:      a.mfaChanged,
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

// routes returns the app's handler: its pages and JSON endpoints, the
// library's endpoints under /v1/auth/mfa, and around them the Host and
// Origin guard, the security headers and a JSON 500 for panics.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	host := hostRoutes{mux}
	host.handle(http.MethodGet, "/{$}", http.HandlerFunc(a.page))
	host.handle(http.MethodGet, "/static/", staticFiles(webStatic, "/static/"))
	host.handle(http.MethodPost, "/v1/auth/signup", http.HandlerFunc(a.signup))
	host.handle(http.MethodPost, "/v1/auth/login", http.HandlerFunc(a.login))
	host.handle(http.MethodPost, "/v1/auth/logout", http.HandlerFunc(a.logout))
	host.handle(http.MethodGet, "/v1/auth/me", http.HandlerFunc(a.me))
	stepUp := a.mfaAPI.RequireStepUp(mfahttp.StepUp{Within: stepUpWindow})
	host.handle(http.MethodPost, "/v1/auth/password", stepUp(http.HandlerFunc(a.changePassword)))
	host.notFound()
	a.mfaAPI.Mount(mux, "/v1/auth/mfa") // the library, through its public API only
	return recoverJSON(a.logger, securityHeaders(a.origins.guard(a.logger, mux)))
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
	if !ok {
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, "email is not a valid address")
		return
	}
	if problem := passwordProblem("password", req.Password); problem != "" {
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, problem)
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(req.Password), bcrypt.DefaultCost)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	userID := "u_" + randomHex(12)
	_, err = a.db.ExecContext(r.Context(), a.db.Rebind(`INSERT INTO demo_users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)`),
		userID, email, string(hash), a.now().Unix())
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

// login checks the password, throttled per account and per client address
// (throttle.go). Without MFA it issues the session; with MFA it answers
// {"status": "mfa_required", "mfa_token"} and no session until POST
// /v1/auth/mfa/challenge succeeds. A failure is logged, without the
// password.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, err.Error())
		return
	}
	ctx := r.Context()
	email, _ := normalEmail(req.Email) // "" when no account can have it
	attempt, ok := a.reserveLogin(w, r, email)
	if !ok {
		return
	}
	u, err := a.userByEmail(ctx, email)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		a.internal(w, r, err)
		return
	}
	if !a.passwordMatches(u, err == nil, req.Password) {
		a.logger.WarnContext(ctx, "login failed", "email", email, "known_email", err == nil, "ip", clientIP(r))
		writeError(w, http.StatusUnauthorized, mfahttp.CodeAuthenticationRequired, "wrong email or password")
		return
	}
	if err := attempt.succeeded(ctx); err != nil {
		a.internal(w, r, err)
		return
	}
	status, err := a.mfa.Status(ctx, u.ID)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if status.Enabled {
		token, err := a.mfa.StartChallenge(ctx, u.ID)
		if err != nil {
			a.internal(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "mfa_required", "mfa_token": token})
		return
	}
	a.startSession(w, r, u.ID, time.Time{})
}

// reserveLogin takes an attempt of the login throttle for email from the
// request's client address. When there is none left it answers 429 with
// Retry-After and returns false.
func (a *app) reserveLogin(w http.ResponseWriter, r *http.Request, email string) (*loginAttempt, bool) {
	attempt, wait, reason, err := a.throttle.reserve(r.Context(), email, clientIP(r))
	switch {
	case err != nil:
		a.internal(w, r, err)
		return nil, false
	case wait > 0:
		secs := strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10)
		a.logger.WarnContext(r.Context(), "login throttled", "email", email, "ip", clientIP(r), "limit", reason, "retry_after", secs)
		w.Header().Set("Retry-After", secs)
		writeError(w, http.StatusTooManyRequests, mfahttp.CodeRateLimited, "too many failed sign-in attempts; retry in "+secs+" seconds")
		return nil, false
	}
	return attempt, true
}

// passwordMatches compares password with u's hash, or with a dummy hash
// when there is no such user (known false), so that both cost the same.
func (a *app) passwordMatches(u user, known bool, password string) bool {
	hash := a.dummyHash
	if known {
		hash = []byte(u.PasswordHash)
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && known
}

// changePassword serves POST /v1/auth/password {"current_password",
// "new_password"}, behind RequireStepUp: a user with MFA must have
// verified it within stepUpWindow (403 mfa_step_up_required otherwise).
// 400 when a field is missing or new_password is too short; 401 when
// current_password is wrong. A wrong current_password counts as a failed
// login of the account (and of the client address): whoever holds a stolen
// session may not guess the password any faster than at the login form,
// and five wrong guesses lock sign-in and this endpoint alike (429). On
// success every other session of the user ends; this one goes on.
func (a *app) changePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	userID, err := a.authenticate(r)
	if err != nil {
		a.authFailed(w, r, err)
		return
	}
	var req struct {
		CurrentPassword *string `json:"current_password"`
		NewPassword     *string `json:"new_password"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, err.Error())
		return
	}
	switch {
	case req.CurrentPassword == nil:
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, "current_password is required")
		return
	case req.NewPassword == nil:
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, "new_password is required")
		return
	}
	if problem := passwordProblem("new_password", *req.NewPassword); problem != "" {
		writeError(w, http.StatusBadRequest, mfahttp.CodeInvalidInput, problem)
		return
	}
	u, err := a.userByID(ctx, userID)
	if errors.Is(err, sql.ErrNoRows) { // deleted since the step-up check
		writeError(w, http.StatusUnauthorized, mfahttp.CodeAuthenticationRequired, "authentication required")
		return
	} else if err != nil {
		a.internal(w, r, err)
		return
	}
	attempt, ok := a.reserveLogin(w, r, u.Email)
	if !ok {
		return
	}
	if !a.passwordMatches(u, true, *req.CurrentPassword) {
		a.logger.WarnContext(ctx, "password change refused: wrong current password", "user_id", userID, "ip", clientIP(r))
		writeError(w, http.StatusUnauthorized, mfahttp.CodeAuthenticationRequired, "current_password is wrong")
		return
	}
	if err := attempt.succeeded(ctx); err != nil {
		a.internal(w, r, err)
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(*req.NewPassword), bcrypt.DefaultCost)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if _, err := a.db.ExecContext(ctx, a.db.Rebind(`UPDATE demo_users SET password_hash = ? WHERE id = ?`), string(hash), userID); err != nil {
		a.internal(w, r, err)
		return
	}
	ended, err := a.endOtherSessions(r, userID)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.logger.InfoContext(ctx, "password changed; ended the user's other sessions", "user_id", userID, "sessions", ended)
	writeJSON(w, http.StatusOK, map[string]string{"status": "password_changed"})
}

// logout ends the session of the cookie or bearer token.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if token := sessionToken(r); token != "" {
		if _, err := a.db.ExecContext(r.Context(), a.db.Rebind(`DELETE FROM demo_sessions WHERE token_hash = ?`), tokenHash(token)); err != nil {
			a.internal(w, r, err)
			return
		}
	}
	a.setSessionCookie(w, "", time.Time{})
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged_out"})
}

// me: 200 {"user_id", "email"} for the session's user, 401 without one.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	userID, err := a.authenticate(r)
	if err != nil {
		a.authFailed(w, r, err)
		return
	}
	email, err := a.email(r.Context(), userID)
	if errors.Is(err, mfa.ErrUserNotFound) {
		writeError(w, http.StatusUnauthorized, mfahttp.CodeAuthenticationRequired, "authentication required")
		return
	} else if err != nil {
		a.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user_id": userID, "email": email})
}

// authFailed answers an error of a.authenticate: 401 for no valid session,
// 500 when the session could not be looked up.
func (a *app) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, mfahttp.ErrUnauthenticated) {
		writeError(w, http.StatusUnauthorized, mfahttp.CodeAuthenticationRequired, "authentication required")
		return
	}
	a.internal(w, r, err)
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
	Email        string `db:"email"`
	PasswordHash string `db:"password_hash"`
}

func (a *app) userByEmail(ctx context.Context, email string) (user, error) {
	var u user
	err := a.db.GetContext(ctx, &u, a.db.Rebind(`SELECT id, email, password_hash FROM demo_users WHERE email = ?`), email)
	return u, err
}

func (a *app) userByID(ctx context.Context, id string) (user, error) {
	var u user
	err := a.db.GetContext(ctx, &u, a.db.Rebind(`SELECT id, email, password_hash FROM demo_users WHERE id = ?`), id)
	return u, err
}

// internal answers 500 and logs the error, which the client never sees.
func (a *app) internal(w http.ResponseWriter, r *http.Request, err error) {
	a.logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, mfahttp.CodeInternalError, "internal error")
}

// passwordProblem says what is wrong with a new password given in field,
// "" if nothing: at least minPassword characters, at most
// maxPasswordBytes bytes.
func passwordProblem(field, password string) string {
	switch {
	case utf8.RuneCountInString(password) < minPassword:
		return field + " must be at least " + strconv.Itoa(minPassword) + " characters"
	case len(password) > maxPasswordBytes:
		return field + " must be at most " + strconv.Itoa(maxPasswordBytes) + " bytes (bcrypt reads no more)"
	}
	return ""
}

// clientIP is the address the request came from. The demo trusts no
// proxy header; behind a proxy, read the header your proxy sets (and only
// that proxy may set).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
