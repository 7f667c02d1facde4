// Package memstore is an in-memory mfa.Store for tests and single-process
// apps. State lives only as long as the process: a restart loses every
// enrolment, and two processes do not share state, so an app with several
// replicas needs the sqlstore package instead.
//
// One mutex guards all state; nothing runs in the background. Expired
// login tickets are removed when presented or by DeleteExpiredTickets.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/identsphere/mfa"
)

var _ mfa.Store = (*Store)(nil)

// Store is an in-memory mfa.Store. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	users   map[string]*user
	tickets map[string]*ticket // by hash
}

type ticket struct {
	userID    string
	expiresAt time.Time
	attempts  int
}

type user struct {
	state mfa.State           // RecoveryCodes is kept as len(codes)
	codes map[string]struct{} // recovery-code hashes
}

// New returns an empty Store.
func New() *Store {
	return &Store{users: make(map[string]*user), tickets: make(map[string]*ticket)}
}

// Get implements mfa.Store.
func (s *Store) Get(ctx context.Context, userID string) (mfa.State, error) {
	if err := ctx.Err(); err != nil {
		return mfa.State{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		return mfa.State{}, nil
	}
	return u.snapshot(), nil
}

// SetPending implements mfa.Store.
func (s *Store) SetPending(ctx context.Context, userID string, secret []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		u = &user{state: mfa.State{Exists: true}}
		s.users[userID] = u
	}
	if u.state.Enabled {
		return mfa.ErrAlreadyEnabled
	}
	u.state.Secret = bytes.Clone(secret)
	return nil
}

// ReserveAttempt implements mfa.Store.
func (s *Store) ReserveAttempt(ctx context.Context, userID string, a mfa.Attempt) (mfa.State, error) {
	if err := ctx.Err(); err != nil {
		return mfa.State{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	switch {
	case u == nil && a.Enabled:
		return mfa.State{}, mfa.ErrNotEnabled
	case u == nil:
		return mfa.State{}, mfa.ErrSetupNotStarted
	case u.state.Enabled && !a.Enabled:
		return mfa.State{}, mfa.ErrAlreadyEnabled
	case !u.state.Enabled && a.Enabled:
		return mfa.State{}, mfa.ErrNotEnabled
	case u.state.LockedUntil.After(a.Now):
		return mfa.State{}, &mfa.RateLimitError{RetryAfter: u.state.LockedUntil.Sub(a.Now)}
	}
	st := &u.state
	st.Failures++
	if a.Throttle.MaxFailures > 0 && st.Failures >= a.Throttle.MaxFailures {
		st.LockedUntil = a.Now.Add(a.Throttle.Backoff(st.Lockouts))
		st.Lockouts++
		st.Failures = 0
	}
	return u.snapshotWithoutCount(), nil
}

// Enable implements mfa.Store.
func (s *Store) Enable(ctx context.Context, userID string, e mfa.Enablement) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	switch {
	case u == nil:
		return mfa.ErrSetupNotStarted
	case u.state.Enabled:
		return mfa.ErrAlreadyEnabled
	case !bytes.Equal(u.state.Secret, e.Secret):
		return mfa.ErrInvalidCode
	case e.Step <= u.state.LastStep:
		return mfa.ErrReplay
	}
	u.state.Enabled = true
	u.state.LastStep = e.Step
	u.resetThrottle()
	u.setCodes(e.RecoveryCodes)
	return nil
}

// AdvanceStep implements mfa.Store.
func (s *Store) AdvanceStep(ctx context.Context, userID string, step int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accept(userID, mfa.Proof{Step: step})
}

// ConsumeRecoveryCode implements mfa.Store.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accept(userID, mfa.Proof{RecoveryCode: hash})
}

// ResetThrottle implements mfa.Store.
func (s *Store) ResetThrottle(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		u.resetThrottle()
	}
	return nil
}

// ReplaceRecoveryCodes implements mfa.Store.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, step int64, hashes [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.accept(userID, mfa.Proof{Step: step}); err != nil {
		return err
	}
	s.users[userID].setCodes(hashes)
	return nil
}

// Disable implements mfa.Store.
func (s *Store) Disable(ctx context.Context, userID string, p mfa.Proof) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.accept(userID, p); err != nil {
		return err
	}
	s.delete(userID)
	return nil
}

