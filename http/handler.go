// Package mfahttp adapts an mfa.Service to net/http: it decodes requests,
// calls the service and maps its errors to the HTTP contract's statuses and
// error codes (docs/openapi.yaml). It holds no state of its own.
//
// Mount the endpoints under any prefix, on a Go 1.22 http.ServeMux:
//
//	h, err := mfahttp.New(mfahttp.Config{Service: svc, Authenticate: auth})
//	…
//	h.Mount(mux, "/v1/auth/mfa")
//
// or behind http.StripPrefix on any router (h is an http.Handler). Protect
// the host's own sensitive routes with RequireStepUp.
//
// Every response is JSON. Errors are {"error": {"code", "message"}} with
// the Code… constants; a message never contains a secret, a code or the
// text of an internal error, which goes to Config.OnError instead.
package mfahttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

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
		token := ""
		if c, err := r.Cookie(cookieName); err == nil {
			token = c.Value
		} else if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
			token = strings.TrimSpace(auth[7:])
		}
		if token == "" {
			return "", ErrUnauthenticated
		}
		return resolve(r.Context(), token)
	}
}

// Change is an MFA change of a user, for Config.OnChange.
type Change struct {
	UserID string
	// Type is mfa.EventEnabled, mfa.EventDisabled, mfa.EventFactorAdded,
	// mfa.EventFactorRemoved or mfa.EventRecoveryCodesRegenerated.
	Type mfa.EventType
	// FactorID is the factor added or removed; empty otherwise.
	FactorID string
}

// Config configures a Handler. Service and Authenticate are required; each
// hook documents what nil means.
type Config struct {
	// Service is the MFA service. Required.
	Service *mfa.Service
	// Authenticate identifies the user of the endpoints that need a
	// session. Required.
	Authenticate Authenticator

	// CompleteLogin is called when POST /challenge succeeds: it issues the
	// session for v.UserID and writes the whole response, for example
	// setting a cookie and answering 200 {"status": "ok", "access_token":
	// "…"}. It runs after the token and the credential were used up; v.At
	// is the time of the MFA verification, to record in the session for
	// RequireStepUp. Nil means the handler does not serve /challenge.
	CompleteLogin func(w http.ResponseWriter, r *http.Request, v mfa.Verification)
	// SteppedUp is called when POST /verify succeeds, before the handler
	// answers {"verified_at": …}: it records v.At in the request's session,
	// where VerifiedAt reads it. An error is answered with 500. Nil means
	// /verify records nothing.
	SteppedUp func(w http.ResponseWriter, r *http.Request, v mfa.Verification) error
	// VerifiedAt returns when the request's session last verified MFA (the
	// login challenge or POST /verify); the zero time if never. Required by
	// RequireStepUp.
	VerifiedAt func(r *http.Request) (time.Time, error)
	// OnChange is called synchronously when a user's MFA changes through
	// the handler (enabled, disabled, an authenticator added or removed,
	// recovery codes regenerated), after the change and before the
	// response: a host ends the user's other sessions here. The current
	// request's session may go on; a host that rotates its token sets the
	// new one on w. An error goes to OnError and the response still reports
	// the change, which has happened. Nil means nothing is called.
	OnChange func(w http.ResponseWriter, r *http.Request, c Change) error

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
}

// Handler serves the MFA endpoints. It is an http.Handler that routes the
// paths "/", "/setup", "/enable", "/challenge", "/disable",
// "/recovery-codes", "/verify", "/factors", "/factors/{id}",
// "/factors/{id}/confirm" and "/webauthn/options" below its mount point
// (use it behind http.StripPrefix, or Mount it).
type Handler struct {
	cfg Config
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("mfahttp: config: Service is required")
	}
	if cfg.Authenticate == nil {
		return nil, errors.New("mfahttp: config: Authenticate is required")
	}
	if cfg.OnError == nil {
		logger := cfg.Logger
		if logger == nil {
			logger = slog.Default()
		}
		cfg.OnError = func(r *http.Request, err error) {
			logger.ErrorContext(r.Context(), "mfahttp: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteIP
	}
	return &Handler{cfg: cfg}, nil
}

// Mount registers the endpoints on mux under prefix (such as
// "/v1/auth/mfa"; empty for the root). Any other path under prefix/ gets a
// JSON 404, and a wrong method a JSON 405 with Allow.
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
	rt, ok := h.route(r)
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint")
		return
	}
	var handler http.HandlerFunc
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		handler = rt.get
	case http.MethodPost:
		handler = rt.post
	case http.MethodDelete:
		handler = rt.delete
	}
	if handler == nil {
		allow := rt.allow()
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" is not allowed here; use "+strings.Join(allow, " or "))
		return
	}
	handler(w, r)
}

