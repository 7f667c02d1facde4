// Package mfahttp adapts an mfa.Service to net/http: it decodes requests,
// calls the service and maps its errors to the HTTP contract's statuses and
// error codes. It holds no state of its own.
//
// Mount the handlers under any prefix, on a Go 1.22 http.ServeMux:
//
//	h, err := mfahttp.New(mfahttp.Config{Service: svc, Authenticate: auth})
//	…
//	h.Mount(mux, "/v1/auth/mfa")
//
// or behind http.StripPrefix (h is an http.Handler), or route each exported
// handler method yourself (chi, gorilla/mux):
//
//	r.Post("/v1/auth/mfa/enable", h.Enable)
//
// Every response is JSON. Errors are {"error": {"code", "message"}} with
// the codes invalid_input (400), authentication_required (401), not_found
// (404), conflict (409), rate_limited (429, with Retry-After) and
// internal_error (500); a message never contains a secret, a code or the
// text of an internal error, which goes to Config.OnError instead.
package mfahttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/identsphere/mfa"
)

// ErrUnauthenticated is what an Authenticator returns, wrapped or not, when
// a request carries no valid credential: the handler answers 401.
var ErrUnauthenticated = errors.New("mfahttp: no valid credential")

// Authenticator returns the ID of the user a request is authenticated as.
// It returns an error wrapping ErrUnauthenticated when the request carries
// no valid credential (401), one wrapping mfa.ErrUserNotFound when the
// credential is valid but its user no longer exists (404), and any other
// error when it cannot tell (500, logged).
type Authenticator func(r *http.Request) (userID string, err error)

// CookieOrBearer returns an Authenticator that takes the session token from
// the cookie named cookieName or, when there is no such cookie, from an
// "Authorization: Bearer <token>" header, and asks resolve for its user.
// resolve returns an error wrapping ErrUnauthenticated for an unknown or
// expired token.
func CookieOrBearer(cookieName string, resolve func(ctx context.Context, token string) (userID string, err error)) Authenticator {
	return func(r *http.Request) (string, error) {
		token := SessionToken(r, cookieName)
		if token == "" {
			return "", ErrUnauthenticated
		}
		return resolve(r.Context(), token)
	}
}

// SessionToken returns the token of the cookie named cookieName or, when
// there is no such cookie, of an "Authorization: Bearer <token>" header;
// "" when the request carries neither.
func SessionToken(r *http.Request, cookieName string) string {
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// Config configures a Handler.
type Config struct {
	// Service is the MFA service. Required.
	Service *mfa.Service
	// Authenticate identifies the user of the endpoints that need a
	// session. Required.
	Authenticate Authenticator
	// OnError receives every error answered with status 500, with its
	// internal text, for the host's logs. Nil means logging it with Logger
	// at level Error.
	OnError func(r *http.Request, err error)
	// Logger is used when OnError is nil. Nil means slog.Default().
	Logger *slog.Logger
	// ClientIP returns the client address recorded in audit events. Nil
	// means the host part of r.RemoteAddr; behind a proxy, supply a func that
	// reads the header your proxy sets.
	ClientIP func(r *http.Request) string
	// CompleteLogin is called when POST /challenge succeeds, with the user
	// who passed: it issues the session and writes the whole response, for
	// example setting a cookie and answering
	// 200 {"status": "ok", "access_token": "…"} (WriteJSON helps). It runs
	// after the token and the code were used up. Nil means the handler
	// does not serve /challenge.
	CompleteLogin func(w http.ResponseWriter, r *http.Request, userID string)
}

// Handler serves the MFA endpoints. It is an http.Handler that routes the
// paths "/", "/setup", "/enable", "/challenge", "/disable" and
// "/recovery-codes" (use it behind http.StripPrefix), and each endpoint is
// also a method to route yourself.
type Handler struct {
	svc      *mfa.Service
	auth     Authenticator
	login    func(w http.ResponseWriter, r *http.Request, userID string)
	onError  func(r *http.Request, err error)
	clientIP func(r *http.Request) string
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("mfahttp: config: Service is required")
	}
	if cfg.Authenticate == nil {
		return nil, errors.New("mfahttp: config: Authenticate is required")
	}
	h := &Handler{svc: cfg.Service, auth: cfg.Authenticate, login: cfg.CompleteLogin, onError: cfg.OnError, clientIP: cfg.ClientIP}
	if h.onError == nil {
		logger := cfg.Logger
		if logger == nil {
			logger = slog.Default()
		}
		h.onError = func(r *http.Request, err error) {
			logger.ErrorContext(r.Context(), "mfahttp: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	if h.clientIP == nil {
		h.clientIP = remoteIP
	}
	return h, nil
}

// Mount registers the endpoints on mux under prefix (such as
// "/v1/auth/mfa"; empty for the root): GET prefix and prefix/, and POST
// prefix/setup, /enable, /challenge, /disable and /recovery-codes. Any
// other path under prefix/ gets a JSON 404, and a wrong method a JSON 405.
func (h *Handler) Mount(mux *http.ServeMux, prefix string) {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		mux.Handle("/", h)
		return
	}
	stripped := http.StripPrefix(prefix, h)
	mux.Handle(prefix, stripped)
	mux.Handle(prefix+"/", stripped)
}

// ServeHTTP routes a request whose path has had the mount prefix removed.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var handler http.HandlerFunc
	method := http.MethodPost
	switch r.URL.Path {
	case "", "/":
		handler, method = h.Status, http.MethodGet
	case "/setup":
		handler = h.Setup
	case "/enable":
		handler = h.Enable
	case "/challenge":
		if h.login != nil {
			handler = h.Challenge
		}
	case "/disable":
		handler = h.Disable
	case "/recovery-codes":
		handler = h.RegenerateRecoveryCodes
	}
	if handler == nil {
		WriteError(w, http.StatusNotFound, CodeNotFound, "no such endpoint")
		return
	}
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", method)
		WriteError(w, http.StatusMethodNotAllowed, CodeInvalidInput, "method not allowed")
		return
	}
	handler(w, r)
}

