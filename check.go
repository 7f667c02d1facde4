package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Credential is a second factor the user submitted: a TOTP code from the
// authenticator app or one of the recovery codes. Exactly one is set.
type Credential struct {
	Code         string
	RecoveryCode string
}

// The Method of an Event: which kind of credential was checked.
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
)

// credential is a Credential whose shape was checked before any Store call.
type credential struct {
	method   string
	value    uint32 // the TOTP code
	ok       bool   // the TOTP code has the configured digits and only digits
	recovery string // the trimmed recovery code
}

// parseCredential checks the user ID and the credential's shape, so that
// bad input is refused before anything changes.
func (s *Service) parseCredential(userID string, c Credential, recoveryAllowed bool) (credential, error) {
	if err := checkUserID(userID); err != nil {
		return credential{}, err
	}
	switch {
	case c.Code != "" && c.RecoveryCode != "":
		return credential{}, &InputError{Field: "code", Problem: "give a code or a recovery code, not both"}
	case c.RecoveryCode != "" && !recoveryAllowed:
		return credential{}, &InputError{Field: "recovery_code", Problem: "is not accepted here; give a code"}
	case c.RecoveryCode != "":
		code, err := parseRecoveryCode(c.RecoveryCode)
		return credential{method: MethodRecoveryCode, recovery: code}, err
	}
	value, ok, err := s.totp.parseCode(c.Code)
	return credential{method: MethodTOTP, value: value, ok: ok}, err
}

// check is one code check in progress: an attempt was taken from the
// failure budget and the proof found; the Store operation that accepts the
// proof remains.
type check struct {
	op, userID string
	method     string
	st         State
	now        time.Time
	proof      Proof
	// recovery is the submitted recovery code, hashed under the older keys
	// of the ring only if the primary key's hash is refused.
	recovery string
	hasher   *recoveryHasher
	// secret is the opened TOTP secret; stale means it is stored under an
	// old key (or in plaintext) and is re-sealed after a success.
	secret []byte
	stale  bool
}

// begin reserves an attempt and finds the proof: the matching time step of
// a TOTP code, or the hash of a recovery code. A TOTP code that matches no
// step is a failed check.
//
// ch is filled in by the caller's variable, so that a check costs no heap
// allocation.
func (s *Service) begin(ctx context.Context, ch *check, op, userID string, enabled bool, cred credential) error {
	*ch = check{op: op, userID: userID, method: cred.method, now: s.cfg.Now()}
	if cred.method == MethodRecoveryCode {
		return s.beginRecovery(ctx, ch, cred)
	}
	st, err := s.store.ReserveAttempt(ctx, userID, Attempt{Enabled: enabled, Now: ch.now, Throttle: s.cfg.Throttle})
	var limited *RateLimitError
	switch {
	case errors.As(err, &limited):
		return s.rateLimited(ctx, ch, limited)
	case isOutcome(err):
		return err
	case err != nil:
		return s.storeErr("ReserveAttempt", err)
	}
	ch.st = st
	ch.secret, ch.stale, err = s.plainSecret(userID, st.Secret)
	if err != nil {
		return fmt.Errorf("mfa: opening the stored secret: %w", err)
	}
	step := int64(-1)
	if cred.ok {
		step = s.totp.match(ch.secret, cred.value, ch.now)
	}
	if step < 0 {
		return s.failed(ctx, ch, ReasonInvalidCode)
	}
	ch.proof.Step = step
	return nil
}

// beginRecovery starts the check of a recovery code of an enrolled user.
// The failure budget is not reserved up front, as for a TOTP code: a
// refused code is counted afterwards (countFailure), so that a valid one
// is used up by a single statement. A burst of concurrent wrong guesses can
// therefore pass the budget by the burst's size, which 59.5-bit codes make
// worthless to an attacker; a lockout still refuses every code.
func (s *Service) beginRecovery(ctx context.Context, ch *check, cred credential) error {
	st, err := s.store.Get(ctx, ch.userID)
	switch {
	case err != nil:
		return s.storeErr("Get", err)
	case !st.Enabled:
		return ErrNotEnabled
	case st.LockedUntil.After(ch.now):
		return s.rateLimited(ctx, ch, &RateLimitError{RetryAfter: st.LockedUntil.Sub(ch.now)})
	}
	ch.st = st
	ch.proof.RecoveryCode = s.recovery.hash(ch.userID, cred.recovery)
	ch.recovery, ch.hasher = cred.recovery, &s.recovery
	return nil
}