// route holds the handlers of one path, by method.
type route struct {
	get, post, delete http.HandlerFunc
}

// allow lists the methods the route serves.
func (rt route) allow() []string {
	var methods []string
	for _, m := range []struct {
		name string
		h    http.HandlerFunc
	}{{http.MethodDelete, rt.delete}, {http.MethodGet, rt.get}, {http.MethodPost, rt.post}} {
		if m.h != nil {
			methods = append(methods, m.name)
		}
	}
	return methods
}

// route returns the handlers of the request's path; false for an unknown
// path. A factor ID in the path is set as the path value "id".
func (h *Handler) route(r *http.Request) (route, bool) {
	switch path := r.URL.Path; path {
	case "", "/":
		return route{get: h.status}, true
	case "/setup":
		return route{post: h.setup}, true
	case "/enable":
		return route{post: h.enable}, true
	case "/challenge":
		return route{post: h.challenge}, h.cfg.CompleteLogin != nil
	case "/disable":
		return route{post: h.disable}, true
	case "/recovery-codes":
		return route{post: h.regenerate}, true
	case "/verify":
		return route{post: h.verify}, true
	case "/factors":
		return route{get: h.listFactors, post: h.addFactor}, true
	case "/webauthn/options":
		return route{post: h.keyOptions}, true
	default:
		rest, ok := strings.CutPrefix(path, "/factors/")
		id, confirm := strings.CutSuffix(rest, "/confirm")
		if !ok || id == "" || strings.Contains(id, "/") {
			return route{}, false
		}
		r.SetPathValue("id", id)
		if confirm {
			return route{post: h.confirmFactor}, true
		}
		return route{delete: h.removeFactor}, true
	}
}

// credentialFields are the members of a request that carry a credential.
type credentialFields struct {
	Code         *string         `json:"code"`
	RecoveryCode *string         `json:"recovery_code"`
	WebAuthn     *assertionField `json:"webauthn"`
}

// assertionField is a security key's response: {"ceremony", "response"}.
type assertionField struct {
	Ceremony string         `json:"ceremony"`
	Response jsontext.Value `json:"response"`
}

// credential returns the credential of a request that needs one.
func (c credentialFields) credential() (mfa.Credential, error) {
	given := 0
	for _, g := range []bool{c.Code != nil, c.RecoveryCode != nil, c.WebAuthn != nil} {
		if g {
			given++
		}
	}
	switch {
	case given > 1 && c.WebAuthn == nil:
		return mfa.Credential{}, errBody("give code or recovery_code, not both")
	case given > 1:
		return mfa.Credential{}, errBody("give one of code, recovery_code and webauthn, not several")
	case c.RecoveryCode != nil && strings.TrimSpace(*c.RecoveryCode) == "":
		return mfa.Credential{}, errBody(fmt.Sprintf("recovery_code must be %d letters and digits", mfa.RecoveryCodeLength))
	case c.RecoveryCode != nil:
		return mfa.Credential{RecoveryCode: *c.RecoveryCode}, nil
	case c.Code != nil:
		return mfa.Credential{Code: *c.Code}, nil
	case c.WebAuthn != nil && (c.WebAuthn.Ceremony == "" || len(c.WebAuthn.Response) == 0):
		return mfa.Credential{}, errBody("webauthn needs ceremony and response")
	case c.WebAuthn != nil:
		return mfa.Credential{WebAuthn: &mfa.Assertion{Ceremony: c.WebAuthn.Ceremony, Response: json.RawMessage(c.WebAuthn.Response)}}, nil
	}
	return mfa.Credential{}, errBody("give code or recovery_code")
}

type codeRequest struct {
	Code *string `json:"code"`
}

