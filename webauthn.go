package mfa

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// Security keys and passkeys (WebAuthn) are factors of type FactorWebAuthn.
// The ceremonies (creation and request options, attestation and assertion
// checks) are the work of a WebAuthn implementation plugged in through
// Config.WebAuthn: the module github.com/identsphere/mfa/webauthn provides
// one, so that hosts that use only TOTP do not compile it. The Service
// keeps each ceremony's state in the Store under an opaque token, bound to
// one user and one purpose, valid for ceremonyTTL and used up by the
// finish that reads it, success or not: any replica can finish a ceremony
// another began, and a replayed response finds nothing.

// ceremonyTTL is how long a WebAuthn ceremony stays valid.
const ceremonyTTL = 5 * time.Minute

// WebAuthn runs the WebAuthn ceremonies for the Service. The state a Begin
// method returns is what its Finish method gets back; the Service stores it
// server-side, never with the client.
type WebAuthn interface {
	// BeginRegistration returns the creation options for a new key of
	// user, in the W3C JSON form (PublicKeyCredentialCreationOptionsJSON),
	// excluding the keys the user has.
	BeginRegistration(user KeyUser, exclude []Factor) (options json.RawMessage, state []byte, err error)
	// FinishRegistration checks a registration response (the JSON of a
	// PublicKeyCredential) against state and returns the new key. Any
	// error refuses the registration.
	FinishRegistration(user KeyUser, state []byte, response json.RawMessage) (SecurityKey, error)
	// BeginLogin returns request options listing keys, in the W3C JSON form
	// (PublicKeyCredentialRequestOptionsJSON).
	BeginLogin(user KeyUser, keys []Factor) (options json.RawMessage, state []byte, err error)
	// FinishLogin checks an assertion response against state and the
	// user's keys and returns the key that signed it, with its new
	// signature counter and data. Any error refuses the assertion.
	FinishLogin(user KeyUser, state []byte, keys []Factor, response json.RawMessage) (SecurityKey, error)
}

// KeyUser is the user of a WebAuthn ceremony.
type KeyUser struct {
	// ID is the host's user ID.
	ID string
	// Handle is the user's WebAuthn user handle: random, stored once per
	// user, never the user ID.
	Handle []byte
	// Name is the account name (Config.Account), for display.
	Name string
}

// SecurityKey is a security key as a WebAuthn ceremony leaves it.
type SecurityKey struct {
	// FactorID is the factor of the key (FinishLogin only).
	FactorID string
	// CredentialID is the key's credential ID.
	CredentialID []byte
	// Counter is the key's signature counter.
	Counter int64
	// Data is what the WebAuthn implementation keeps of the key (public
	// key, flags, …), stored as the factor's Secret.
	Data []byte
}

// Assertion is a WebAuthn response a client sends: the ceremony token
// from the options and the PublicKeyCredential's JSON.
type Assertion struct {
	Ceremony string
	Response json.RawMessage
}

// KeyCeremony is what a client needs to run a WebAuthn ceremony: the
// token to send back with the response, and the options for
// navigator.credentials (W3C JSON form).
type KeyCeremony struct {
	// FactorID is the pending factor a registration confirms; empty for
	// a login.
	FactorID string
	// Name is the pending factor's name; empty for a login.
	Name     string
	Ceremony string
	Options  json.RawMessage
}

