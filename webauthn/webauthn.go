// Package mfawebauthn adds security keys and passkeys (WebAuthn) to
// github.com/identsphere/mfa as a second factor: it is the mfa.WebAuthn a
// Service takes in mfa.Config.WebAuthn, built on
// github.com/go-webauthn/webauthn, which runs the ceremonies (CBOR,
// attestation, signatures). It lives in a module of its own so that a host
// that uses only authenticator apps does not compile go-webauthn or get its
// dependencies in its module graph.
//
//	wa, err := mfawebauthn.New(mfawebauthn.Config{
//		RPID:          "example.com",
//		RPDisplayName: "Example",
//		Origins:       []string{"https://example.com"},
//	})
//	svc, err := mfa.New(mfa.Config{…, WebAuthn: wa})
//
// Attestation is not asked for ("none") and user verification is
// "preferred": a key is a second factor after the password. The Service
// keeps the ceremony state in its Store and uses it up on the finish, and
// refuses a signature counter that did not grow; go-webauthn itself would
// accept a replayed assertion and only flag a counter that went back.
package mfawebauthn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/identsphere/mfa"
)

// Config is the relying party. Every field is required.
type Config struct {
	// RPID is the relying party ID: the site's domain ("example.com"), or
	// "localhost". An IP address cannot be one.
	RPID string
	// RPDisplayName names the site in the browser's and the key's
	// prompts.
	RPDisplayName string
	// Origins are the origins the pages run on, scheme, host and port
	// ("https://example.com", "http://localhost:8080"); each host is the
	// RP ID or a subdomain of it. An origin is compared exactly, port
	// included: a page on http://localhost:8080 is refused when only
	// http://localhost is listed. A default port (443 for https, 80 for
	// http) is written without it.
	Origins []string
}

// WebAuthn implements mfa.WebAuthn. It is safe for concurrent use.
type WebAuthn struct {
	wa *webauthn.WebAuthn
}

var _ mfa.WebAuthn = (*WebAuthn)(nil)

// New validates cfg and returns a WebAuthn.
func New(cfg Config) (*WebAuthn, error) {
	switch {
	case cfg.RPID == "" || strings.ContainsAny(cfg.RPID, ":/ ") || cfg.RPID != strings.ToLower(cfg.RPID):
		return nil, errors.New("mfawebauthn: config: RPID must be a lower-case domain such as example.com or localhost")
	case net.ParseIP(cfg.RPID) != nil:
		return nil, errors.New("mfawebauthn: config: RPID may not be an IP address (serve the pages on a domain, or localhost)")
	case cfg.RPDisplayName == "":
		return nil, errors.New("mfawebauthn: config: RPDisplayName is required")
	case len(cfg.Origins) == 0:
		return nil, errors.New("mfawebauthn: config: Origins is required")
	}
	origins := make([]string, len(cfg.Origins))
	for i, o := range cfg.Origins {
		var err error
		if origins[i], err = origin(o, cfg.RPID); err != nil {
			return nil, err
		}
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPDisplayName,
		RPOrigins:             origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			UserVerification: protocol.VerificationPreferred,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mfawebauthn: config: %w", err)
	}
	return &WebAuthn{wa: wa}, nil
}

// origin checks one configured origin and returns it in its canonical
// form: scheme://host[:port], a default port left out.
func origin(o, rpID string) (string, error) {
	u, err := url.Parse(o)
	switch {
	case err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("mfawebauthn: config: origin %q: want scheme://host[:port], nothing after", o)
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("mfawebauthn: config: origin %q: the scheme must be https (or http)", o)
	}
	host := strings.ToLower(u.Hostname())
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", fmt.Errorf("mfawebauthn: config: origin %q: its host is not %s or a subdomain of it", o, rpID)
	}
	port := u.Port()
	if u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80" {
		port = ""
	}
	if port == "" {
		return u.Scheme + "://" + host, nil
	}
	return u.Scheme + "://" + net.JoinHostPort(host, port), nil
}

// record is what a factor keeps of its key (mfa.Factor.Secret): what
// go-webauthn needs to check an assertion besides the credential ID and
// the signature counter, which the factor keeps in columns of their own.
type record struct {
	PublicKey         []byte   `json:"public_key"`
	Flags             byte     `json:"flags"` // the authenticator data's flags, as their raw byte
	AAGUID            []byte   `json:"aaguid,omitempty"`
	Transports        []string `json:"transports,omitempty"`
	AttestationType   string   `json:"attestation_type,omitempty"`
	AttestationFormat string   `json:"attestation_format,omitempty"`
}