// Status serves GET /: {"mfa_enabled": bool, "recovery_codes_remaining": n}.
func (h *Handler) Status(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	st, err := h.svc.Status(ctx, userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body := make([]byte, 0, 64)
	body = append(body, `{"mfa_enabled":`...)
	body = strconv.AppendBool(body, st.Enabled)
	body = append(body, `,"recovery_codes_remaining":`...)
	body = strconv.AppendInt(body, int64(st.RecoveryCodesRemaining), 10)
	body = append(body, "}\n"...)
	writeBody(w, http.StatusOK, body)
}

type setupResponse struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	QRCode     string `json:"qr_code"`
}

// Setup serves POST /setup: it mints a pending secret and answers
// {"secret", "otpauth_url", "qr_code"} (the QR code as a data: URL). The
// body may be empty or {}.
func (h *Handler) Setup(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	var body struct{}
	if !h.decode(w, r, &body, true) {
		return
	}
	enr, err := h.svc.Setup(ctx, userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, setupResponse{Secret: enr.Secret, OTPAuthURL: enr.URI, QRCode: enr.QRCodeDataURL()})
}

type codeRequest struct {
	Code *string `json:"code"`
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// Enable serves POST /enable with {"code": "123456"}: it confirms the
// pending secret and answers {"recovery_codes": [...]}, shown once.
func (h *Handler) Enable(w http.ResponseWriter, r *http.Request) {
	h.issueCodes(w, r, h.svc.Enable)
}

// issueCodes serves the endpoints that take {"code"} from a signed-in user
// and answer with a new batch of recovery codes.
func (h *Handler) issueCodes(w http.ResponseWriter, r *http.Request, issue func(ctx context.Context, userID, code string) ([]string, error)) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	var req codeRequest
	if !h.decode(w, r, &req, false) {
		return
	}
	if req.Code == nil {
		WriteError(w, http.StatusBadRequest, CodeInvalidInput, "code is required")
		return
	}
	codes, err := issue(ctx, userID, *req.Code)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, recoveryCodesResponse{RecoveryCodes: codes})
}

type challengeRequest struct {
	MFAToken     *string `json:"mfa_token"`
	Code         string  `json:"code"`
	RecoveryCode string  `json:"recovery_code"`
}

