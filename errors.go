package mfa

import (
	"errors"
	"fmt"
	"time"
)

// Errors. Callers test them with errors.Is; the Service returns them
// unwrapped or wrapped with %w, never as decorated copies.
var (
	// ErrInvalidInput: a malformed argument (a code of the wrong length, an
	// empty user ID). An *InputError says which field.
	ErrInvalidInput = errors.New("mfa: invalid input")
	// ErrSetupNotStarted: Enable was called before Setup.
	ErrSetupNotStarted = errors.New("mfa: setup not started")
	// ErrInvalidCode: the code did not match, or was used already.
	ErrInvalidCode = errors.New("mfa: invalid code")
	// ErrUserNotFound: Config.Account reported that the user no longer
	// exists.
	ErrUserNotFound = errors.New("mfa: user not found")
	// ErrAlreadyEnabled: MFA is enabled already.
	ErrAlreadyEnabled = errors.New("mfa: already enabled")
	// ErrNotEnabled: the operation needs MFA to be enabled, and it is not.
	ErrNotEnabled = errors.New("mfa: not enabled")
	// ErrRateLimited: the user is locked out after too many failed checks.
	// The error is a *RateLimitError that says for how long.
	ErrRateLimited = errors.New("mfa: rate limited")
	// ErrInvalidTicket: the login challenge token is unknown, expired,
	// used, or out of attempts.
	ErrInvalidTicket = errors.New("mfa: invalid or expired challenge token")
	// ErrStore: the Store failed. The error is a *StoreError whose cause
	// errors.Unwrap returns, for the host's logs.
	ErrStore = errors.New("mfa: store failure")

	// ErrReplay: the code matched a time step already accepted for the user.
	// errors.Is(ErrReplay, ErrInvalidCode) holds, so callers that do not care
	// why a code was refused need not test for it.
	ErrReplay error = replayError{}
)

type replayError struct{}

func (replayError) Error() string        { return "mfa: invalid code: time step already used" }
func (replayError) Is(target error) bool { return target == ErrInvalidCode }

// InputError is an ErrInvalidInput that names the offending field. Its
// message never contains the value.
type InputError struct {
	Field   string // "code", "recovery_code", "user_id", …
	Problem string // "must be 6 to 8 digits"
}

func (e *InputError) Error() string        { return "mfa: invalid " + e.Field + ": " + e.Problem }
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// RateLimitError is the ErrRateLimited a locked-out user gets.
type RateLimitError struct {
	// RetryAfter is how long the lockout lasts from the time of the check.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("mfa: rate limited: retry after %s", e.RetryAfter.Round(time.Second))
}
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// StoreError is an ErrStore with the Store's own error as its cause.
type StoreError struct {
	Op  string // the Store method
	Err error
}

func (e *StoreError) Error() string        { return "mfa: store " + e.Op + ": " + e.Err.Error() }
func (e *StoreError) Unwrap() error        { return e.Err }
func (e *StoreError) Is(target error) bool { return target == ErrStore }