// CreateTicket implements mfa.Store.
func (s *Store) CreateTicket(ctx context.Context, t mfa.Ticket) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tickets[string(t.Hash)]; ok {
		return errors.New("memstore: ticket hash exists")
	}
	s.tickets[string(t.Hash)] = &ticket{userID: t.UserID, expiresAt: t.ExpiresAt}
	return nil
}

// ReserveTicket implements mfa.Store.
func (s *Store) ReserveTicket(ctx context.Context, hash []byte, now time.Time, maxAttempts int) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.liveTicket(hash, now)
	if t == nil || t.attempts >= maxAttempts {
		return "", mfa.ErrInvalidTicket
	}
	t.attempts++
	return t.userID, nil
}

// CompleteChallenge implements mfa.Store.
func (s *Store) CompleteChallenge(ctx context.Context, hash []byte, userID string, p mfa.Proof, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.liveTicket(hash, now)
	if t == nil || t.userID != userID {
		return mfa.ErrInvalidTicket
	}
	if err := s.accept(userID, p); err != nil {
		return err
	}
	delete(s.tickets, string(hash))
	return nil
}

// DeleteExpiredTickets implements mfa.Store.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, t := range s.tickets {
		if !t.expiresAt.After(now) {
			delete(s.tickets, h)
			n++
		}
	}
	return n, nil
}

// accept checks and applies a proof for an enabled user: a newer time step
// (which clears the throttle) or an unused recovery code. It changes
// nothing on error. s.mu is held.
func (s *Store) accept(userID string, p mfa.Proof) error {
	u := s.users[userID]
	if u == nil || !u.state.Enabled {
		return mfa.ErrNotEnabled
	}
	if p.RecoveryCode != nil {
		if _, ok := u.codes[string(p.RecoveryCode)]; !ok {
			return mfa.ErrInvalidCode
		}
		delete(u.codes, string(p.RecoveryCode))
		return nil
	}
	if p.Step <= u.state.LastStep {
		return mfa.ErrReplay
	}
	u.state.LastStep = p.Step
	u.resetThrottle()
	return nil
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

// ReplaceSecret implements mfa.Store.
func (s *Store) ReplaceSecret(ctx context.Context, userID string, old, new []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil || !bytes.Equal(u.state.Secret, old) {
		return false, nil
	}
	u.state.Secret = bytes.Clone(new)
	return true, nil
}

// ListSecrets implements mfa.Store. It sorts every user ID on each call:
// fine for the sizes an in-memory store holds.
func (s *Store) ListSecrets(ctx context.Context, afterUserID string, limit int) ([]mfa.UserSecret, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.users))
	for id := range s.users {
		if id > afterUserID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []mfa.UserSecret
	for _, id := range ids[:min(limit, len(ids))] {
		out = append(out, mfa.UserSecret{UserID: id, Secret: bytes.Clone(s.users[id].state.Secret)})
	}
	return out, nil
}

// Delete implements mfa.Store.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delete(userID)
	return nil
}

// delete removes the user's state and tickets. s.mu is held.
func (s *Store) delete(userID string) {
	delete(s.users, userID)
	for h, t := range s.tickets {
		if t.userID == userID {
			delete(s.tickets, h)
		}
	}
}

// snapshot returns a copy of the state that shares no memory with u.
func (u *user) snapshot() mfa.State {
	st := u.snapshotWithoutCount()
	st.RecoveryCodes = len(u.codes)
	return st
}

// snapshotWithoutCount is snapshot without RecoveryCodes, which
// ReserveAttempt need not fill: reading the codes map is one more cache
// miss per check in a large store.
func (u *user) snapshotWithoutCount() mfa.State {
	st := u.state
	st.Secret = bytes.Clone(st.Secret)
	return st
}

// setCodes replaces the user's recovery codes.
func (u *user) setCodes(hashes [][]byte) {
	u.codes = make(map[string]struct{}, len(hashes))
	for _, h := range hashes {
		u.codes[string(h)] = struct{}{}
	}
}

func (u *user) resetThrottle() {
	u.state.Failures = 0
	u.state.Lockouts = 0
	u.state.LockedUntil = time.Time{}
}
