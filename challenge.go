package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// A login with MFA takes two requests. The host checks the password, sees
// Status.Enabled and, instead of a session, hands the client a token from
// StartChallenge. The client sends the token back with a code; Challenge
// checks both and says which user passed, and only then does the host
// issue the session. The token is the ticket's only key: random, stored only
// as its SHA-256, bound to one user, single-use on success, expiring, and
// with an attempt budget of its own on top of the user's.

// ticketBytes is the token's entropy: 256 bits.
const ticketBytes = 32

// maxTokenLength bounds what Challenge accepts as a token before hashing.
const maxTokenLength = 128

// StartChallenge mints a login challenge token for a user with MFA enabled,
// valid for Config.TicketTTL. Give it to the client in place of a session.
//
// Errors: ErrInvalidInput, ErrNotEnabled, ErrStore.
func (s *Service) StartChallenge(ctx context.Context, userID string) (token string, err error) {
	if err := checkUserID(userID); err != nil {
		return "", err
	}
	st, err := s.store.Get(ctx, userID)
	if err != nil {
		return "", s.storeErr("Get", err)
	}
	if !st.Enabled {
		return "", ErrNotEnabled
	}
	raw := make([]byte, ticketBytes)
	if _, err := io.ReadFull(s.cfg.Rand, raw); err != nil {
		return "", fmt.Errorf("mfa: reading random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	t := Ticket{Hash: ticketHash(token), UserID: userID, ExpiresAt: s.cfg.Now().Add(s.cfg.TicketTTL)}
	if err := s.store.CreateTicket(ctx, t); err != nil {
		return "", s.storeErr("CreateTicket", err)
	}
	return token, nil
}

// Challenge completes a login: it checks the token from StartChallenge and
// the user's credential (a TOTP code, a recovery code, or a security key's
// assertion begun with BeginKeyLogin), and says which user passed, to
// issue the session for. The token is used up on success; a recovery code
// is consumed; a TOTP time step is accepted once per authenticator. Of
// concurrent Challenges with one token at most one succeeds.
//
// The answers come in this order: a token that is unknown or expired is
// ErrInvalidTicket before anything else; then a credential of the wrong
// shape (ErrInvalidInput); then a lockout of the token's user
// (ErrRateLimited), also when the token is out of attempts; then a token
// out of attempts, or of a user the host deleted or who turned MFA off,
// (ErrInvalidTicket); then a refused credential (ErrInvalidCode, and
// ErrReplay, ErrInvalidCeremony, ErrCloneSuspected).
func (s *Service) Challenge(ctx context.Context, token string, c Credential) (Verification, error) {
	if token == "" {
		return Verification{}, &InputError{Field: "mfa_token", Problem: "mfa_token is required"}
	}
	if len(token) > maxTokenLength {
		return Verification{}, s.invalidTicket(ctx, c.method())
	}
	hash, now := ticketHash(token), s.cfg.Now()
	cred, err := s.parseCredential(c, takesAny)
	if err != nil {
		// A bad shape changes nothing, but an unknown token answers first.
		if _, lerr := s.store.LookupTicket(ctx, hash, now); lerr != nil {
			return Verification{}, s.ticketErr(ctx, cred.method, lerr)
		}
		return Verification{}, err
	}
	userID, err := s.store.ReserveTicket(ctx, hash, now, s.cfg.TicketAttempts)
	if err != nil {
		if userID != "" && errors.Is(err, ErrInvalidTicket) {
			// Out of attempts: a locked user hears so, with the wait.
			if st, gerr := s.store.Get(ctx, userID); gerr == nil {
				if limited := s.cfg.Throttle.Locked(st.Lockouts, st.LockedUntil, now); limited != nil {
					return Verification{}, s.refused(ctx, &check{op: "challenge", userID: userID, cred: cred, now: now}, limited)
				}
			}
		}
		return Verification{}, s.ticketErr(ctx, cred.method, err)
	}
	if _, err := s.account(ctx, userID); errors.Is(err, ErrUserNotFound) {
		return Verification{}, s.invalidTicket(ctx, cred.method)
	} else if err != nil {
		return Verification{}, err
	}
	ch, err := s.reserve(ctx, "challenge", userID, true, cred)
	if errors.Is(err, ErrNotEnabled) {
		return Verification{}, s.invalidTicket(ctx, cred.method) // MFA was turned off after the ticket was minted
	}
	if err != nil {
		return Verification{}, err
	}
	if err := s.match(ctx, ch, isActive); err != nil {
		return Verification{}, err
	}
	err = s.commit(ctx, ch.successEvents(EventChallengeSucceeded), func(events []Event) error {
		return s.store.CompleteChallenge(ctx, hash, userID, ch.proof, now, events)
	})
	if errors.Is(err, ErrInvalidTicket) || errors.Is(err, ErrNotEnabled) {
		return Verification{}, s.invalidTicket(ctx, cred.method)
	}
	if err := s.finish(ctx, ch, "CompleteChallenge", err); err != nil {
		return Verification{}, err
	}
	return ch.verification(), nil
}

// ticketErr returns the error of a refused ticket: ErrInvalidTicket,
// audited, or a *StoreError.
func (s *Service) ticketErr(ctx context.Context, method string, err error) error {
	if errors.Is(err, ErrInvalidTicket) {
		return s.invalidTicket(ctx, method)
	}
	return s.storeErr("ReserveTicket", err)
}

// invalidTicket audits a refused challenge token and returns
// ErrInvalidTicket.
func (s *Service) invalidTicket(ctx context.Context, method string) error {
	if err := s.record(ctx, Event{Type: EventChallengeFailed, Operation: "challenge", Method: method, Reason: ReasonInvalidTicket}); err != nil {
		return err
	}
	return ErrInvalidTicket
}

// DeleteExpiredTickets deletes expired login challenges and expired
// WebAuthn ceremonies, and returns how many. Expired ones never work and
// are also removed when presented; hosts may call this on a schedule to
// keep the tables small.
func (s *Service) DeleteExpiredTickets(ctx context.Context) (int, error) {
	n, err := s.store.DeleteExpiredTickets(ctx, s.cfg.Now())
	if err != nil {
		return 0, s.storeErr("DeleteExpiredTickets", err)
	}
	return n, nil
}

func ticketHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
