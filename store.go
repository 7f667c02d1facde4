package mfa

import (
	"context"
	"time"
)

// Store keeps the MFA state of every user. Each method is one atomic
// operation: an implementation must make it happen completely or not at all,
// and must carry every invariant inside the operation (a conditional UPDATE, a
// DELETE that reports whether the row existed), never in a read followed by a
// write. The Service never reads a value and writes it back for anything that
// must happen at most once, so a Store that honours these contracts is correct
// across goroutines, processes and replicas.
//
// Secrets and recovery-code hashes are opaque bytes to a Store: it compares
// and returns them exactly as it was given them.
//
// Errors: the outcomes named in each method's comment are returned as the
// package's sentinel errors (ErrSetupNotStarted, ErrAlreadyEnabled, …) or a
// *RateLimitError, unwrapped or wrapped with %w. Any other failure (a lost
// connection, a cancelled context) is returned as it is; the Service wraps it
// in a *StoreError. The package storetest checks an implementation against
// these contracts.
type Store interface {
	// Get returns the user's state. A user without state is not an error:
	// Get returns the zero State (Exists false) and a nil error. Get changes
	// nothing.
	Get(ctx context.Context, userID string) (State, error)

	// SetPending makes secret the user's pending secret, creating the user's
	// state when there is none and replacing any earlier pending secret. It
	// leaves the accepted time step and the failure count as they are. It
	// returns ErrAlreadyEnabled, changing nothing, when MFA is enabled.
	SetPending(ctx context.Context, userID string, secret []byte) error

	// ReserveAttempt takes one attempt from the user's failure budget before
	// a code is checked, and returns the state after the reservation
	// (including the secret to check the code against).
	//
	// It changes nothing and returns ErrSetupNotStarted (when a.Enabled is
	// false) or ErrNotEnabled (when a.Enabled is true) if the user has no
	// state; ErrAlreadyEnabled or ErrNotEnabled if the user's Enabled flag
	// differs from a.Enabled; and a *RateLimitError whose RetryAfter is
	// LockedUntil minus a.Now if LockedUntil is after a.Now.
	//
	// Otherwise it adds one to Failures. When a.Throttle.MaxFailures is
	// positive and Failures reaches it, the same operation starts a lockout:
	// LockedUntil becomes a.Now plus a.Throttle.Backoff(Lockouts), Lockouts
	// grows by one and Failures returns to zero. The caller sees that its
	// attempt was the last one before the lockout by LockedUntil being after
	// a.Now in the returned State. A later success (Enable, AdvanceStep,
	// ResetThrottle) clears the count and any lockout, so the budget is
	// exact under concurrency: at most MaxFailures checks run per lockout.
	ReserveAttempt(ctx context.Context, userID string, a Attempt) (State, error)

	// Enable turns MFA on with the pending secret the code was checked
	// against. In one atomic operation it checks, in this order: the user has
	// state (else ErrSetupNotStarted); MFA is not enabled (else
	// ErrAlreadyEnabled); the pending secret equals e.Secret (else
	// ErrInvalidCode: setup was called again after the code was checked);
	// e.Step is greater than LastStep (else ErrReplay). Then it sets Enabled,
	// LastStep = e.Step, clears Failures, Lockouts and LockedUntil, deletes
	// every recovery code of the user and stores e.RecoveryCodes. On any
	// error nothing changes. A repeated call returns ErrAlreadyEnabled.
	Enable(ctx context.Context, userID string, e Enablement) error

	// AdvanceStep accepts time step step for the user: if MFA is enabled and
	// step is greater than LastStep, it sets LastStep = step and clears
	// Failures, Lockouts and LockedUntil. It returns ErrNotEnabled when the
	// user has no state or MFA is not enabled, and ErrReplay when step is not
	// greater than LastStep; in both cases nothing changes. Of concurrent
	// calls with the same step exactly one succeeds.
	AdvanceStep(ctx context.Context, userID string, step int64) error

	// ConsumeRecoveryCode uses up the user's recovery code with this hash:
	// "delete this hash and tell me whether it existed". It returns
	// ErrNotEnabled when MFA is not enabled and ErrInvalidCode when the user
	// has no unused code with this hash (never had one, or it was consumed
	// already); in both cases nothing changes. It leaves the throttle as it
	// is (the Service calls ResetThrottle when a success must clear it). Of
	// concurrent calls with the same hash exactly one succeeds.
	ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) error

	// ResetThrottle clears Failures, Lockouts and LockedUntil, ending any
	// lockout. A user without state is not an error.
	ResetThrottle(ctx context.Context, userID string) error

	// ReplaceRecoveryCodes accepts time step step for the user, exactly as
	// AdvanceStep, and in the same atomic operation replaces all of the
	// user's recovery codes with hashes. On ErrNotEnabled or ErrReplay
	// nothing changes and the old batch stays valid.
	ReplaceRecoveryCodes(ctx context.Context, userID string, step int64, hashes [][]byte) error

	// Disable turns MFA off if the proof is accepted: p.Step must be greater
	// than LastStep, or p.RecoveryCode must be the hash of an unused code of
	// the user. In one atomic operation it then deletes all of the user's
	// state, recovery codes and tickets. It returns ErrNotEnabled when MFA is
	// not enabled, ErrReplay or ErrInvalidCode when the proof is refused; in
	// those cases nothing changes.
	Disable(ctx context.Context, userID string, p Proof) error

	// CreateTicket stores a login challenge ticket. A hash that exists
	// already is an error (tickets are random; a collision is a fault).
	CreateTicket(ctx context.Context, t Ticket) error

	// ReserveTicket takes one attempt of the ticket's own budget and
	// returns the user it is bound to. It returns ErrInvalidTicket, changing
	// nothing else, when there is no ticket with this hash, when it expired
	// (ExpiresAt not after now; an expired ticket may be deleted then), or
	// when maxAttempts attempts were taken already.
	ReserveTicket(ctx context.Context, hash []byte, now time.Time, maxAttempts int) (userID string, err error)

	// CompleteChallenge accepts the proof for the ticket's user and deletes
	// the ticket, in one atomic operation: the ticket with this hash must
	// exist, be bound to userID and not have expired at now (else
	// ErrInvalidTicket), and the proof must be accepted as by AdvanceStep
	// (p.Step, which also clears the throttle) or ConsumeRecoveryCode
	// (p.RecoveryCode), with their errors. On any error nothing changes. Of concurrent completions of one ticket at most one
	// succeeds.
	CompleteChallenge(ctx context.Context, hash []byte, userID string, p Proof, now time.Time) error

	// DeleteExpiredTickets deletes every ticket whose ExpiresAt is not after
	// now and returns how many it deleted.
	DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error)

	// ReplaceSecret swaps the user's stored secret (pending or active) for
	// new if it is still old, and reports whether it did; nothing else
	// changes. Key rotation uses it to re-seal a secret under a new key
	// without overwriting a concurrent Setup.
	ReplaceSecret(ctx context.Context, userID string, old, new []byte) (bool, error)

	// ListSecrets returns up to limit users with a stored secret whose ID
	// sorts after afterUserID ("" for the first page), in ascending order as
	// the store compares IDs, for walking all rows in batches.
	ListSecrets(ctx context.Context, afterUserID string, limit int) ([]UserSecret, error)

	// Delete removes all of the user's state: secret, time step, failure
	// count, recovery codes and tickets. Deleting a user without state is not
	// an error.
	Delete(ctx context.Context, userID string) error
}

