package mfa

import (
	"context"
	"time"
)

// Store keeps the MFA state of every user. Each method is one atomic
// operation: an implementation must make it happen completely or not at all,
// and must carry every invariant inside the operation (a conditional UPDATE, a
// DELETE that reports whether the row existed, a row lock), never in a read
// followed by a write. The Service never reads a value and writes it back for
// anything that must happen at most once, so a Store that honours these
// contracts is correct across goroutines, processes and replicas.
//
// Secrets, credential data and recovery-code hashes are opaque bytes to a
// Store: it compares and returns them exactly as it was given them.
//
// Every method that changes state takes the audit events that record the
// change (events). A Store that keeps events itself (an EventStore) writes
// them in the same atomic operation, and only when the operation succeeds;
// any other Store ignores them and the Service delivers them from its
// in-memory queue.
//
// Errors: the outcomes named in each method's comment are returned as the
// package's sentinel errors (ErrSetupNotStarted, ErrAlreadyEnabled, …) or a
// *RateLimitError, unwrapped or wrapped with %w. Any other failure (a lost
// connection, a cancelled context) is returned as it is; the Service wraps it
// in a *StoreError. The package storetest checks an implementation against
// these contracts.
type Store interface {
	// Get returns the user's state. A user without state is not an error:
	// Get returns the zero State and a nil error. Get changes nothing.
	Get(ctx context.Context, userID string) (State, error)

	// SetPending makes f the user's pending factor while MFA is off: it
	// creates the user's state when there is none and replaces any earlier
	// pending factor, leaving the failure count as it is. It returns
	// ErrAlreadyEnabled, changing nothing, when MFA is enabled.
	SetPending(ctx context.Context, userID string, f Factor, events []Event) error

	// ReserveAttempt takes one attempt from the user's failure budget before
	// a credential is checked, and returns the user's factors to check it
	// against.
	//
	// It changes nothing and returns, in this order of precedence: when the
	// user has no state, ErrSetupNotStarted (a.Enabled false) or
	// ErrNotEnabled (a.Enabled true); when the user is locked, a
	// *RateLimitError; when the user's Enabled flag differs from a.Enabled,
	// ErrAlreadyEnabled or ErrNotEnabled. The user is locked while
	// LockedUntil is after a.Now (RetryAfter: LockedUntil minus a.Now), and
	// for good once a.Throttle.MaxLockouts is positive and Lockouts has
	// reached it (Permanent set, RetryAfter zero).
	//
	// Otherwise it adds one to Failures. When a.Throttle.MaxFailures is
	// positive and Failures reaches it, the same operation starts a lockout:
	// LockedUntil becomes a.Now plus a.Throttle.Backoff(Lockouts), Lockouts
	// grows by one and Failures returns to zero. The caller sees that its
	// attempt was the last one before the lockout in the returned
	// Reservation. Every operation that accepts a proof clears the count
	// and any lockout, so the budget is exact under concurrency: at most
	// MaxFailures checks run per lockout.
	ReserveAttempt(ctx context.Context, userID string, a Attempt) (Reservation, error)

	// Enable turns MFA on by activating the pending factor e.FactorID the
	// credential was checked against. In one atomic operation it checks, in
	// this order: the user has state (else ErrSetupNotStarted); MFA is not
	// enabled (else ErrAlreadyEnabled); e.FactorID is the user's pending
	// factor (else ErrInvalidCode: setup was called again after the check);
	// e.Counter is accepted as by Accept (else ErrReplay). Then it activates
	// the factor (setting its Counter, LastUsedAt and, when given, Secret and
	// CredentialID), sets Enabled, clears the failure count and any
	// lockout, deletes every recovery code of the user and stores
	// e.RecoveryCodes. A CredentialID registered to any factor already is
	// ErrCredentialInUse. On any error nothing changes.
	Enable(ctx context.Context, userID string, e Enablement, events []Event) error

	// Accept accepts a proof for a user with MFA enabled and clears the
	// failure count and any lockout, in one atomic operation:
	//
	//   - A factor proof (p.FactorID set) is accepted when that factor is an
	//     active factor of the user and p.Counter is greater than its
	//     Counter, or both are zero for a WebAuthn factor (a key without a
	//     signature counter). The factor's Counter becomes p.Counter, its
	//     LastUsedAt p.UsedAt, and its Secret p.Secret when that is set. A
	//     counter that is not greater is ErrReplay; a factor that is gone
	//     is ErrInvalidCode.
	//   - A recovery-code proof (p.RecoveryCode set) is accepted when the
	//     user has an unused code whose hash is one of p.RecoveryCode
	//     (the code hashed under each key of the ring); the code is used
	//     up. Otherwise ErrInvalidCode.
	//
	// ErrNotEnabled when MFA is not enabled. On any error nothing changes.
	// Of concurrent calls with the same proof exactly one succeeds.
	Accept(ctx context.Context, userID string, p Proof, events []Event) error

	// ReplaceRecoveryCodes accepts p exactly as Accept and, in the same
	// atomic operation, replaces all of the user's recovery codes with
	// hashes. On any error nothing changes and the old batch stays valid.
	ReplaceRecoveryCodes(ctx context.Context, userID string, p Proof, hashes [][]byte, events []Event) error

	// Disable accepts p exactly as Accept and, in the same atomic operation,
	// deletes all of the user's state, as Delete does. With Accept's
	// errors, nothing changes.
	Disable(ctx context.Context, userID string, p Proof, events []Event) error

	// AddFactor accepts p exactly as Accept and, in the same atomic
	// operation, makes f a pending factor of the user, replacing any earlier
	// pending factor. When the user already has max active factors it
	// returns ErrTooManyFactors; with that and Accept's errors nothing
	// changes.
	AddFactor(ctx context.Context, userID string, p Proof, f Factor, max int, events []Event) error

	// ConfirmFactor activates the pending factor c.FactorID of a user with
	// MFA enabled: confirm-if-pending. In one atomic operation it checks, in
	// this order: MFA is enabled (else ErrNotEnabled); the user has a
	// pending factor with that ID (else ErrFactorNotFound, also for another
	// user's factor); the user has fewer than max active factors (else
	// ErrTooManyFactors); c.Counter is accepted as by Accept (else
	// ErrReplay); a CredentialID is not registered already (else
	// ErrCredentialInUse). Then it activates the factor as Enable does,
	// clears the failure count and any lockout, and leaves the recovery
	// codes alone. Of concurrent confirms of one factor exactly one
	// succeeds.
	ConfirmFactor(ctx context.Context, userID string, c Confirmation, max int, events []Event) error

	// RemoveFactor accepts p exactly as Accept and, in the same atomic
	// operation, removes the user's factor factorID (active or pending).
	// When that was the user's last active factor it removes all of the
	// user's state, exactly as Disable, reports disabled, and writes
	// ifDisabled after events. A factorID the user does not have is
	// ErrFactorNotFound; with that and Accept's errors nothing changes.
	// However removals race, MFA is never left enabled without an active
	// factor.
	RemoveFactor(ctx context.Context, userID, factorID string, p Proof, events, ifDisabled []Event) (disabled bool, err error)

	// ResetThrottle clears Failures, Lockouts and LockedUntil, ending any
	// lockout. A user without state is not an error; the events are
	// written either way.
	ResetThrottle(ctx context.Context, userID string, events []Event) error

	// CreateTicket stores a login challenge ticket. A hash that exists
	// already is an error (tickets are random; a collision is a fault).
	CreateTicket(ctx context.Context, t Ticket) error

	// ReserveTicket takes one attempt of the ticket's own budget and
	// returns the user it is bound to. When there is no ticket with this
	// hash or it expired (ExpiresAt not after now; an expired ticket may be
	// deleted then) it returns "" and ErrInvalidTicket. When maxAttempts
	// attempts were taken already it returns the ticket's user ID with
	// ErrInvalidTicket, so that the caller can tell a locked user so.
	ReserveTicket(ctx context.Context, hash []byte, now time.Time, maxAttempts int) (userID string, err error)

	// LookupTicket returns the user of a live ticket without taking an
	// attempt; "" and ErrInvalidTicket when there is none. It changes
	// nothing.
	LookupTicket(ctx context.Context, hash []byte, now time.Time) (userID string, err error)

	// CompleteChallenge accepts p for the ticket's user exactly as Accept
	// and deletes the ticket, in one atomic operation: the ticket with this
	// hash must exist, be bound to userID and not have expired at now (else
	// ErrInvalidTicket). With Accept's errors nothing changes. Of concurrent
	// completions of one ticket at most one succeeds.
	CompleteChallenge(ctx context.Context, hash []byte, userID string, p Proof, now time.Time, events []Event) error

	// DeleteExpiredTickets deletes every ticket and every ceremony whose
	// ExpiresAt is not after now and returns how many it deleted.
	DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error)

	// CreateCeremony stores the state of a WebAuthn ceremony. A hash that
	// exists already is an error.
	CreateCeremony(ctx context.Context, c Ceremony) error

	// TakeCeremony deletes the ceremony with this hash and returns it, in
	// one atomic operation, so that a ceremony is finished at most once,
	// whether the finish succeeds or not. It returns ErrInvalidCeremony when
	// there is none or it expired (ExpiresAt not after now; an expired one
	// may be deleted then). Of concurrent calls with one hash at most one
	// returns the ceremony.
	TakeCeremony(ctx context.Context, hash []byte, now time.Time) (Ceremony, error)

	// UserHandle returns the user's WebAuthn user handle. When the user
	// has none it stores candidate as the handle, creating the user's state
	// if needed, and returns it. Concurrent calls all return the same
	// handle.
	UserHandle(ctx context.Context, userID string, candidate []byte) ([]byte, error)

	// ReplaceSecret swaps the secret of factor factorID for new if it is
	// still old, and reports whether it did; nothing else changes. Key
	// rotation uses it to re-seal a secret under a new key without
	// overwriting a concurrent change.
	ReplaceSecret(ctx context.Context, factorID string, old, new []byte) (bool, error)

	// ListSecrets returns up to limit TOTP factors (active or pending)
	// whose ID sorts after afterFactorID ("" for the first page), in
	// ascending order as the store compares IDs, for walking all of them
	// in batches.
	ListSecrets(ctx context.Context, afterFactorID string, limit int) ([]FactorSecret, error)

	// Delete removes all of the user's state: factors, failure count,
	// recovery codes, WebAuthn user handle, tickets and ceremonies. Deleting
	// a user without state is not an error; the events are written either
	// way.
	Delete(ctx context.Context, userID string, events []Event) error
}

