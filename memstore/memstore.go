// Package memstore is an in-memory mfa.Store for tests and single-process
// apps. State lives only as long as the process: a restart loses every
// enrolment, and two processes do not share state, so an app with several
// replicas needs the sqlstore package instead. It keeps no audit events:
// the Service delivers them from its in-memory queue.
//
// One mutex guards all state; nothing runs in the background. Expired
// login tickets are removed when presented or by DeleteExpiredTickets.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/identsphere/mfa"
)

var _ mfa.Store = (*Store)(nil)

// Store is an in-memory mfa.Store. The zero value is not usable; call New.
type Store struct {
	mu         sync.Mutex
	users      map[string]*user
	tickets    map[string]*ticket       // by hash
	ceremonies map[string]*mfa.Ceremony // by hash
}

type user struct {
	enabled bool
	// factors, oldest first, is copy-on-write: a change builds a new
	// slice (edit) and never writes to one already stored, nor to a
	// secret's bytes. So ReserveAttempt can hand the slice to the Service,
	// which only reads it, and Get can copy it after releasing the lock. A
	// check that fails allocates nothing under the lock; copying the
	// factors there kept VerifyParallel below its target.
	factors     []mfa.Factor
	codes       map[string]struct{} // unused recovery-code hashes
	failures    int
	lockouts    int
	lockedUntil time.Time
	handle      []byte // WebAuthn user handle
}

type ticket struct {
	userID    string
	expiresAt time.Time
	attempts  int
}

// New returns an empty Store.
func New() *Store {
	return &Store{users: make(map[string]*user), tickets: make(map[string]*ticket), ceremonies: make(map[string]*mfa.Ceremony)}
}

// Get implements mfa.Store.
func (s *Store) Get(ctx context.Context, userID string) (mfa.State, error) {
	st, err := locked(s, ctx, func() (mfa.State, error) {
		u := s.users[userID]
		if u == nil {
			return mfa.State{}, nil
		}
		return mfa.State{
			Enabled:       u.enabled,
			Factors:       u.factors, // copied below, outside the lock
			RecoveryCodes: len(u.codes),
			Failures:      u.failures,
			Lockouts:      u.lockouts,
			LockedUntil:   u.lockedUntil,
		}, nil
	})
	st.Factors = cloneFactors(st.Factors)
	return st, err
}

// SetPending implements mfa.Store.
func (s *Store) SetPending(ctx context.Context, userID string, f mfa.Factor, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		u := s.users[userID]
		if u == nil {
			u = &user{}
			s.users[userID] = u
		}
		if u.enabled {
			return mfa.ErrAlreadyEnabled
		}
		u.setPending(f)
		return nil
	})
}

// ReserveAttempt implements mfa.Store.
func (s *Store) ReserveAttempt(ctx context.Context, userID string, a mfa.Attempt) (mfa.Reservation, error) {
	return locked(s, ctx, func() (mfa.Reservation, error) {
		u := s.users[userID]
		switch {
		case u == nil && a.Enabled:
			return mfa.Reservation{}, mfa.ErrNotEnabled
		case u == nil:
			return mfa.Reservation{}, mfa.ErrSetupNotStarted
		}
		if limited := a.Throttle.Locked(u.lockouts, u.lockedUntil, a.Now); limited != nil {
			return mfa.Reservation{}, limited
		}
		switch {
		case u.enabled && !a.Enabled:
			return mfa.Reservation{}, mfa.ErrAlreadyEnabled
		case !u.enabled && a.Enabled:
			return mfa.Reservation{}, mfa.ErrNotEnabled
		}
		u.failures++
		if a.Throttle.MaxFailures > 0 && u.failures >= a.Throttle.MaxFailures {
			u.lockedUntil = a.Now.Add(a.Throttle.Backoff(u.lockouts))
			u.lockouts++
			u.failures = 0
		}
		return mfa.Reservation{
			Factors:     u.factors, // shared: never changed in place (see user.factors)
			Failures:    u.failures,
			Lockouts:    u.lockouts,
			LockedUntil: u.lockedUntil,
		}, nil
	})
}

