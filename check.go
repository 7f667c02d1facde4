package mfa

import (
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Credential is a second factor the user submitted: a TOTP code from one of
// the user's authenticator apps, one of the recovery codes, or a security
// key's assertion (Config.WebAuthn). Exactly one is set.
type Credential struct {
	Code         string
	RecoveryCode string
	WebAuthn     *Assertion
}

// The Method of an Event or a Verification: which kind of credential was
// checked.
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
	MethodWebAuthn     = "webauthn"
)

// Verification says what a successful check accepted.
type Verification struct {
	// UserID is the user who passed.
	UserID string
	// Method is MethodTOTP, MethodRecoveryCode or MethodWebAuthn.
	Method string
	// FactorID is the authenticator whose credential matched; empty for a
	// recovery code.
	FactorID string
	// At is the time of the check.
	At time.Time
}

// credential is a Credential whose shape was checked before any Store call.
type credential struct {
	method   string
	code     uint32 // the TOTP code's value
	codeOK   bool   // the TOTP code has the configured digits and only digits
	recovery string // the trimmed recovery code
	webauthn *Assertion
}

// The kinds of credential an operation takes, for parseCredential.
const (
	takesCode = 1 << iota
	takesRecoveryCode
	takesKey
	takesAny = takesCode | takesRecoveryCode | takesKey
)

// parseCredential checks the credential's shape, so that bad input is
// refused before anything changes. takes says which kinds the operation
// accepts.
func (s *Service) parseCredential(c Credential, takes int) (credential, error) {
	bad := credential{method: c.method()} // the method of a refused shape, for the audit
	given := 0
	for _, g := range []bool{c.Code != "", c.RecoveryCode != "", c.WebAuthn != nil} {
		if g {
			given++
		}
	}
	switch {
	case given > 1:
		return bad, &InputError{Field: "code", Problem: "give one of code, recovery_code or webauthn, not several"}
	case given == 0 && strings.Contains(s.accepted(takes), " or "):
		return bad, &InputError{Field: "code", Problem: "give " + s.accepted(takes)}
	case c.RecoveryCode != "" && takes&takesRecoveryCode == 0:
		return bad, &InputError{Field: "recovery_code", Problem: "recovery_code is not accepted here; give code"}
	case c.RecoveryCode != "":
		code, err := parseRecoveryCode(c.RecoveryCode)
		return credential{method: MethodRecoveryCode, recovery: code}, err
	case c.WebAuthn != nil && (takes&takesKey == 0 || s.cfg.WebAuthn == nil):
		return bad, &InputError{Field: "webauthn", Problem: "webauthn is not accepted here"}
	case c.WebAuthn != nil && (c.WebAuthn.Ceremony == "" || len(c.WebAuthn.Response) == 0):
		return bad, &InputError{Field: "webauthn", Problem: "webauthn needs ceremony and response"}
	case c.WebAuthn != nil:
		return credential{method: MethodWebAuthn, webauthn: c.WebAuthn}, nil
	case takes&takesCode == 0:
		return bad, &InputError{Field: "webauthn", Problem: "webauthn is required"}
	}
	value, ok, err := s.totp.parseCode(c.Code)
	return credential{method: MethodTOTP, code: value, codeOK: ok}, err
}