// Factor types.
const (
	// FactorTOTP is an authenticator app: Secret holds its sealed secret,
	// Counter the last time step accepted.
	FactorTOTP = "totp"
	// FactorWebAuthn is a security key or passkey: Secret holds the data
	// the WebAuthn module needs to check its assertions, CredentialID its
	// credential ID, Counter its last signature counter.
	FactorWebAuthn = "webauthn"
)

// Factor is one authenticator of a user as a Store keeps it.
type Factor struct {
	// ID is the factor's opaque, random ID.
	ID string
	// Type is FactorTOTP or FactorWebAuthn.
	Type string
	// Name is the user's name for it ("Phone"), 1 to 64 characters.
	Name string
	// Active is false while the factor waits for its first confirmation.
	Active bool
	// Secret is the factor's secret (sealed, for TOTP) or credential data.
	Secret []byte
	// CredentialID is a WebAuthn credential's ID, unique among all
	// factors; nil for TOTP and while a WebAuthn factor is pending.
	CredentialID []byte
	// Counter is the last TOTP time step or signature counter accepted.
	Counter int64
	// CreatedAt is when the factor was added.
	CreatedAt time.Time
	// LastUsedAt is when a credential of the factor was last accepted;
	// zero if never.
	LastUsedAt time.Time
}