// code returns the TOTP code of a request that needs one.
func (c codeRequest) code() (string, error) {
	if c.Code == nil {
		return "", errBody("code is required")
	}
	return *c.Code, nil
}

type statusResponse struct {
	MFAEnabled             bool `json:"mfa_enabled"`
	RecoveryCodesRemaining int  `json:"recovery_codes_remaining"`
	Factors                int  `json:"factors"`
}

// status serves GET /.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	st, err := h.cfg.Service.Status(ctx, userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusResponse{MFAEnabled: st.Enabled, RecoveryCodesRemaining: st.RecoveryCodesRemaining, Factors: len(st.Factors)})
}

type setupResponse struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	QRCode     string `json:"qr_code"`
}

// setup serves POST /setup, whose body may be empty, {} or {"name": "…"}.
func (h *Handler) setup(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	var req struct {
		Name *string `json:"name"`
	}
	if !h.decode(w, r, &req, true) {
		return
	}
	name := mfa.DefaultFactorName
	if req.Name != nil {
		if name = *req.Name; name == "" {
			writeError(w, http.StatusBadRequest, CodeInvalidInput, fmt.Sprintf("name must be 1 to %d characters", mfa.MaxFactorNameLength))
			return
		}
	}
	enr, err := h.cfg.Service.Setup(ctx, userID, name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, setupResponse{Secret: enr.Secret, OTPAuthURL: enr.URI, QRCode: enr.QRCodeDataURL()})
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// enable serves POST /enable with {"code": "123456"}.
func (h *Handler) enable(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	var req codeRequest
	if !h.decode(w, r, &req, false) {
		return
	}
	code, err := req.code()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	codes, err := h.cfg.Service.Enable(ctx, userID, code)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.changed(w, r, Change{UserID: userID, Type: mfa.EventEnabled})
	writeJSON(w, http.StatusOK, recoveryCodesResponse{RecoveryCodes: codes})
}

// challenge serves POST /challenge, which needs no session:
// {"mfa_token": "…", "code": "…"} or {"mfa_token": "…", "recovery_code":
// "…"}. On success Config.CompleteLogin writes the response.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MFAToken *string `json:"mfa_token"`
		credentialFields
	}
	if !h.decode(w, r, &req, false) {
		return
	}
	if req.MFAToken == nil {
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "mfa_token is required")
		return
	}
	// A token that is unknown or expired answers before a credential of the
	// wrong shape: with the empty credential that credential() returns
	// then, the service only looks the token up and changes nothing.
	cred, shapeErr := req.credential()
	v, err := h.cfg.Service.Challenge(h.requestContext(r), *req.MFAToken, cred)
	if shapeErr != nil && !errors.Is(err, mfa.ErrInvalidTicket) {
		err = shapeErr
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.cfg.CompleteLogin(w, r, v)
}

type enabledResponse struct {
	MFAEnabled bool `json:"mfa_enabled"`
}

// disable serves POST /disable with {"code": "…"} or {"recovery_code":
// "…"}.
func (h *Handler) disable(w http.ResponseWriter, r *http.Request) {
	ctx, userID, cred, ok := h.beginCheck(w, r)
	if !ok {
		return
	}
	if err := h.cfg.Service.Disable(ctx, userID, cred); err != nil {
		h.fail(w, r, err)
		return
	}
	h.changed(w, r, Change{UserID: userID, Type: mfa.EventDisabled})
	writeJSON(w, http.StatusOK, enabledResponse{MFAEnabled: false})
}

// regenerate serves POST /recovery-codes with {"code": "123456"} (or a
// security key's {"webauthn": …}; not a recovery code).
func (h *Handler) regenerate(w http.ResponseWriter, r *http.Request) {
	ctx, userID, cred, ok := h.beginCheck(w, r)
	if !ok {
		return
	}
	codes, err := h.cfg.Service.RegenerateRecoveryCodes(ctx, userID, cred)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.changed(w, r, Change{UserID: userID, Type: mfa.EventRecoveryCodesRegenerated})
	writeJSON(w, http.StatusOK, recoveryCodesResponse{RecoveryCodes: codes})
}

type factorResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func newFactorResponse(f mfa.FactorInfo) factorResponse {
	resp := factorResponse{ID: f.ID, Name: f.Name, Type: f.Type, CreatedAt: f.CreatedAt}
	if !f.LastUsedAt.IsZero() {
		resp.LastUsedAt = &f.LastUsedAt
	}
	return resp
}

// listFactors serves GET /factors: the active authenticators, oldest
// first.
func (h *Handler) listFactors(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	st, err := h.cfg.Service.Status(ctx, userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := struct {
		Factors []factorResponse `json:"factors"`
	}{Factors: []factorResponse{}}
	for _, f := range st.Factors {
		resp.Factors = append(resp.Factors, newFactorResponse(f))
	}
	writeJSON(w, http.StatusOK, resp)
}

type addFactorResponse struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	setupResponse
}

// addFactor serves POST /factors with {"name": "…", "code": "…"} or
// {"name": "…", "recovery_code": "…"}: a pending authenticator.
func (h *Handler) addFactor(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	var req struct {
		Name *string `json:"name"`
		Type string  `json:"type"`
		credentialFields
	}
	if !h.decode(w, r, &req, false) {
		return
	}
	switch {
	case req.Name == nil:
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "name is required")
		return
	case req.Type == mfa.FactorWebAuthn:
		h.addKey(ctx, w, r, userID, *req.Name, req.credentialFields)
		return
	case req.Type != "" && req.Type != mfa.FactorTOTP:
		writeError(w, http.StatusBadRequest, CodeInvalidInput, `type must be "totp" or "webauthn"`)
		return
	}
	cred, err := req.credential()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	enr, err := h.cfg.Service.AddFactor(ctx, userID, *req.Name, cred)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, addFactorResponse{ID: enr.FactorID, Name: enr.Name,
		setupResponse: setupResponse{Secret: enr.Secret, OTPAuthURL: enr.URI, QRCode: enr.QRCodeDataURL()}})
}

// confirmFactor serves POST /factors/{id}/confirm with {"code": "…"} from
// the new authenticator, or {"ceremony": "…", "response": {…}} from the
// new security key.
func (h *Handler) confirmFactor(w http.ResponseWriter, r *http.Request) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return
	}
	var req struct {
		codeRequest
		assertionField
	}
	if !h.decode(w, r, &req, false) {
		return
	}
	if req.Ceremony != "" || len(req.Response) > 0 {
		h.confirmKey(ctx, w, r, userID, req.assertionField, req.Code != nil)
		return
	}
	code, err := req.code()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f, err := h.cfg.Service.ConfirmFactor(ctx, userID, r.PathValue("id"), code)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.changed(w, r, Change{UserID: userID, Type: mfa.EventFactorAdded, FactorID: f.ID})
	writeJSON(w, http.StatusOK, confirmResponse{ID: f.ID, Name: f.Name, Type: f.Type, CreatedAt: f.CreatedAt})
}

// confirmResponse answers a confirmation; a first factor (a security key
// of a user without MFA) brings the recovery codes.
type confirmResponse struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	CreatedAt     time.Time `json:"created_at"`
	RecoveryCodes []string  `json:"recovery_codes,omitempty"`
}

// removeFactor serves DELETE /factors/{id} with {"code": "…"} or
// {"recovery_code": "…"}.
func (h *Handler) removeFactor(w http.ResponseWriter, r *http.Request) {
	ctx, userID, cred, ok := h.beginCheck(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	enabled, err := h.cfg.Service.RemoveFactor(ctx, userID, id, cred)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	change := Change{UserID: userID, Type: mfa.EventFactorRemoved, FactorID: id}
	if !enabled {
		change = Change{UserID: userID, Type: mfa.EventDisabled}
	}
	h.changed(w, r, change)
	writeJSON(w, http.StatusOK, enabledResponse{MFAEnabled: enabled})
}

// changed tells the host about a change, through Config.OnChange.
func (h *Handler) changed(w http.ResponseWriter, r *http.Request, c Change) {
	if h.cfg.OnChange == nil {
		return
	}
	if err := h.cfg.OnChange(w, r, c); err != nil {
		h.cfg.OnError(r, fmt.Errorf("mfahttp: OnChange(%s): %w", c.Type, err))
	}
}

// requestContext returns the request's context carrying its metadata for
// audit events.
func (h *Handler) requestContext(r *http.Request) context.Context {
	return mfa.WithRequestInfo(r.Context(), mfa.RequestInfo{IP: h.cfg.ClientIP(r), UserAgent: r.UserAgent()})
}

// begin authenticates the request and returns a context carrying its
// metadata for audit events. On failure it has written the response.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) (context.Context, string, bool) {
	userID, err := h.cfg.Authenticate(r)
	switch {
	case err == nil && userID != "":
	case err == nil, errors.Is(err, ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "authentication required")
		return nil, "", false
	default:
		h.fail(w, r, err)
		return nil, "", false
	}
	return h.requestContext(r), userID, true
}

