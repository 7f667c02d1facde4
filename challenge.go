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
// checks both and returns the user ID, and only then does the host issue
// the session. The token is the ticket's only key: random, stored only as
// its SHA-256, bound to one user, single-use on success, expiring, and with
// an attempt budget of its own on top of the user's.

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
// the user's TOTP code or recovery code, and returns the user ID to issue
// the session for. The token is used up on success; a recovery code is
// consumed; a TOTP time step is accepted once. Of concurrent Challenges
// with one token at most one succeeds.
//
// Errors: ErrInvalidInput (no token, or a code of the wrong shape),
// ErrInvalidTicket (unknown, expired, used or out of attempts),
// ErrInvalidCode (and ErrReplay), ErrRateLimited, ErrStore.
func (s *Service) Challenge(ctx context.Context, token string, c Credential) (userID string, err error) {
	if token == "" {
		return "", &InputError{Field: "mfa_token", Problem: "is required"}
	}
	if len(token) > maxTokenLength {
		return "", ErrInvalidTicket
	}
	hash := ticketHash(token)
	now := s.cfg.Now()
	// The user ID is not known yet; a placeholder passes the shape check.
	cred, err := s.parseCredential("-", c, true)
	if err != nil {
		return "", err
	}
	userID, err = s.store.ReserveTicket(ctx, hash, now, s.cfg.TicketAttempts)
	switch {
	case errors.Is(err, ErrInvalidTicket):
		s.emit(ctx, Event{Type: EventChallengeFailed, Operation: "challenge", Method: cred.method, Reason: ReasonInvalidTicket})
		return "", ErrInvalidTicket
	case err != nil:
		return "", s.storeErr("ReserveTicket", err)
	}
	var ch check
	err = s.begin(ctx, &ch, "challenge", userID, true, cred)
	if errors.Is(err, ErrNotEnabled) {
		return "", ErrInvalidTicket // MFA was turned off after the ticket was minted
	}
	if err != nil {
		return "", err
	}
	err = ch.try(func(p Proof) error { return s.store.CompleteChallenge(ctx, hash, userID, p, now) })
	if err := s.finish(ctx, &ch, "CompleteChallenge", err); err != nil {
		if errors.Is(err, ErrNotEnabled) {
			return "", ErrInvalidTicket
		}
		return "", err
	}
	s.resealIfStale(ctx, &ch)
	if ch.method == MethodRecoveryCode {
		s.emit(ctx, ch.event(EventRecoveryCodeUsed))
	}
	s.emit(ctx, ch.event(EventChallengeSucceeded))
	return userID, nil
}

// DeleteExpiredTickets deletes expired login challenges and returns how
// many. Expired tickets never work and are also removed when presented;
// hosts may call this on a schedule to keep the table small.
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
