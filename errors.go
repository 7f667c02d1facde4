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
	// ErrFactorNotFound: the user has no factor with the given ID.
	ErrFactorNotFound = errors.New("mfa: factor not found")
	// ErrTooManyFactors: the user has Config.MaxFactors active factors.
	ErrTooManyFactors = errors.New("mfa: too many factors")
	// ErrCredentialInUse: a security key's credential is registered
	// already, to this user or another.
	ErrCredentialInUse = errors.New("mfa: credential already registered")
	// ErrInvalidTicket: the login challenge token is unknown, expired,
	// used, or out of attempts.
	ErrInvalidTicket = errors.New("mfa: invalid or expired challenge token")
	// ErrInvalidCeremony: a WebAuthn ceremony token is unknown, expired,
	// used, or for another user or purpose. It is a refused credential:
	// errors.Is(ErrInvalidCeremony, ErrInvalidCode) holds.
	ErrInvalidCeremony error = invalidCodeError("mfa: invalid code: unknown or expired WebAuthn ceremony")
	// ErrCloneSuspected: a security key's signature counter did not grow,
	// as it would not for a cloned key. It is a refused credential:
	// errors.Is(ErrCloneSuspected, ErrInvalidCode) holds.
	ErrCloneSuspected error = invalidCodeError("mfa: invalid code: security key's signature counter did not grow")
	// ErrPlaintextSecret: a TOTP secret is stored in plaintext while a key
	// ring is configured and Config.AllowPlaintextSecrets is off.
	ErrPlaintextSecret = errors.New("mfa: TOTP secret stored in plaintext, refused (see Config.AllowPlaintextSecrets)")
	// ErrStore: the Store failed. The error is a *StoreError whose cause
	// errors.Unwrap returns, for the host's logs.
	ErrStore = errors.New("mfa: store failure")

	// ErrReplay: the code matched a time step already accepted for its
	// authenticator. errors.Is(ErrReplay, ErrInvalidCode) holds, so callers
	// that do not care why a code was refused need not test for it.
	ErrReplay error = invalidCodeError("mfa: invalid code: time step already used")
)

// invalidCodeError is a refused credential with a reason of its own.
type invalidCodeError string

func (e invalidCodeError) Error() string        { return string(e) }
func (e invalidCodeError) Is(target error) bool { return target == ErrInvalidCode }

// InputError is an ErrInvalidInput that names the offending field. Its
// message never contains the value.
type InputError struct {
	// Field is the field's name: "code", "recovery_code", "user_id", …
	Field string
	// Problem says what is wrong, naming the field, for a person to read:
	// "code must be 6 to 8 digits".
	Problem string
}

func (e *InputError) Error() string        { return "mfa: invalid input: " + e.Problem }
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// RateLimitError is the ErrRateLimited a locked-out user gets.
type RateLimitError struct {
	// RetryAfter is how long the lockout lasts from the time of the check;
	// zero when it is Permanent.
	RetryAfter time.Duration
	// Permanent is set once Throttle.MaxLockouts lockouts followed each
	// other: the lockout no longer ends by itself, only Service.Unlock (or
	// Service.DeleteUser) lifts it.
	Permanent bool
}

func (e *RateLimitError) Error() string {
	if e.Permanent {
		return "mfa: rate limited: locked until unlocked by support"
	}
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

// outcomes are the sentinel errors a Store returns as answers rather than
// failures.
var outcomes = []error{ErrSetupNotStarted, ErrAlreadyEnabled, ErrNotEnabled, ErrReplay, ErrInvalidCeremony, ErrCloneSuspected, ErrInvalidCode,
	ErrInvalidTicket, ErrFactorNotFound, ErrTooManyFactors, ErrCredentialInUse}

// outcome returns the answer a Store's error stands for, unwrapped: one of
// outcomes or a *RateLimitError; nil when err is a failure (or nil).
func outcome(err error) error {
	if err == nil {
		return nil
	}
	var limited *RateLimitError
	if errors.As(err, &limited) {
		return limited
	}
	for _, o := range outcomes {
		if errors.Is(err, o) {
			return o
		}
	}
	return nil
}
