package mfahttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/identsphere/mfa"
)

// Security keys and passkeys (WebAuthn), when the Service has
// mfa.Config.WebAuthn: POST /webauthn/options starts an assertion, POST
// /factors with {"type": "webauthn"} a registration, and
// POST /factors/{id}/confirm finishes one. The options are the W3C JSON
// forms for PublicKeyCredential.parseCreationOptionsFromJSON and
// parseRequestOptionsFromJSON; responses are PublicKeyCredential.toJSON().

type ceremonyResponse struct {
	ID       string         `json:"id,omitempty"`
	Name     string         `json:"name,omitempty"`
	Type     string         `json:"type,omitempty"`
	Ceremony string         `json:"ceremony"`
	Options  jsontext.Value `json:"options"`
}

// keyOptions serves POST /webauthn/options: with the session and {}, an
// assertion for the signed-in user (verify, disable, regenerate, factor
// changes); without a session and with {"mfa_token": "…"}, one for the
// login challenge. A request with neither a session nor a live token is
// 401 before its body's shape is 400.
func (h *Handler) keyOptions(w http.ResponseWriter, r *http.Request) {
	// The body is read here (one byte more than decode allows, so that it
	// still refuses an oversized one) to be read twice.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "request body could not be read")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		MFAToken *string `json:"mfa_token"`
	}
	shapeErr := decode(w, r, &req, false)
	var c *mfa.KeyCeremony
	switch {
	case shapeErr == nil && req.MFAToken != nil:
		c, err = h.cfg.Service.BeginKeyLogin(h.requestContext(r), *req.MFAToken)
	case shapeErr != nil && h.carriesLiveToken(r, body):
		writeError(w, http.StatusBadRequest, CodeInvalidInput, shapeErr.Error())
		return
	default:
		ctx, userID, ok := h.begin(w, r)
		if !ok {
			return
		}
		if shapeErr != nil {
			writeError(w, http.StatusBadRequest, CodeInvalidInput, shapeErr.Error())
			return
		}
		c, err = h.cfg.Service.BeginKeyCheck(ctx, userID)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ceremonyResponse{Ceremony: c.Ceremony, Options: jsontext.Value(c.Options)})
}

// carriesLiveToken reports whether a body that failed the strict reading
// still names, read leniently, an mfa_token that is live: the service
// looks the token up and changes nothing (an unknown one is audited).
func (h *Handler) carriesLiveToken(r *http.Request, body []byte) bool {
	var lenient struct {
		MFAToken string `json:"mfa_token"`
	}
	if json.Unmarshal(body, &lenient) != nil || lenient.MFAToken == "" {
		return false
	}
	_, err := h.cfg.Service.Challenge(h.requestContext(r), lenient.MFAToken, mfa.Credential{})
	return !errors.Is(err, mfa.ErrInvalidTicket)
}

// addKey serves POST /factors with {"type": "webauthn", "name": "…"} and,
// when MFA is on, a credential: a pending security key and its creation
// options.
func (h *Handler) addKey(ctx context.Context, w http.ResponseWriter, r *http.Request, userID, name string, fields credentialFields) {
	var cred mfa.Credential
	if fields.Code != nil || fields.RecoveryCode != nil || fields.WebAuthn != nil {
		var err error
		if cred, err = fields.credential(); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	c, err := h.cfg.Service.BeginKeyRegistration(ctx, userID, name, cred)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ceremonyResponse{ID: c.FactorID, Name: c.Name, Type: mfa.FactorWebAuthn,
		Ceremony: c.Ceremony, Options: jsontext.Value(c.Options)})
}

// confirmKey serves POST /factors/{id}/confirm with {"ceremony": "…",
// "response": {…}}: the new key's registration response. For a first
// factor it turns MFA on and answers the recovery codes too.
func (h *Handler) confirmKey(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, a assertionField, withCode bool) {
	switch {
	case withCode:
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "give code, or ceremony and response, not both")
		return
	case a.Ceremony == "" || len(a.Response) == 0:
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "a security key's confirmation needs ceremony and response")
		return
	}
	f, codes, err := h.cfg.Service.FinishKeyRegistration(ctx, userID, r.PathValue("id"), mfa.Assertion{Ceremony: a.Ceremony, Response: json.RawMessage(a.Response)})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	change := Change{UserID: userID, Type: mfa.EventFactorAdded, FactorID: f.ID}
	if codes != nil {
		change = Change{UserID: userID, Type: mfa.EventEnabled}
	}
	h.changed(w, r, change)
	writeJSON(w, http.StatusOK, confirmResponse{ID: f.ID, Name: f.Name, Type: f.Type, CreatedAt: f.CreatedAt, RecoveryCodes: codes})
}
