package mfa

import (
	"context"
	"crypto/rand"
)

// A user may keep several authenticators (Config.MaxFactors), so that a
// lost phone does not mean falling back to a recovery code. Setup and
// Enable create the first; AddFactor and ConfirmFactor add more, each
// with its own secret and its own replay protection; RemoveFactor removes
// one, and removing the last is Disable. The failure budget stays per
// user.

// AddFactor adds a pending TOTP authenticator named name for a user with
// MFA enabled, after checking a credential of one of the user's
// authenticators or a recovery code (which it uses up): a stolen session
// alone cannot add an attacker's device. The authenticator works once
// ConfirmFactor accepts its first code; a later AddFactor replaces it
// while it is pending.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrNotEnabled,
// ErrTooManyFactors, ErrInvalidCode, ErrRateLimited, ErrStore.
func (s *Service) AddFactor(ctx context.Context, userID, name string, c Credential) (*Enrollment, error) {
	if err := checkInput(userID, name); err != nil {
		return nil, err
	}
	cred, err := s.parseCredential(c, takesAny)
	if err != nil {
		return nil, err
	}
	account, err := s.account(ctx, userID)
	if err != nil {
		return nil, err
	}
	enr, f, err := s.newTOTPFactor(userID, account, name)
	if err != nil {
		return nil, err
	}
	if err := s.addFactor(ctx, userID, f, cred); err != nil {
		return nil, err
	}
	return enr, nil
}

// addFactor checks cred, a credential of one of the user's factors or a
// recovery code, and makes f the user's pending factor.
func (s *Service) addFactor(ctx context.Context, userID string, f Factor, cred credential) error {
	if err := s.precheck(ctx, "add_factor", userID, cred, func(st State) error {
		if active(st.Factors) >= s.cfg.MaxFactors {
			return ErrTooManyFactors
		}
		return nil
	}); err != nil {
		return err
	}
	ch, err := s.reserve(ctx, "add_factor", userID, true, cred)
	if err != nil {
		return err
	}
	if err := s.match(ctx, ch, isActive); err != nil {
		return err
	}
	events := ch.successEvents(EventSetupStarted)
	events[len(events)-1].FactorID, events[len(events)-1].Method = f.ID, f.Type
	err = s.commit(ctx, events, func(events []Event) error {
		return s.store.AddFactor(ctx, userID, ch.proof, f, s.cfg.MaxFactors, events)
	})
	return s.finish(ctx, ch, "AddFactor", err)
}

// ConfirmFactor activates the pending authenticator factorID from
// AddFactor with its first code, and returns it. The recovery codes stay as
// they are.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrNotEnabled,
// ErrFactorNotFound (no pending factor with that ID for this user),
// ErrTooManyFactors, ErrInvalidCode, ErrRateLimited, ErrStore.
func (s *Service) ConfirmFactor(ctx context.Context, userID, factorID, code string) (FactorInfo, error) {
	if err := checkUserID(userID); err != nil {
		return FactorInfo{}, err
	}
	cred, err := s.parseCredential(Credential{Code: code}, takesCode)
	if err != nil {
		return FactorInfo{}, err
	}
	if _, err := s.account(ctx, userID); err != nil {
		return FactorInfo{}, err
	}
	if err := s.precheck(ctx, "confirm_factor", userID, cred, func(st State) error {
		if f := findFactor(st.Factors, factorID); f == nil || f.Active {
			return ErrFactorNotFound
		}
		return nil
	}); err != nil {
		return FactorInfo{}, err
	}
	ch, err := s.reserve(ctx, "confirm_factor", userID, true, cred)
	if err != nil {
		return FactorInfo{}, err
	}
	if err := s.match(ctx, ch, func(f Factor) bool { return !f.Active && f.ID == factorID }); err != nil {
		return FactorInfo{}, err
	}
	c := Confirmation{FactorID: factorID, Counter: ch.proof.Counter, Secret: ch.proof.Secret, UsedAt: ch.now}
	err = s.commit(ctx, []Event{ch.event(EventFactorAdded)}, func(events []Event) error {
		return s.store.ConfirmFactor(ctx, userID, c, s.cfg.MaxFactors, events)
	})
	if err := s.finish(ctx, ch, "ConfirmFactor", err); err != nil {
		return FactorInfo{}, err
	}
	f := findFactor(ch.res.Factors, factorID)
	return FactorInfo{ID: f.ID, Name: f.Name, Type: f.Type, CreatedAt: f.CreatedAt, LastUsedAt: ch.now}, nil
}