// Challenge serves POST /challenge, which needs no session:
// {"mfa_token": "…", "code": "123456"} or
// {"mfa_token": "…", "recovery_code": "…"}. On success it calls
// Config.CompleteLogin, which writes the response.
func (h *Handler) Challenge(w http.ResponseWriter, r *http.Request) {
	if h.login == nil {
		WriteError(w, http.StatusNotFound, CodeNotFound, "no such endpoint")
		return
	}
	var req challengeRequest
	if !h.decode(w, r, &req, false) {
		return
	}
	if req.MFAToken == nil {
		WriteError(w, http.StatusBadRequest, CodeInvalidInput, "mfa_token is required")
		return
	}
	userID, err := h.svc.Challenge(h.requestContext(r), *req.MFAToken, mfa.Credential{Code: req.Code, RecoveryCode: req.RecoveryCode})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.login(w, r, userID)
}

type credentialRequest struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

type disableResponse struct {
	MFAEnabled bool `json:"mfa_enabled"`
}

// Disable serves POST /disable with {"code": "…"} or
// {"recovery_code": "…"}: it turns MFA off and answers
// {"mfa_enabled": false}.
func (h *Handler) Disable(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	var req credentialRequest
	if !h.decode(w, r, &req, false) {
		return
	}
	if err := h.svc.Disable(ctx, userID, mfa.Credential{Code: req.Code, RecoveryCode: req.RecoveryCode}); err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, disableResponse{MFAEnabled: false})
}

// RegenerateRecoveryCodes serves POST /recovery-codes with
// {"code": "123456"}: it replaces the recovery codes and answers
// {"recovery_codes": [...]}, shown once.
func (h *Handler) RegenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	h.issueCodes(w, r, h.svc.RegenerateRecoveryCodes)
}

// requestContext returns the request's context carrying its metadata for
// audit events.
func (h *Handler) requestContext(r *http.Request) context.Context {
	return mfa.WithRequestInfo(r.Context(), mfa.RequestInfo{IP: h.clientIP(r), UserAgent: r.UserAgent()})
}

// begin authenticates the request and returns a context carrying its
// metadata for audit events. On failure it has written the response.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) (context.Context, string, bool) {
	userID, err := h.auth(r)
	switch {
	case err == nil && userID != "":
	case err == nil, errors.Is(err, ErrUnauthenticated):
		WriteError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "authentication required")
		return nil, "", false
	default:
		h.fail(w, r, err)
		return nil, "", false
	}
	return h.requestContext(r), userID, true
}

func (h *Handler) decode(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) bool {
	err := DecodeJSON(w, r, dst, allowEmpty)
	if err == nil {
		return true
	}
	var be *BodyError
	if errors.As(err, &be) {
		WriteError(w, http.StatusBadRequest, CodeInvalidInput, be.Message)
	} else {
		h.fail(w, r, err)
	}
	return false
}

// fail maps an error to the contract's status and code and writes it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var input *mfa.InputError
	var limited *mfa.RateLimitError
	switch {
	case errors.As(err, &input):
		WriteError(w, http.StatusBadRequest, CodeInvalidInput, strings.ReplaceAll(input.Field, "_", " ")+" "+input.Problem)
	case errors.Is(err, mfa.ErrInvalidInput):
		WriteError(w, http.StatusBadRequest, CodeInvalidInput, "invalid input")
	case errors.Is(err, mfa.ErrSetupNotStarted):
		WriteError(w, http.StatusBadRequest, CodeInvalidInput, "MFA setup has not been started")
	case errors.Is(err, mfa.ErrInvalidCode):
		WriteError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "invalid code")
	case errors.Is(err, mfa.ErrInvalidTicket):
		WriteError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "invalid or expired mfa_token")
	case errors.Is(err, mfa.ErrUserNotFound):
		WriteError(w, http.StatusNotFound, CodeNotFound, "user not found")
	case errors.Is(err, mfa.ErrAlreadyEnabled):
		WriteError(w, http.StatusConflict, CodeConflict, "MFA is already enabled")
	case errors.Is(err, mfa.ErrNotEnabled):
		WriteError(w, http.StatusConflict, CodeConflict, "MFA is not enabled")
	case errors.As(err, &limited):
		secs := int64((limited.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		WriteError(w, http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("too many failed attempts; retry in %d seconds", max(secs, 1)))
	default:
		h.onError(r, err)
		WriteError(w, http.StatusInternalServerError, CodeInternalError, "internal error")
	}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