// BeginKeyRegistration starts the registration of a security key or
// passkey named name for the user, as a pending factor. A user without
// MFA needs no credential (like Setup); a user with MFA must prove with a
// credential of an existing factor or a recovery code (which it uses up),
// as for AddFactor. FinishKeyRegistration completes it.
//
// Errors: ErrInvalidInput (also when Config.WebAuthn is nil),
// ErrUserNotFound, ErrTooManyFactors, ErrInvalidCode, ErrRateLimited,
// ErrStore.
func (s *Service) BeginKeyRegistration(ctx context.Context, userID, name string, c Credential) (*KeyCeremony, error) {
	if err := s.needWebAuthn(); err != nil {
		return nil, err
	}
	if err := checkInput(userID, name); err != nil {
		return nil, err
	}
	cred, credErr := s.parseCredential(c, takesAny)
	account, err := s.account(ctx, userID)
	if err != nil {
		return nil, err
	}
	st, err := s.store.Get(ctx, userID)
	if err != nil {
		return nil, s.storeErr("Get", err)
	}
	f := Factor{ID: newFactorID(), Type: FactorWebAuthn, Name: name, Secret: []byte{}, CreatedAt: s.cfg.Now()}
	if st.Enabled {
		if credErr != nil {
			return nil, credErr
		}
		if err := s.addFactor(ctx, userID, f, cred); err != nil {
			return nil, err
		}
	} else {
		if c.Code != "" || c.RecoveryCode != "" || c.WebAuthn != nil {
			return nil, &InputError{Field: "code", Problem: "a first security key needs no code: MFA is off"}
		}
		e := Event{Type: EventSetupStarted, UserID: userID, Operation: "setup", Method: MethodWebAuthn, FactorID: f.ID}
		err := s.commit(ctx, []Event{e}, func(events []Event) error { return s.store.SetPending(ctx, userID, f, events) })
		if err := s.storeOutcome("SetPending", err); err != nil {
			return nil, err
		}
	}
	user, err := s.keyUser(ctx, userID, account)
	if err != nil {
		return nil, err
	}
	options, state, err := s.cfg.WebAuthn.BeginRegistration(user, keys(st.Factors))
	if err != nil {
		return nil, err
	}
	token, err := s.newCeremony(ctx, Ceremony{UserID: userID, Purpose: CeremonyRegister, FactorID: f.ID, Data: state})
	if err != nil {
		return nil, err
	}
	return &KeyCeremony{FactorID: f.ID, Name: name, Ceremony: token, Options: options}, nil
}

// FinishKeyRegistration checks the registration response of the pending
// key factorID and activates it. For a user without MFA it is the first
// factor: MFA is turned on, and the fresh recovery codes are returned (show
// them once); otherwise codes is nil and the recovery codes stay. A key
// registered already, to anyone, is ErrCredentialInUse. A refused response
// is a failed check on the user's budget.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrFactorNotFound,
// ErrTooManyFactors, ErrCredentialInUse, ErrInvalidCode (and
// ErrInvalidCeremony), ErrRateLimited, ErrStore.
func (s *Service) FinishKeyRegistration(ctx context.Context, userID, factorID string, a Assertion) (info FactorInfo, codes []string, err error) {
	if err := s.needWebAuthn(); err != nil {
		return FactorInfo{}, nil, err
	}
	if err := checkUserID(userID); err != nil {
		return FactorInfo{}, nil, err
	}
	cred, err := s.parseCredential(Credential{WebAuthn: &a}, takesKey)
	if err != nil {
		return FactorInfo{}, nil, err
	}
	account, err := s.account(ctx, userID)
	if err != nil {
		return FactorInfo{}, nil, err
	}
	st, err := s.store.Get(ctx, userID)
	if err != nil {
		return FactorInfo{}, nil, s.storeErr("Get", err)
	}
	pending := findFactor(st.Factors, factorID)
	if pending == nil || pending.Active || pending.Type != FactorWebAuthn {
		return FactorInfo{}, nil, ErrFactorNotFound
	}
	// The first key enables MFA, as Enable; a later one is ConfirmFactor.
	op, storeOp := "enable", "Enable"
	if st.Enabled {
		op, storeOp = "confirm_factor", "ConfirmFactor"
	}
	ch, err := s.reserve(ctx, op, userID, st.Enabled, cred)
	if err != nil {
		return FactorInfo{}, nil, err
	}
	ch.factorID = factorID
	c, err := s.takeCeremony(ctx, ch, CeremonyRegister)
	if err != nil {
		return FactorInfo{}, nil, err
	}
	user, err := s.keyUser(ctx, userID, account)
	if err != nil {
		return FactorInfo{}, nil, err
	}
	key, err := s.cfg.WebAuthn.FinishRegistration(user, c.Data, a.Response)
	if err != nil || c.FactorID != factorID {
		s.cfg.Logger.DebugContext(ctx, "mfa: security key registration refused", "user_id", userID, "err", err)
		return FactorInfo{}, nil, s.failed(ctx, ch, ReasonInvalidCode)
	}
	if st.Enabled {
		conf := Confirmation{FactorID: factorID, Counter: key.Counter, Secret: key.Data, CredentialID: key.CredentialID, UsedAt: ch.now}
		err = s.commit(ctx, []Event{ch.event(EventFactorAdded)}, func(events []Event) error {
			return s.store.ConfirmFactor(ctx, userID, conf, s.cfg.MaxFactors, events)
		})
	} else {
		codes, err = newRecoveryCodes(s.cfg.Rand)
		if err != nil {
			return FactorInfo{}, nil, err
		}
		en := Enablement{FactorID: factorID, Counter: key.Counter, Secret: key.Data, CredentialID: key.CredentialID,
			UsedAt: ch.now, RecoveryCodes: s.recovery.hashAll(userID, codes)}
		err = s.commit(ctx, []Event{ch.event(EventEnabled)}, func(events []Event) error { return s.store.Enable(ctx, userID, en, events) })
	}
	if err := s.finish(ctx, ch, storeOp, err); err != nil {
		return FactorInfo{}, nil, err
	}
	return FactorInfo{ID: factorID, Name: pending.Name, Type: FactorWebAuthn, CreatedAt: pending.CreatedAt, LastUsedAt: ch.now}, codes, nil
}

