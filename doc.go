// Package mfa adds authenticator-app multi-factor authentication (RFC 6238
// TOTP) with recovery codes to a Go application.
//
// A Service runs the life cycle over a pluggable Store:
//
//   - Setup mints a secret for a user and returns it with its otpauth:// URI
//     and a QR code. The secret stays pending until confirmed.
//   - Enable checks a code from the user's app against the pending secret,
//     turns MFA on and returns ten recovery codes, shown to the user once
//     and stored only as hashes.
//   - At login, after the host's password check, StartChallenge mints a
//     token in place of a session; Challenge exchanges it and a TOTP or
//     recovery code for the user ID to issue the session for.
//   - Verify and RedeemRecoveryCode check a code for a host's own flows
//     (step-up checks).
//   - Disable turns MFA off; RegenerateRecoveryCodes replaces the batch.
//   - Status tells whether MFA is on and how many recovery codes are left.
//
// With Config.Keys (a KeyRing), secrets are sealed at rest with
// AES-256-GCM and recovery codes hashed with a key the database does not
// hold; keys rotate online (Reseal). See SECURITY.md.
//
// Package memstore keeps the state in memory (tests, single-process apps),
// package sqlstore in SQLite, PostgreSQL or MySQL, and package mfahttp
// (import path github.com/identsphere/mfa/http) serves the life cycle as JSON
// endpoints on any net/http router.
//
// # Guarantees
//
// Every check that must happen at most once is one atomic Store operation
// (enable-if-pending, advance-step-if-newer, consume-this-hash,
// reserve-an-attempt), so they hold across goroutines and across replicas
// sharing a database:
//
//   - A time step is accepted at most once per user (the enable code
//     included): replaying a code, or any code of an earlier step, fails
//     with ErrReplay.
//   - Each user has a failure budget (default five) that is taken before a
//     code is checked; when it is spent the user is locked out (30 s,
//     doubling to 15 min) and every check, even with the right code, fails
//     with a *RateLimitError until the lockout ends. A success refills it.
//   - A recovery code works once; a new batch replaces the old one in the
//     same operation.
//
// Secrets, codes and hashes never appear in errors, logs or audit events.
//
// # Errors
//
// Outcomes are sentinel errors tested with errors.Is: ErrInvalidInput (an
// *InputError names the field), ErrSetupNotStarted, ErrInvalidCode (and
// ErrReplay, which is also an ErrInvalidCode), ErrUserNotFound,
// ErrAlreadyEnabled, ErrNotEnabled, ErrRateLimited (a *RateLimitError with
// RetryAfter) and ErrStore (a *StoreError wrapping the store's own error).
//
// # Audit
//
// Every state change and failed check emits an Event to Config.Audit from a
// bounded queue that never blocks a request; Close drains it on shutdown.
package mfa