// beginCheck authenticates the request and reads the credential of its
// body. On failure it has written the response.
func (h *Handler) beginCheck(w http.ResponseWriter, r *http.Request) (context.Context, string, mfa.Credential, bool) {
	ctx, userID, ok := h.begin(w, r)
	if !ok {
		return nil, "", mfa.Credential{}, false
	}
	var req credentialFields
	if !h.decode(w, r, &req, false) {
		return nil, "", mfa.Credential{}, false
	}
	cred, err := req.credential()
	if err != nil {
		h.fail(w, r, err)
		return nil, "", mfa.Credential{}, false
	}
	return ctx, userID, cred, true
}

// decode decodes the request body into dst, answering 400 when it is
// refused.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) bool {
	if err := decode(w, r, dst, allowEmpty); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidInput, err.Error())
		return false
	}
	return true
}

// fail maps an error to the contract's status and code and writes it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var input *mfa.InputError
	var limited *mfa.RateLimitError
	var body errBody
	switch {
	case errors.As(err, &body):
		writeError(w, http.StatusBadRequest, CodeInvalidInput, string(body))
	case errors.As(err, &input):
		writeError(w, http.StatusBadRequest, CodeInvalidInput, input.Problem)
	case errors.Is(err, mfa.ErrInvalidInput):
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "invalid input")
	case errors.Is(err, mfa.ErrSetupNotStarted):
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "MFA setup has not been started: call setup first")
	case errors.As(err, &limited) && limited.Permanent:
		writeError(w, http.StatusTooManyRequests, CodeRateLimited, "too many failed attempts: this account is locked until support unlocks it")
	case errors.As(err, &limited):
		secs := strconv.FormatInt(max(int64((limited.RetryAfter+time.Second-1)/time.Second), 1), 10)
		w.Header().Set("Retry-After", secs)
		writeError(w, http.StatusTooManyRequests, CodeRateLimited, "too many failed attempts; retry in "+secs+" seconds")
	case errors.Is(err, mfa.ErrReplay):
		writeError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "this code was already used; wait for the next one")
	case errors.Is(err, mfa.ErrCloneSuspected):
		writeError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "this security key's signature counter went backwards; it may have been cloned")
	case errors.Is(err, mfa.ErrInvalidCeremony):
		writeError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "the security key ceremony is unknown, expired or used; start again")
	case errors.Is(err, mfa.ErrInvalidCode):
		writeError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "invalid code or security key response")
	case errors.Is(err, mfa.ErrInvalidTicket):
		writeError(w, http.StatusUnauthorized, CodeAuthenticationRequired, "invalid or expired mfa_token")
	case errors.Is(err, mfa.ErrUserNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, "user not found")
	case errors.Is(err, mfa.ErrFactorNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, "no such authenticator")
	case errors.Is(err, mfa.ErrAlreadyEnabled):
		writeError(w, http.StatusConflict, CodeConflict, "MFA is already enabled")
	case errors.Is(err, mfa.ErrNotEnabled):
		writeError(w, http.StatusConflict, CodeConflict, "MFA is not enabled")
	case errors.Is(err, mfa.ErrTooManyFactors):
		writeError(w, http.StatusConflict, CodeConflict, "the maximum number of authenticators is reached; remove one first")
	case errors.Is(err, mfa.ErrCredentialInUse):
		writeError(w, http.StatusConflict, CodeConflict, "this security key is registered already")
	default:
		h.cfg.OnError(r, err)
		writeError(w, http.StatusInternalServerError, CodeInternalError, "internal error")
	}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
