package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
)

// Sessions are rows of demo_sessions, keyed by the SHA-256 of their token,
// so that a copy of the table opens no session. Each records when it last
// verified MFA (mfa_verified_at), which RequireStepUp reads: the login
// challenge and POST /v1/auth/mfa/verify set it; a password-only login
// and enabling MFA on a session do not.

// sessionCookie is the name of the session cookie; the same token works as
// "Authorization: Bearer <token>".
const (
	sessionCookie = "identsphere_at"
	sessionTTL    = 12 * time.Hour
)

// startSession issues a session for userID, verified MFA at verifiedAt
// (zero for a login without MFA): the cookie, and the same token in the
// body for API clients.
func (a *app) startSession(w http.ResponseWriter, r *http.Request, userID string, verifiedAt time.Time) {
	token := randomToken()
	expires := a.now().Add(sessionTTL)
	_, err := a.db.ExecContext(r.Context(), a.db.Rebind(`INSERT INTO demo_sessions (token_hash, user_id, expires_at, mfa_verified_at) VALUES (?, ?, ?, ?)`),
		tokenHash(token), userID, expires.UnixMilli(), unixMilli(verifiedAt))
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.setSessionCookie(w, token, expires)
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "access_token": token})
}

// setSessionCookie sets the session cookie; an empty token clears it.
// Secure comes from the configuration (-secure), never from the request.
func (a *app) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	c := &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   a.secureCookies,
	}
	if token == "" {
		c.Expires, c.MaxAge = time.Time{}, -1
	}
	http.SetCookie(w, c)
}

// completeChallenge is mfahttp's CompleteLogin: the user passed the login
// challenge, so the new session has verified MFA at v.At.
func (a *app) completeChallenge(w http.ResponseWriter, r *http.Request, v mfa.Verification) {
	a.startSession(w, r, v.UserID, v.At)
}

// sessionUser resolves a session token for mfahttp.CookieOrBearer.
func (a *app) sessionUser(ctx context.Context, token string) (string, error) {
	var userID string
	err := a.db.GetContext(ctx, &userID, a.db.Rebind(`SELECT user_id FROM demo_sessions WHERE token_hash = ? AND expires_at > ?`),
		tokenHash(token), a.now().UnixMilli())
	if errors.Is(err, sql.ErrNoRows) {
		return "", mfahttp.ErrUnauthenticated
	}
	return userID, err
}

// steppedUp is mfahttp's SteppedUp: POST /verify succeeded, so the
// request's session has verified MFA at v.At.
func (a *app) steppedUp(w http.ResponseWriter, r *http.Request, v mfa.Verification) error {
	_, err := a.db.ExecContext(r.Context(), a.db.Rebind(`UPDATE demo_sessions SET mfa_verified_at = ? WHERE token_hash = ?`),
		unixMilli(v.At), tokenHash(sessionToken(r)))
	return err
}

// verifiedAt is mfahttp's VerifiedAt: when the request's session last
// verified MFA, the zero time if never.
func (a *app) verifiedAt(r *http.Request) (time.Time, error) {
	var ms int64
	err := a.db.GetContext(r.Context(), &ms, a.db.Rebind(`SELECT mfa_verified_at FROM demo_sessions WHERE token_hash = ?`), tokenHash(sessionToken(r)))
	switch {
	case errors.Is(err, sql.ErrNoRows), err == nil && ms == 0:
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// mfaChanged is mfahttp's OnChange: MFA was turned on or off, an
// authenticator added or removed, or the recovery codes replaced. Whoever
// holds another session of the user (perhaps the reason for the change)
// is signed out; the current session goes on.
func (a *app) mfaChanged(w http.ResponseWriter, r *http.Request, c mfahttp.Change) error {
	ended, err := a.endOtherSessions(r, c.UserID)
	if err == nil {
		a.logger.InfoContext(r.Context(), "ended the user's other sessions", "user_id", c.UserID, "change", string(c.Type), "sessions", ended)
	}
	return err
}

// endOtherSessions deletes every session of userID except the request's
// own, and returns how many it ended.
func (a *app) endOtherSessions(r *http.Request, userID string) (int64, error) {
	res, err := a.db.ExecContext(r.Context(), a.db.Rebind(`DELETE FROM demo_sessions WHERE user_id = ? AND token_hash <> ?`),
		userID, tokenHash(sessionToken(r)))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sessionToken returns the token of the session cookie or, without one,
// of an "Authorization: Bearer" header (the order of
// mfahttp.CookieOrBearer); "" when the request has neither.
func sessionToken(r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
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