// RemoveFactor removes the authenticator factorID (active or pending)
// after checking a credential of any of the user's authenticators (the one
// being removed included) or a recovery code, and reports whether MFA is
// still enabled: removing the last active authenticator is exactly
// Disable.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrNotEnabled,
// ErrFactorNotFound, ErrInvalidCode, ErrRateLimited, ErrStore.
func (s *Service) RemoveFactor(ctx context.Context, userID, factorID string, c Credential) (enabled bool, err error) {
	if err := checkUserID(userID); err != nil {
		return false, err
	}
	cred, err := s.parseCredential(c, takesAny)
	if err != nil {
		return false, err
	}
	if _, err := s.account(ctx, userID); err != nil {
		return false, err
	}
	if err := s.precheck(ctx, "remove_factor", userID, cred, func(st State) error {
		if findFactor(st.Factors, factorID) == nil {
			return ErrFactorNotFound
		}
		return nil
	}); err != nil {
		return false, err
	}
	ch, err := s.reserve(ctx, "remove_factor", userID, true, cred)
	if err != nil {
		return false, err
	}
	if err := s.match(ctx, ch, isActive); err != nil {
		return false, err
	}
	removed := ch.successEvents(EventFactorRemoved)
	removed[len(removed)-1].FactorID = factorID
	// The store writes ifDisabled too when the factor was the last one;
	// a Service that queues events itself queues it afterwards.
	ifDisabled := []Event{ch.event(EventDisabled)}
	s.stamp(ctx, ifDisabled...)
	var disabled bool
	err = s.commit(ctx, removed, func(events []Event) error {
		written := ifDisabled
		if events == nil {
			written = nil
		}
		disabled, err = s.store.RemoveFactor(ctx, userID, factorID, ch.proof, events, written)
		return err
	})
	if err := s.finish(ctx, ch, "RemoveFactor", err); err != nil {
		return false, err
	}
	if disabled && s.events == nil {
		s.queue(ifDisabled)
	}
	return !disabled, nil
}

// precheck refuses, before an attempt is reserved, an operation on the
// user's factors that cannot succeed: for a locked user (a
// *RateLimitError, audited), without MFA (ErrNotEnabled), or when conflict
// says so. The Store operation checks again atomically; this only keeps a
// refused request from changing the failure count.
func (s *Service) precheck(ctx context.Context, op, userID string, cred credential, conflict func(State) error) error {
	st, err := s.store.Get(ctx, userID)
	if err != nil {
		return s.storeErr("Get", err)
	}
	now := s.cfg.Now()
	if limited := s.cfg.Throttle.Locked(st.Lockouts, st.LockedUntil, now); limited != nil {
		return s.refused(ctx, &check{op: op, userID: userID, cred: cred, now: now}, limited)
	}
	if !st.Enabled {
		return ErrNotEnabled
	}
	return conflict(st)
}

// newTOTPFactor mints a TOTP secret and returns its enrolment and the
// pending factor to store.
func (s *Service) newTOTPFactor(userID, account, name string) (*Enrollment, Factor, error) {
	if err := checkLabel("account", account); err != nil {
		return nil, Factor{}, err
	}
	secret, err := s.totp.newSecret(s.cfg.Rand)
	if err != nil {
		return nil, Factor{}, err
	}
	uri := s.totp.keyURI(s.cfg.Issuer, account, secret)
	png, err := qrPNG(uri)
	if err != nil {
		return nil, Factor{}, err
	}
	sealed, err := s.storedSecret(userID, secret)
	if err != nil {
		return nil, Factor{}, err
	}
	f := Factor{ID: newFactorID(), Type: FactorTOTP, Name: name, Secret: sealed, CreatedAt: s.cfg.Now()}
	enr := &Enrollment{FactorID: f.ID, Name: name, Secret: base32NoPad.EncodeToString(secret), URI: uri, QRCode: png}
	return enr, f, nil
}

// newFactorID returns a random factor ID: "f_" and 26 characters of
// base32 (130 bits).
func newFactorID() string { return "f_" + rand.Text() }

// findFactor returns the factor with this ID, or nil.
func findFactor(fs []Factor, id string) *Factor {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

// active counts the active factors.
func active(fs []Factor) int {
	n := 0
	for _, f := range fs {
		if f.Active {
			n++
		}
	}
	return n
}
