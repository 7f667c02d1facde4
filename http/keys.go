package mfahttp

import (
	"context"
	"encoding/json"
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
	var req struct {
		MFAToken *string `json:"mfa_token"`
	}
	shapeErr := decode(w, r, &req, false)
	var c *mfa.KeyCeremony
	var err error
	switch {
	case shapeErr == nil && req.MFAToken != nil:
		c, err = h.cfg.Service.BeginKeyLogin(h.requestContext(r), *req.MFAToken)
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