// user adapts an mfa.KeyUser and its keys to go-webauthn.
type user struct {
	mfa.KeyUser
	credentials []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return u.Handle }
func (u user) WebAuthnName() string                       { return u.Name }
func (u user) WebAuthnDisplayName() string                { return u.Name }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

// newUser returns the go-webauthn user with keys as its credentials.
func newUser(u mfa.KeyUser, keys []mfa.Factor) (user, error) {
	out := user{KeyUser: u}
	for _, f := range keys {
		var r record
		if err := json.Unmarshal(f.Secret, &r); err != nil {
			return user{}, fmt.Errorf("mfawebauthn: key of factor %s: %w", f.ID, err)
		}
		transports := make([]protocol.AuthenticatorTransport, len(r.Transports))
		for i, t := range r.Transports {
			transports[i] = protocol.AuthenticatorTransport(t)
		}
		out.credentials = append(out.credentials, webauthn.Credential{
			ID:                f.CredentialID,
			PublicKey:         r.PublicKey,
			AttestationType:   r.AttestationType,
			AttestationFormat: r.AttestationFormat,
			Transport:         transports,
			Flags:             webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(r.Flags)),
			Authenticator:     webauthn.Authenticator{AAGUID: r.AAGUID, SignCount: uint32(f.Counter)},
		})
	}
	return out, nil
}

// BeginRegistration implements mfa.WebAuthn.
func (w *WebAuthn) BeginRegistration(u mfa.KeyUser, exclude []mfa.Factor) (json.RawMessage, []byte, error) {
	wu, err := newUser(u, exclude)
	if err != nil {
		return nil, nil, err
	}
	creation, session, err := w.wa.BeginRegistration(wu, webauthn.WithExclusions(webauthn.Credentials(wu.credentials).CredentialDescriptors()))
	if err != nil {
		return nil, nil, err
	}
	return marshalBoth(creation.Response, session)
}

// FinishRegistration implements mfa.WebAuthn.
func (w *WebAuthn) FinishRegistration(u mfa.KeyUser, state []byte, response json.RawMessage) (mfa.SecurityKey, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return mfa.SecurityKey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return mfa.SecurityKey{}, err
	}
	cred, err := w.wa.CreateCredential(user{KeyUser: u}, session, parsed)
	if err != nil {
		return mfa.SecurityKey{}, err
	}
	data, err := encode(cred)
	return mfa.SecurityKey{CredentialID: cred.ID, Counter: int64(cred.Authenticator.SignCount), Data: data}, err
}

// BeginLogin implements mfa.WebAuthn.
func (w *WebAuthn) BeginLogin(u mfa.KeyUser, keys []mfa.Factor) (json.RawMessage, []byte, error) {
	wu, err := newUser(u, keys)
	if err != nil {
		return nil, nil, err
	}
	assertion, session, err := w.wa.BeginLogin(wu)
	if err != nil {
		return nil, nil, err
	}
	return marshalBoth(assertion.Response, session)
}

// FinishLogin implements mfa.WebAuthn.
func (w *WebAuthn) FinishLogin(u mfa.KeyUser, state []byte, keys []mfa.Factor, response json.RawMessage) (mfa.SecurityKey, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return mfa.SecurityKey{}, err
	}
	wu, err := newUser(u, keys)
	if err != nil {
		return mfa.SecurityKey{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return mfa.SecurityKey{}, err
	}
	cred, err := w.wa.ValidateLogin(wu, session, parsed)
	if err != nil {
		return mfa.SecurityKey{}, err
	}
	for i, f := range keys {
		if string(f.CredentialID) == string(cred.ID) {
			data, err := encode(cred)
			// The Store accepts the counter only if it grew, whatever
			// go-webauthn's CloneWarning says.
			return mfa.SecurityKey{FactorID: keys[i].ID, CredentialID: cred.ID, Counter: int64(cred.Authenticator.SignCount), Data: data}, err
		}
	}
	return mfa.SecurityKey{}, errors.New("mfawebauthn: the credential is not one of the user's keys")
}

// encode returns the record of a credential.
func encode(c *webauthn.Credential) ([]byte, error) {
	r := record{
		PublicKey:         c.PublicKey,
		Flags:             byte(c.Flags.ProtocolValue()),
		AAGUID:            c.Authenticator.AAGUID,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
	}
	for _, t := range c.Transport {
		r.Transports = append(r.Transports, string(t))
	}
	return json.Marshal(r)
}

// marshalBoth returns the JSON of a ceremony's options and of its state.
func marshalBoth(options any, session *webauthn.SessionData) (json.RawMessage, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	s, err := json.Marshal(session)
	return o, s, err
}