// Proof is what a check accepted: a TOTP time step or the hash of a
// recovery code. Exactly one of the two is set.
type Proof struct {
	// Step is the time step a TOTP code matched; 0 when RecoveryCode is set.
	Step int64
	// RecoveryCode is the hash of a recovery code; nil when Step is set.
	RecoveryCode []byte
}

// UserSecret is one row of ListSecrets.
type UserSecret struct {
	UserID string
	Secret []byte
}

// Ticket is a login challenge: proof that the user passed the host's first
// factor, exchanged for a session once the second factor is checked.
type Ticket struct {
	// Hash is the SHA-256 of the token the client holds; the token itself
	// is never stored.
	Hash []byte
	// UserID is the user the ticket is bound to.
	UserID string
	// ExpiresAt is when the ticket stops working.
	ExpiresAt time.Time
}

// State is one user's MFA state as a Store holds it.
type State struct {
	// Exists is false for a user the Store holds nothing for.
	Exists bool
	// Enabled reports whether MFA is on.
	Enabled bool
	// Secret is the active secret when Enabled, the pending secret when not
	// (nil when setup was never started).
	Secret []byte
	// LastStep is the highest TOTP time step accepted for the user, 0 when
	// none was.
	LastStep int64
	// RecoveryCodes is the number of unused recovery codes. Only Get must
	// fill it; ReserveAttempt may leave it zero.
	RecoveryCodes int
	// Failures counts attempts since the last success or lockout.
	Failures int
	// Lockouts counts lockouts since the last success.
	Lockouts int
	// LockedUntil is the end of the current or last lockout (zero if none).
	LockedUntil time.Time
}

// Attempt is the argument of Store.ReserveAttempt.
type Attempt struct {
	// Enabled is the state the check needs: false for Enable (a pending
	// secret), true for checks of an enrolled user.
	Enabled bool
	// Now is the time of the check; the Store compares lockouts against it,
	// never against its own clock.
	Now time.Time
	// Throttle is the failure budget.
	Throttle Throttle
}

// Enablement is the argument of Store.Enable.
type Enablement struct {
	// Secret is the pending secret the code was checked against.
	Secret []byte
	// Step is the time step the code matched.
	Step int64
	// RecoveryCodes are the hashes of the new batch of recovery codes.
	RecoveryCodes [][]byte
}

// Throttle is the per-user failure budget for code checks.
type Throttle struct {
	// MaxFailures is the number of consecutive failed checks that starts a
	// lockout. Zero means 5; a negative value turns lockouts off.
	MaxFailures int
	// Lockout is the length of the first lockout. Zero means 30 seconds.
	// Each further lockout without a success in between doubles it.
	Lockout time.Duration
	// MaxLockout caps the lockout length. Zero means 15 minutes.
	MaxLockout time.Duration
	// MaxLockouts is the number of lockouts without a success in between
	// after which the lock is permanent (PermanentLockout): only
	// Service.Unlock or Service.DeleteUser lift it. With the default 5
	// failures the default 20 caps consecutive failed attempts at 100, as
	// NIST SP 800-63B section 5.2.2 asks. A negative value means never.
	MaxLockouts int
}

// PermanentLockout is the length of the last lockout MaxLockouts allows.
const PermanentLockout = 100 * 365 * 24 * time.Hour

// Backoff returns the length of a lockout that follows lockouts earlier
// lockouts without a success in between: Lockout doubled lockouts times,
// capped at MaxLockout; PermanentLockout when it is lockout number
// MaxLockouts (MaxLockouts zero or negative: never).
func (t Throttle) Backoff(lockouts int) time.Duration {
	if t.MaxLockouts > 0 && lockouts+1 >= t.MaxLockouts {
		return PermanentLockout
	}
	d := t.Lockout
	for i := 0; i < lockouts && d < t.MaxLockout; i++ {
		d *= 2
	}
	return min(d, t.MaxLockout)
}