// Enable implements mfa.Store.
func (s *Store) Enable(ctx context.Context, userID string, e mfa.Enablement, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		u := s.users[userID]
		switch {
		case u == nil:
			return mfa.ErrSetupNotStarted
		case u.enabled:
			return mfa.ErrAlreadyEnabled
		}
		f := u.factor(e.FactorID)
		switch {
		case f == nil || f.Active:
			return mfa.ErrInvalidCode
		case !f.Accepts(e.Counter):
			return mfa.ErrReplay
		case e.CredentialID != nil && s.credentialInUse(e.CredentialID):
			return mfa.ErrCredentialInUse
		}
		activate(u.edit(e.FactorID), e.Counter, e.Secret, e.CredentialID, e.UsedAt)
		u.enabled = true
		u.resetThrottle()
		u.setCodes(e.RecoveryCodes)
		return nil
	})
}

// Accept implements mfa.Store.
func (s *Store) Accept(ctx context.Context, userID string, p mfa.Proof, _ []mfa.Event) error {
	return s.do(ctx, func() error { return s.accept(userID, p) })
}

// ReplaceRecoveryCodes implements mfa.Store.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, p mfa.Proof, hashes [][]byte, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		if err := s.accept(userID, p); err != nil {
			return err
		}
		s.users[userID].setCodes(hashes)
		return nil
	})
}

// Disable implements mfa.Store.
func (s *Store) Disable(ctx context.Context, userID string, p mfa.Proof, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		if err := s.accept(userID, p); err != nil {
			return err
		}
		s.delete(userID)
		return nil
	})
}

// AddFactor implements mfa.Store.
func (s *Store) AddFactor(ctx context.Context, userID string, p mfa.Proof, f mfa.Factor, max int, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		if u := s.users[userID]; u != nil && u.enabled && u.active() >= max {
			return mfa.ErrTooManyFactors
		}
		if err := s.accept(userID, p); err != nil {
			return err
		}
		s.users[userID].setPending(f)
		return nil
	})
}

// ConfirmFactor implements mfa.Store.
func (s *Store) ConfirmFactor(ctx context.Context, userID string, c mfa.Confirmation, max int, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		u := s.users[userID]
		if u == nil || !u.enabled {
			return mfa.ErrNotEnabled
		}
		f := u.factor(c.FactorID)
		switch {
		case f == nil || f.Active:
			return mfa.ErrFactorNotFound
		case u.active() >= max:
			return mfa.ErrTooManyFactors
		case !f.Accepts(c.Counter):
			return mfa.ErrReplay
		case c.CredentialID != nil && s.credentialInUse(c.CredentialID):
			return mfa.ErrCredentialInUse
		}
		activate(u.edit(c.FactorID), c.Counter, c.Secret, c.CredentialID, c.UsedAt)
		u.resetThrottle()
		return nil
	})
}

// RemoveFactor implements mfa.Store.
func (s *Store) RemoveFactor(ctx context.Context, userID, factorID string, p mfa.Proof, _, _ []mfa.Event) (bool, error) {
	return locked(s, ctx, func() (bool, error) {
		if u := s.users[userID]; u != nil && u.enabled && u.factor(factorID) == nil {
			return false, mfa.ErrFactorNotFound
		}
		if err := s.accept(userID, p); err != nil {
			return false, err
		}
		u := s.users[userID]
		u.factors = slices.DeleteFunc(slices.Clone(u.factors), func(f mfa.Factor) bool { return f.ID == factorID })
		if u.active() > 0 {
			return false, nil
		}
		s.delete(userID)
		return true, nil
	})
}

// ResetThrottle implements mfa.Store.
func (s *Store) ResetThrottle(ctx context.Context, userID string, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		if u := s.users[userID]; u != nil {
			u.resetThrottle()
		}
		return nil
	})
}

// CreateTicket implements mfa.Store.
func (s *Store) CreateTicket(ctx context.Context, t mfa.Ticket) error {
	return s.do(ctx, func() error {
		if _, ok := s.tickets[string(t.Hash)]; ok {
			return errors.New("memstore: ticket hash exists")
		}
		s.tickets[string(t.Hash)] = &ticket{userID: t.UserID, expiresAt: t.ExpiresAt}
		return nil
	})
}

// ReserveTicket implements mfa.Store.
func (s *Store) ReserveTicket(ctx context.Context, hash []byte, now time.Time, maxAttempts int) (string, error) {
	return locked(s, ctx, func() (string, error) {
		t := s.liveTicket(hash, now)
		switch {
		case t == nil:
			return "", mfa.ErrInvalidTicket
		case t.attempts >= maxAttempts:
			return t.userID, mfa.ErrInvalidTicket
		}
		t.attempts++
		return t.userID, nil
	})
}