// accepted names the kinds of credential of takes that the Service can
// check, for a message: "code or recovery_code", "code or webauthn", ….
func (s *Service) accepted(takes int) string {
	var names []string
	for _, k := range []struct {
		bit  int
		name string
	}{{takesCode, "code"}, {takesRecoveryCode, "recovery_code"}, {takesKey, "webauthn"}} {
		if takes&k.bit != 0 && (k.bit != takesKey || s.cfg.WebAuthn != nil) {
			names = append(names, k.name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// method is the kind of credential c carries, as audited.
func (c Credential) method() string {
	switch {
	case c.WebAuthn != nil:
		return MethodWebAuthn
	case c.RecoveryCode != "":
		return MethodRecoveryCode
	}
	return MethodTOTP
}

// check is one credential check in progress: an attempt was taken from the
// user's failure budget; match finds the proof, and a Store operation then
// accepts it.
type check struct {
	op, userID string
	cred       credential
	now        time.Time
	res        Reservation
	proof      Proof
	factorID   string // the factor the credential matched, if any
}

// reserve takes an attempt from the user's failure budget for a check of
// cred. enabled is the state the operation needs. A lockout is audited and
// returned as a *RateLimitError.
func (s *Service) reserve(ctx context.Context, op, userID string, enabled bool, cred credential) (*check, error) {
	ch := &check{op: op, userID: userID, cred: cred, now: s.cfg.Now()}
	res, err := s.store.ReserveAttempt(ctx, userID, Attempt{Enabled: enabled, Now: ch.now, Throttle: s.cfg.Throttle})
	if err != nil {
		var limited *RateLimitError
		switch {
		case errors.As(err, &limited):
			return nil, s.refused(ctx, ch, limited)
		case outcome(err) != nil:
			return nil, outcome(err)
		}
		return nil, s.storeErr("ReserveAttempt", err)
	}
	ch.res = res
	return ch, nil
}

// refused audits a check refused by a lockout and returns the lockout.
func (s *Service) refused(ctx context.Context, ch *check, limited *RateLimitError) error {
	e := ch.event(EventChallengeFailed)
	e.Reason, e.RetryAfter, e.Permanent = ReasonRateLimited, limited.RetryAfter, limited.Permanent
	if err := s.record(ctx, e); err != nil {
		return err
	}
	return limited
}

// match finds the proof for the reserved check among the factors that
// pass candidate: the factor and time step a TOTP code matches, or the
// hashes of a recovery code. A TOTP code that matches none of them is a
// failed check.
func (s *Service) match(ctx context.Context, ch *check, candidate func(Factor) bool) error {
	ch.proof.UsedAt = ch.now
	switch ch.cred.method {
	case MethodWebAuthn:
		purpose := CeremonySession
		if ch.op == "challenge" {
			purpose = CeremonyLogin
		}
		return s.matchKey(ctx, ch, purpose)
	case MethodRecoveryCode:
		ch.proof.RecoveryCode = s.recovery.hashes(ch.userID, ch.cred.recovery)
		return nil
	}
	// Every candidate is computed, whether an earlier one matched or not.
	// A secret that does not open (its key left the ring, or plaintext
	// refused) is logged and skipped, so the user's other authenticators
	// still work; the error is returned only when no candidate opened.
	var opened int
	var unopened error
	buf := make([]byte, 0, sha512.Size) // hotp's scratch space, for every factor
	for _, f := range ch.res.Factors {
		if f.Type != FactorTOTP || !candidate(f) {
			continue
		}
		secret, stale, err := s.plainSecret(ch.userID, f.Secret)
		if err != nil {
			unopened = fmt.Errorf("mfa: opening the secret of factor %s: %w", f.ID, err)
			s.cfg.Logger.Error("mfa: a TOTP secret does not open; its factor is skipped", "user_id", ch.userID, "factor_id", f.ID, "err", err)
			continue
		}
		opened++
		step := int64(-1)
		if ch.cred.codeOK {
			step = s.totp.match(secret, ch.cred.code, ch.now, buf)
		}
		if step < 0 || ch.factorID != "" {
			continue
		}
		ch.factorID, ch.proof.FactorID, ch.proof.Counter = f.ID, f.ID, step
		if stale { // re-sealed under the primary key when the proof is accepted
			if ch.proof.Secret, err = s.storedSecret(ch.userID, secret); err != nil {
				return err
			}
		}
	}
	switch {
	case ch.factorID == "" && opened == 0 && unopened != nil:
		return unopened
	case ch.factorID == "":
		return s.failed(ctx, ch, ReasonInvalidCode)
	}
	return nil
}

// isActive and isPending select the factors a check accepts.
func isActive(f Factor) bool  { return f.Active }
func isPending(f Factor) bool { return !f.Active }

// finish turns the answer of the Store operation that accepts the proof
// into the method's error: nil, a failed check, an outcome, or a
// *StoreError.
func (s *Service) finish(ctx context.Context, ch *check, storeOp string, err error) error {
	switch o := outcome(err); {
	case err == nil:
		return nil
	case o == ErrReplay && ch.cred.method == MethodWebAuthn:
		return s.failed(ctx, ch, ReasonCloneSuspected)
	case o == ErrReplay:
		return s.failed(ctx, ch, ReasonReplay)
	case o == ErrInvalidCode:
		return s.failed(ctx, ch, ReasonInvalidCode)
	case o != nil:
		return o
	}
	return s.storeErr(storeOp, err)
}

// failed records a failed check. The attempt was counted when it was
// reserved; if it was the one that started a lockout, that is audited too.
// It returns ErrReplay or ErrInvalidCode.
func (s *Service) failed(ctx context.Context, ch *check, reason string) error {
	e := ch.event(EventChallengeFailed)
	e.Reason = reason
	events := []Event{e}
	if reason == ReasonCloneSuspected {
		events = append(events, ch.event(EventCloneSuspected))
	}
	if ch.res.LockedUntil.After(ch.now) {
		e := ch.event(EventLocked)
		limited := s.cfg.Throttle.Locked(ch.res.Lockouts, ch.res.LockedUntil, ch.now)
		e.RetryAfter, e.Permanent = limited.RetryAfter, limited.Permanent
		events = append(events, e)
	}
	if err := s.record(ctx, events...); err != nil {
		return err
	}
	switch reason {
	case ReasonReplay:
		return ErrReplay
	case ReasonCloneSuspected:
		return ErrCloneSuspected
	case ReasonInvalidCeremony:
		return ErrInvalidCeremony
	}
	return ErrInvalidCode
}

// verification describes the accepted check.
func (ch *check) verification() Verification {
	return Verification{UserID: ch.userID, Method: ch.cred.method, FactorID: ch.factorID, At: ch.now}
}

// event returns an event of the check.
func (ch *check) event(t EventType) Event {
	return Event{Type: t, UserID: ch.userID, Operation: ch.op, Method: ch.cred.method, FactorID: ch.factorID}
}

// successEvents are the events of an accepted check, for the Store
// operation that accepts it: a used recovery code, then the operation's
// own event.
func (ch *check) successEvents(t EventType) []Event {
	events := make([]Event, 0, 2)
	if ch.cred.method == MethodRecoveryCode {
		events = append(events, ch.event(EventRecoveryCodeUsed))
	}
	return append(events, ch.event(t))
}