// Accepts reports whether a proof with counter (a TOTP time step or a
// signature counter) may be accepted for f: it must be greater than the
// stored Counter, except that a WebAuthn key that reports no signature
// counter stays at zero. Every Store applies this rule, atomically, where
// it accepts a proof or confirms a factor; refused, it is ErrReplay.
func (f Factor) Accepts(counter int64) bool {
	return counter > f.Counter || f.Type == FactorWebAuthn && counter == 0 && f.Counter == 0
}

// State is one user's MFA state as Store.Get returns it.
type State struct {
	// Enabled reports whether MFA is on.
	Enabled bool
	// Factors are the user's factors, active and pending, oldest first.
	Factors []Factor
	// RecoveryCodes is the number of unused recovery codes.
	RecoveryCodes int
	// Failures counts attempts since the last success or lockout.
	Failures int
	// Lockouts counts lockouts since the last success.
	Lockouts int
	// LockedUntil is the end of the current or last lockout (zero if none).
	LockedUntil time.Time
}

// Reservation is what Store.ReserveAttempt returns: the user's factors to
// check a credential against and the failure count after the reservation.
type Reservation struct {
	// Factors are the user's factors, active and pending, oldest first.
	// The Service only reads them, so a Store may hand out its own
	// (memstore does: its factors are copy-on-write).
	Factors []Factor
	// Failures counts attempts since the last success or lockout, this one
	// included; zero when this attempt started a lockout.
	Failures int
	// Lockouts counts lockouts since the last success.
	Lockouts int
	// LockedUntil is the end of the current or last lockout; after
	// Attempt.Now when this attempt started a lockout.
	LockedUntil time.Time
}