// BeginKeyCheck starts a WebAuthn assertion for a signed-in user with MFA
// and security keys: its response proves possession wherever a credential
// is taken (Verify, Disable, RegenerateRecoveryCodes, AddFactor,
// RemoveFactor) as Credential.WebAuthn.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrRateLimited (the user is
// locked: no ceremony is started), ErrNotEnabled, ErrFactorNotFound (the
// user has no security key), ErrStore.
func (s *Service) BeginKeyCheck(ctx context.Context, userID string) (*KeyCeremony, error) {
	if err := s.needWebAuthn(); err != nil {
		return nil, err
	}
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	account, err := s.account(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.beginKeyAssertion(ctx, userID, account, CeremonySession)
}

// BeginKeyLogin starts a WebAuthn assertion for the login challenge of
// token (from StartChallenge); its response goes to Challenge as
// Credential.WebAuthn.
//
// Errors: ErrInvalidInput, ErrInvalidTicket (audited, as by Challenge),
// ErrRateLimited (the user is locked: no ceremony is started),
// ErrFactorNotFound (the user has no security key), ErrStore.
func (s *Service) BeginKeyLogin(ctx context.Context, token string) (*KeyCeremony, error) {
	if err := s.needWebAuthn(); err != nil {
		return nil, err
	}
	if token == "" {
		return nil, &InputError{Field: "mfa_token", Problem: "mfa_token is required"}
	}
	if len(token) > maxTokenLength {
		return nil, s.invalidTicket(ctx, MethodWebAuthn)
	}
	userID, err := s.store.LookupTicket(ctx, ticketHash(token), s.cfg.Now())
	if errors.Is(err, ErrInvalidTicket) {
		return nil, s.invalidTicket(ctx, MethodWebAuthn)
	} else if err != nil {
		return nil, s.storeErr("LookupTicket", err)
	}
	account, err := s.account(ctx, userID)
	if errors.Is(err, ErrUserNotFound) {
		return nil, s.invalidTicket(ctx, MethodWebAuthn)
	} else if err != nil {
		return nil, err
	}
	return s.beginKeyAssertion(ctx, userID, account, CeremonyLogin)
}

// beginKeyAssertion stores a ceremony of purpose for an assertion by any
// of the user's keys and returns its options. A locked user gets the
// lockout, and no ceremony.
func (s *Service) beginKeyAssertion(ctx context.Context, userID, account, purpose string) (*KeyCeremony, error) {
	st, err := s.store.Get(ctx, userID)
	if err != nil {
		return nil, s.storeErr("Get", err)
	}
	if limited := s.cfg.Throttle.Locked(st.Lockouts, st.LockedUntil, s.cfg.Now()); limited != nil {
		return nil, limited
	}
	switch {
	case !st.Enabled:
		return nil, ErrNotEnabled
	case len(activeKeys(st.Factors)) == 0:
		return nil, ErrFactorNotFound
	}
	user, err := s.keyUser(ctx, userID, account)
	if err != nil {
		return nil, err
	}
	options, state, err := s.cfg.WebAuthn.BeginLogin(user, activeKeys(st.Factors))
	if err != nil {
		return nil, err
	}
	token, err := s.newCeremony(ctx, Ceremony{UserID: userID, Purpose: purpose, Data: state})
	if err != nil {
		return nil, err
	}
	return &KeyCeremony{Ceremony: token, Options: options}, nil
}

// matchKey finds the proof of a WebAuthn assertion for the reserved
// check: the ceremony is used up, the response checked against the user's
// active keys. A refused assertion is a failed check.
func (s *Service) matchKey(ctx context.Context, ch *check, purpose string) error {
	c, err := s.takeCeremony(ctx, ch, purpose)
	if err != nil {
		return err
	}
	account, err := s.account(ctx, ch.userID)
	if err != nil {
		return err
	}
	user, err := s.keyUser(ctx, ch.userID, account)
	if err != nil {
		return err
	}
	key, err := s.cfg.WebAuthn.FinishLogin(user, c.Data, activeKeys(ch.res.Factors), ch.cred.webauthn.Response)
	if err != nil {
		s.cfg.Logger.DebugContext(ctx, "mfa: security key assertion refused", "user_id", ch.userID, "err", err)
		return s.failed(ctx, ch, ReasonInvalidCode)
	}
	ch.factorID = key.FactorID
	ch.proof = Proof{FactorID: key.FactorID, Counter: key.Counter, Secret: key.Data, UsedAt: ch.now}
	return nil
}

// takeCeremony uses up the ceremony of the check's credential; one that is
// unknown, expired, another user's or for another purpose is a failed
// check (ErrInvalidCeremony).
func (s *Service) takeCeremony(ctx context.Context, ch *check, purpose string) (Ceremony, error) {
	token := ch.cred.webauthn.Ceremony
	if len(token) > maxTokenLength {
		return Ceremony{}, s.failed(ctx, ch, ReasonInvalidCeremony)
	}
	c, err := s.store.TakeCeremony(ctx, ticketHash(token), ch.now)
	switch {
	case errors.Is(err, ErrInvalidCeremony) || err == nil && (c.UserID != ch.userID || c.Purpose != purpose):
		return Ceremony{}, s.failed(ctx, ch, ReasonInvalidCeremony)
	case err != nil:
		return Ceremony{}, s.storeErr("TakeCeremony", err)
	}
	return c, nil
}

// newCeremony stores c under a fresh token and returns the token.
func (s *Service) newCeremony(ctx context.Context, c Ceremony) (string, error) {
	raw := make([]byte, ticketBytes)
	if _, err := io.ReadFull(s.cfg.Rand, raw); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	c.Hash, c.ExpiresAt = ticketHash(token), s.cfg.Now().Add(ceremonyTTL)
	if err := s.store.CreateCeremony(ctx, c); err != nil {
		return "", s.storeErr("CreateCeremony", err)
	}
	return token, nil
}

// keyUser returns the WebAuthn user for userID, with the user handle the
// Store keeps (minted on first use).
func (s *Service) keyUser(ctx context.Context, userID, account string) (KeyUser, error) {
	candidate := make([]byte, 32)
	if _, err := io.ReadFull(s.cfg.Rand, candidate); err != nil {
		return KeyUser{}, err
	}
	handle, err := s.store.UserHandle(ctx, userID, candidate)
	if err != nil {
		return KeyUser{}, s.storeErr("UserHandle", err)
	}
	return KeyUser{ID: userID, Handle: handle, Name: account}, nil
}

func (s *Service) needWebAuthn() error {
	if s.cfg.WebAuthn == nil {
		return &InputError{Field: "type", Problem: "security keys are not offered here (no WebAuthn configured)"}
	}
	return nil
}

// keys returns the WebAuthn factors among fs that have a credential.
func keys(fs []Factor) []Factor {
	var out []Factor
	for _, f := range fs {
		if f.Type == FactorWebAuthn && f.CredentialID != nil {
			// Copies: the WebAuthn implementation is the host's code, and
			// a Reservation's factors may be the Store's own.
			f.Secret, f.CredentialID = bytes.Clone(f.Secret), bytes.Clone(f.CredentialID)
			out = append(out, f)
		}
	}
	return out
}

// activeKeys returns the active WebAuthn factors among fs.
func activeKeys(fs []Factor) []Factor {
	var out []Factor
	for _, f := range keys(fs) {
		if f.Active {
			out = append(out, f)
		}
	}
	return out
}