// LookupTicket implements mfa.Store.
func (s *Store) LookupTicket(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return locked(s, ctx, func() (string, error) {
		if t := s.tickets[string(hash)]; t != nil && t.expiresAt.After(now) {
			return t.userID, nil
		}
		return "", mfa.ErrInvalidTicket
	})
}

// CompleteChallenge implements mfa.Store.
func (s *Store) CompleteChallenge(ctx context.Context, hash []byte, userID string, p mfa.Proof, now time.Time, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		t := s.liveTicket(hash, now)
		if t == nil || t.userID != userID {
			return mfa.ErrInvalidTicket
		}
		if err := s.accept(userID, p); err != nil {
			return err
		}
		delete(s.tickets, string(hash))
		return nil
	})
}

// DeleteExpiredTickets implements mfa.Store.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	return locked(s, ctx, func() (int, error) {
		n := 0
		for h, t := range s.tickets {
			if !t.expiresAt.After(now) {
				delete(s.tickets, h)
				n++
			}
		}
		for h, c := range s.ceremonies {
			if !c.ExpiresAt.After(now) {
				delete(s.ceremonies, h)
				n++
			}
		}
		return n, nil
	})
}

// CreateCeremony implements mfa.Store.
func (s *Store) CreateCeremony(ctx context.Context, c mfa.Ceremony) error {
	return s.do(ctx, func() error {
		if _, ok := s.ceremonies[string(c.Hash)]; ok {
			return errors.New("memstore: ceremony hash exists")
		}
		c.Data = bytes.Clone(c.Data)
		s.ceremonies[string(c.Hash)] = &c
		return nil
	})
}

// TakeCeremony implements mfa.Store.
func (s *Store) TakeCeremony(ctx context.Context, hash []byte, now time.Time) (mfa.Ceremony, error) {
	return locked(s, ctx, func() (mfa.Ceremony, error) {
		c := s.ceremonies[string(hash)]
		delete(s.ceremonies, string(hash))
		if c == nil || !c.ExpiresAt.After(now) {
			return mfa.Ceremony{}, mfa.ErrInvalidCeremony
		}
		return *c, nil
	})
}

// UserHandle implements mfa.Store.
func (s *Store) UserHandle(ctx context.Context, userID string, candidate []byte) ([]byte, error) {
	return locked(s, ctx, func() ([]byte, error) {
		u := s.users[userID]
		if u == nil {
			u = &user{}
			s.users[userID] = u
		}
		if u.handle == nil {
			u.handle = bytes.Clone(candidate)
		}
		return bytes.Clone(u.handle), nil
	})
}

// ReplaceSecret implements mfa.Store.
func (s *Store) ReplaceSecret(ctx context.Context, factorID string, old, new []byte) (bool, error) {
	return locked(s, ctx, func() (bool, error) {
		for _, u := range s.users {
			if f := u.factor(factorID); f != nil && bytes.Equal(f.Secret, old) {
				u.edit(factorID).Secret = bytes.Clone(new)
				return true, nil
			}
		}
		return false, nil
	})
}

// ListSecrets implements mfa.Store. It sorts every factor on each call:
// fine for the sizes an in-memory store holds.
func (s *Store) ListSecrets(ctx context.Context, afterFactorID string, limit int) ([]mfa.FactorSecret, error) {
	return locked(s, ctx, func() ([]mfa.FactorSecret, error) {
		var out []mfa.FactorSecret
		for id, u := range s.users {
			for _, f := range u.factors {
				if f.Type == mfa.FactorTOTP && f.ID > afterFactorID {
					out = append(out, mfa.FactorSecret{UserID: id, FactorID: f.ID, Secret: bytes.Clone(f.Secret)})
				}
			}
		}
		slices.SortFunc(out, func(a, b mfa.FactorSecret) int { return strings.Compare(a.FactorID, b.FactorID) })
		return out[:min(limit, len(out))], nil
	})
}

// Delete implements mfa.Store.
func (s *Store) Delete(ctx context.Context, userID string, _ []mfa.Event) error {
	return s.do(ctx, func() error {
		s.delete(userID)
		return nil
	})
}

// do runs op under the store's lock unless ctx is done.
func (s *Store) do(ctx context.Context, op func() error) error {
	_, err := locked(s, ctx, func() (struct{}, error) { return struct{}{}, op() })
	return err
}

// locked runs op under the store's lock unless ctx is done.
func locked[T any](s *Store, ctx context.Context, op func() (T, error)) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return op()
}