// rateLimited audits a check refused by a lockout.
func (s *Service) rateLimited(ctx context.Context, ch *check, limited *RateLimitError) error {
	e := ch.event(EventChallengeFailed)
	e.Reason, e.RetryAfter = ReasonRateLimited, limited.RetryAfter
	s.emit(ctx, e)
	return limited
}

// countFailure counts a refused recovery code against the user's budget;
// ch.st then tells whether it started a lockout.
func (s *Service) countFailure(ctx context.Context, ch *check) {
	st, err := s.store.ReserveAttempt(ctx, ch.userID, Attempt{Enabled: true, Now: ch.now, Throttle: s.cfg.Throttle})
	switch {
	case err == nil:
		ch.st = st
	case errors.Is(err, ErrRateLimited), isOutcome(err):
	default:
		s.cfg.Logger.WarnContext(ctx, "mfa: counting a failed recovery code", "user_id", ch.userID, "err", err)
	}
}

// succeeded clears the failure count after a recovery code was accepted
// (a TOTP success clears it in the same statement that accepts the step).
func (s *Service) succeeded(ctx context.Context, ch *check) {
	if ch.method != MethodRecoveryCode || ch.st.Failures == 0 && ch.st.Lockouts == 0 {
		return
	}
	if err := s.store.ResetThrottle(ctx, ch.userID); err != nil {
		s.cfg.Logger.WarnContext(ctx, "mfa: clearing the failure count", "user_id", ch.userID, "err", err)
	}
}

// try runs accept with the check's proof and, while a recovery code is
// refused, with its hashes under the older keys of the ring.
func (ch *check) try(accept func(Proof) error) error {
	err := accept(ch.proof)
	if ch.hasher == nil || !errors.Is(err, ErrInvalidCode) {
		return err
	}
	for k := 1; k < len(ch.hasher.keys) && errors.Is(err, ErrInvalidCode); k++ {
		err = accept(Proof{RecoveryCode: ch.hasher.hashUnder(k, ch.userID, ch.recovery)})
	}
	return err
}

// resealIfStale re-seals a secret that was opened under an old key (or
// stored in plaintext) under the primary key, unless a concurrent Setup
// replaced it. A failure only leaves the old form, which still works.
func (s *Service) resealIfStale(ctx context.Context, ch *check) {
	if !ch.stale {
		return
	}
	sealed, err := s.storedSecret(ch.userID, ch.secret)
	if err == nil {
		_, err = s.store.ReplaceSecret(ctx, ch.userID, ch.st.Secret, sealed)
	}
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "mfa: re-sealing a secret under the primary key failed", "user_id", ch.userID, "err", err)
	}
}

// finish turns the answer of the Store operation that accepts the proof
// into the method's error.
func (s *Service) finish(ctx context.Context, ch *check, storeOp string, err error) error {
	switch {
	case err == nil:
		s.succeeded(ctx, ch)
		return nil
	case errors.Is(err, ErrReplay):
		return s.failed(ctx, ch, ReasonReplay)
	case errors.Is(err, ErrInvalidCode):
		if ch.method == MethodRecoveryCode {
			s.countFailure(ctx, ch)
		}
		return s.failed(ctx, ch, ReasonInvalidCode)
	case errors.Is(err, ErrInvalidTicket):
		s.failed(ctx, ch, ReasonInvalidTicket)
		return ErrInvalidTicket
	case isOutcome(err):
		return err
	}
	return s.storeErr(storeOp, err)
}

// failed records a failed check. The attempt was counted when it was
// reserved; if it was the one that started a lockout, that is audited too.
func (s *Service) failed(ctx context.Context, ch *check, reason string) error {
	e := ch.event(EventChallengeFailed)
	e.Reason = reason
	s.emit(ctx, e)
	if ch.st.LockedUntil.After(ch.now) {
		e := ch.event(EventLocked)
		e.RetryAfter = ch.st.LockedUntil.Sub(ch.now)
		s.emit(ctx, e)
	}
	if reason == ReasonReplay {
		return ErrReplay
	}
	return ErrInvalidCode
}

func (ch *check) event(t EventType) Event {
	return Event{Type: t, UserID: ch.userID, Operation: ch.op, Method: ch.method}
}

// isOutcome reports the errors a Store returns as answers rather than
// failures.
func isOutcome(err error) bool {
	for _, target := range []error{ErrSetupNotStarted, ErrAlreadyEnabled, ErrNotEnabled, ErrInvalidCode, ErrInvalidTicket} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
