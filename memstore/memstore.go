// Package memstore is an in-memory mfa.Store for tests and single-process
// apps. State lives only as long as the process: a restart loses every
// enrolment, and two processes do not share state, so an app with several
// replicas needs the sqlstore package instead.
//
// One mutex guards all state; nothing runs in the background.
package memstore

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/identsphere/mfa"
)

var _ mfa.Store = (*Store)(nil)

// Store is an in-memory mfa.Store. The zero value is not usable; call New.
type Store struct {
	mu    sync.Mutex
	users map[string]*user
}

type user struct {
	state mfa.State           // RecoveryCodes is kept as len(codes)
	codes map[string]struct{} // recovery-code hashes
}

// New returns an empty Store.
func New() *Store {
	return &Store{users: make(map[string]*user)}
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
	return u.snapshot(), nil
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
	u.codes = make(map[string]struct{}, len(e.RecoveryCodes))
	for _, h := range e.RecoveryCodes {
		u.codes[string(h)] = struct{}{}
	}
	return nil
}

// AdvanceStep implements mfa.Store.
func (s *Store) AdvanceStep(ctx context.Context, userID string, step int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	switch {
	case u == nil || !u.state.Enabled:
		return mfa.ErrNotEnabled
	case step <= u.state.LastStep:
		return mfa.ErrReplay
	}
	u.state.LastStep = step
	u.resetThrottle()
	return nil
}

// ConsumeRecoveryCode implements mfa.Store.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil || !u.state.Enabled {
		return mfa.ErrNotEnabled
	}
	if _, ok := u.codes[string(hash)]; !ok {
		return mfa.ErrInvalidCode
	}
	delete(u.codes, string(hash))
	u.resetThrottle()
	return nil
}

// Delete implements mfa.Store.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, userID)
	return nil
}

// snapshot returns a copy of the state that shares no memory with u.
func (u *user) snapshot() mfa.State {
	st := u.state
	st.Secret = bytes.Clone(st.Secret)
	st.RecoveryCodes = len(u.codes)
	return st
}

func (u *user) resetThrottle() {
	u.state.Failures = 0
	u.state.Lockouts = 0
	u.state.LockedUntil = time.Time{}
}