// accept checks and applies a proof for an enabled user, as mfa.Store's
// Accept describes. It changes nothing on error. s.mu is held.
func (s *Store) accept(userID string, p mfa.Proof) error {
	u := s.users[userID]
	if u == nil || !u.enabled {
		return mfa.ErrNotEnabled
	}
	if p.FactorID == "" {
		hash, ok := u.unusedCode(p.RecoveryCode)
		if !ok {
			return mfa.ErrInvalidCode
		}
		delete(u.codes, hash)
		u.resetThrottle()
		return nil
	}
	f := u.factor(p.FactorID)
	switch {
	case f == nil || !f.Active:
		return mfa.ErrInvalidCode
	case !f.Accepts(p.Counter):
		return mfa.ErrReplay
	}
	f = u.edit(p.FactorID)
	f.Counter, f.LastUsedAt = p.Counter, p.UsedAt
	if p.Secret != nil {
		f.Secret = bytes.Clone(p.Secret)
	}
	u.resetThrottle()
	return nil
}

// credentialInUse reports whether any factor has this credential ID.
// s.mu is held.
func (s *Store) credentialInUse(id []byte) bool {
	for _, u := range s.users {
		for _, f := range u.factors {
			if bytes.Equal(f.CredentialID, id) {
				return true
			}
		}
	}
	return false
}

// liveTicket returns the ticket with this hash if it has not expired,
// deleting it if it has. s.mu is held.
func (s *Store) liveTicket(hash []byte, now time.Time) *ticket {
	t := s.tickets[string(hash)]
	if t != nil && !t.expiresAt.After(now) {
		delete(s.tickets, string(hash))
		return nil
	}
	return t
}

// delete removes the user's state, tickets and ceremonies. s.mu is held.
func (s *Store) delete(userID string) {
	delete(s.users, userID)
	for h, t := range s.tickets {
		if t.userID == userID {
			delete(s.tickets, h)
		}
	}
	for h, c := range s.ceremonies {
		if c.UserID == userID {
			delete(s.ceremonies, h)
		}
	}
}

// factor returns the user's factor with this ID, or nil, for reading; a
// change goes through edit.
func (u *user) factor(id string) *mfa.Factor {
	for i := range u.factors {
		if u.factors[i].ID == id {
			return &u.factors[i]
		}
	}
	return nil
}

// edit gives the user a new copy of its factors and returns the one with
// this ID in it, or nil, for a change (see user.factors).
func (u *user) edit(id string) *mfa.Factor {
	u.factors = slices.Clone(u.factors)
	return u.factor(id)
}

// active counts the user's active factors.
func (u *user) active() int {
	n := 0
	for _, f := range u.factors {
		if f.Active {
			n++
		}
	}
	return n
}

// setPending replaces the user's pending factor with a copy of f.
func (u *user) setPending(f mfa.Factor) {
	u.factors = slices.DeleteFunc(slices.Clone(u.factors), func(f mfa.Factor) bool { return !f.Active })
	f.Active = false
	f.Secret, f.CredentialID = bytes.Clone(f.Secret), bytes.Clone(f.CredentialID)
	u.factors = append(u.factors, f)
}

// unusedCode returns the key under which an unused code with one of these
// hashes is kept.
func (u *user) unusedCode(hashes [][]byte) (string, bool) {
	for _, h := range hashes {
		if _, ok := u.codes[string(h)]; ok {
			return string(h), true
		}
	}
	return "", false
}

// setCodes replaces the user's recovery codes.
func (u *user) setCodes(hashes [][]byte) {
	u.codes = make(map[string]struct{}, len(hashes))
	for _, h := range hashes {
		u.codes[string(h)] = struct{}{}
	}
}

func (u *user) resetThrottle() {
	u.failures, u.lockouts, u.lockedUntil = 0, 0, time.Time{}
}

// activate makes a pending factor active with its first accepted counter
// and, when given, its secret and credential ID.
func activate(f *mfa.Factor, counter int64, secret, credentialID []byte, usedAt time.Time) {
	f.Active, f.Counter, f.LastUsedAt = true, counter, usedAt
	if secret != nil {
		f.Secret = bytes.Clone(secret)
	}
	if credentialID != nil {
		f.CredentialID = bytes.Clone(credentialID)
	}
}

// cloneFactors returns copies that share no memory with the store.
func cloneFactors(fs []mfa.Factor) []mfa.Factor {
	out := slices.Clone(fs)
	for i := range out {
		out[i].Secret = bytes.Clone(out[i].Secret)
		out[i].CredentialID = bytes.Clone(out[i].CredentialID)
	}
	return out
}