// Attempt is the argument of Store.ReserveAttempt.
type Attempt struct {
	// Enabled is the state the check needs: false for Enable (a pending
	// factor), true for checks of an enrolled user.
	Enabled bool
	// Now is the time of the check; the Store compares lockouts against it,
	// never against its own clock.
	Now time.Time
	// Throttle is the failure budget.
	Throttle Throttle
}

// Proof is what a check accepted: a factor's credential (a TOTP time step
// or a WebAuthn signature counter) or a recovery code. Exactly one of
// FactorID and RecoveryCode is set.
type Proof struct {
	// FactorID is the factor whose credential matched.
	FactorID string
	// Counter is the factor's new counter: the TOTP time step matched or
	// the WebAuthn signature counter.
	Counter int64
	// Secret, when set, replaces the factor's Secret: a TOTP secret
	// re-sealed under the primary key, or WebAuthn data with new flags.
	Secret []byte
	// RecoveryCode holds the hashes of one recovery code, one per key of
	// the ring (the primary key's first).
	RecoveryCode [][]byte
	// UsedAt is the time of the check: the factor's new LastUsedAt.
	UsedAt time.Time
}

// Enablement is the argument of Store.Enable.
type Enablement struct {
	// FactorID is the pending factor the credential was checked against.
	FactorID string
	// Counter is the factor's first accepted counter (the TOTP step).
	Counter int64
	// Secret and CredentialID, when set, replace the factor's (a WebAuthn
	// factor learns its credential at its first confirmation).
	Secret       []byte
	CredentialID []byte
	// UsedAt is the time of the check.
	UsedAt time.Time
	// RecoveryCodes are the hashes of the first batch of recovery codes.
	RecoveryCodes [][]byte
}

// Confirmation is the argument of Store.ConfirmFactor.
type Confirmation struct {
	// FactorID is the pending factor to activate.
	FactorID string
	// Counter is the factor's first accepted counter.
	Counter int64
	// Secret and CredentialID, when set, replace the factor's.
	Secret       []byte
	CredentialID []byte
	// UsedAt is the time of the check.
	UsedAt time.Time
}

// FactorSecret is one row of Store.ListSecrets.
type FactorSecret struct {
	UserID   string
	FactorID string
	Secret   []byte
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

// Ceremony is the server-side state of a WebAuthn ceremony, between the
// options a client gets and the response it sends back.
type Ceremony struct {
	// Hash is the SHA-256 of the ceremony token the client holds.
	Hash []byte
	// UserID is the user the ceremony is bound to.
	UserID string
	// Purpose is what the ceremony may finish: CeremonyRegister,
	// CeremonyLogin or CeremonySession.
	Purpose string
	// FactorID is the pending factor a registration confirms; empty for
	// the others.
	FactorID string
	// Data is the WebAuthn module's state (challenge, allowed credentials,
	// …), opaque to the Store.
	Data []byte
	// ExpiresAt is when the ceremony stops working.
	ExpiresAt time.Time
}

// The purposes of a Ceremony.
const (
	CeremonyRegister = "register" // confirms a new security key
	CeremonyLogin    = "login"    // a login challenge, begun with an mfa_token
	CeremonySession  = "session"  // a check of a signed-in user
)

// Throttle is the per-user failure budget for credential checks.
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
	// after which the lock is permanent: only Service.Unlock or
	// Service.DeleteUser lift it. With the default 5 failures the default
	// 20 caps consecutive failed attempts at 100, as NIST SP 800-63B
	// section 5.2.2 asks. A negative value means never.
	MaxLockouts int
}

// Backoff returns the length of a lockout that follows lockouts earlier
// lockouts without a success in between: Lockout doubled lockouts times,
// capped at MaxLockout.
func (t Throttle) Backoff(lockouts int) time.Duration {
	d := t.Lockout
	for i := 0; i < lockouts && d < t.MaxLockout; i++ {
		d *= 2
	}
	return min(d, t.MaxLockout)
}

// Locked returns the *RateLimitError of a user with this failure state
// at now, or nil when the user is not locked: locked for good once
// MaxLockouts lockouts followed each other, else until lockedUntil.
// Stores use it to explain a refused reservation.
func (t Throttle) Locked(lockouts int, lockedUntil, now time.Time) *RateLimitError {
	switch {
	case t.MaxLockouts > 0 && lockouts >= t.MaxLockouts:
		return &RateLimitError{Permanent: true}
	case lockedUntil.After(now):
		return &RateLimitError{RetryAfter: lockedUntil.Sub(now)}
	}
	return nil
}
