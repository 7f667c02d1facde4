// Package mfa adds multi-factor authentication to a Go application:
// authenticator apps (RFC 6238 TOTP), recovery codes and, with the module
// github.com/identsphere/mfa/webauthn, security keys and passkeys.
//
// A Service runs the life cycle over a pluggable Store:
//
//   - Setup mints a secret for a user and returns it with its otpauth://
//     URI and a QR code, as a pending factor.
//   - Enable checks a code from the user's app against it, turns MFA on and
//     returns ten recovery codes, shown once and stored only as hashes.
//   - AddFactor, ConfirmFactor and RemoveFactor manage further
//     authenticators (Config.MaxFactors); each needs a credential of an
//     existing one, so a stolen session alone cannot add a device.
//   - At login, after the host's password check, StartChallenge mints a
//     token in place of a session; Challenge exchanges it and a credential
//     for the Verification to issue the session with.
//   - Verify checks a credential for a host's own flows, such as step-up
//     before a sensitive action.
//   - Disable turns MFA off; RegenerateRecoveryCodes replaces the batch.
//   - Status tells whether MFA is on, which authenticators the user has and
//     how many recovery codes are left.
//
// A credential is a TOTP code of any of the user's authenticators, a
// recovery code, or a security key's assertion (BeginKeyCheck,
// BeginKeyLogin), wherever a check takes one.
//
// With Config.Keys (a KeyRing), secrets are sealed at rest with
// AES-256-GCM and recovery codes hashed with a key the database does not
// hold; keys rotate online (Reseal). See SECURITY.md.
//
// Package memstore keeps the state in memory (tests, single-process apps),
// package sqlstore in SQLite, PostgreSQL or MySQL, and package mfahttp
// (import path github.com/identsphere/mfa/http) serves the life cycle as
// JSON endpoints on any net/http router, with a step-up guard for the
// host's own routes. Package mfatest helps hosts test their code.
//
// # Guarantees
//
// Every check that must happen at most once is one atomic Store operation
// (enable-if-pending, accept-step-for-this-factor-if-newer,
// consume-this-code, take-an-attempt, use-up-this-ceremony), so they hold
// across goroutines and across replicas sharing a database:
//
//   - A time step is accepted at most once per authenticator (the enable
//     code included): replaying a code, or any code of an earlier step,
//     fails with ErrReplay. A security key's signature counter must grow
//     (ErrCloneSuspected otherwise).
//   - Each user has one failure budget (default five) for every kind of
//     credential, taken before the credential is checked: no burst of
//     concurrent guesses gets more checks. When it is spent the user is
//     locked out (30 s, doubling to 15 min) and every check, even with the
//     right credential, fails with a *RateLimitError until the lockout
//     ends; the 20th lockout in a row is permanent until Unlock (at most
//     100 guesses, NIST SP 800-63B 5.2.2). A success refills it.
//   - A recovery code works once; a new batch replaces the old one in the
//     same operation.
//
// Secrets, codes and hashes never appear in errors, logs or audit events.
//
// # Errors
//
// Outcomes are sentinel errors tested with errors.Is: ErrInvalidInput (an
// *InputError names the field), ErrSetupNotStarted, ErrInvalidCode (and
// ErrReplay, ErrInvalidCeremony and ErrCloneSuspected, which are also
// ErrInvalidCode), ErrInvalidTicket, ErrUserNotFound, ErrFactorNotFound,
// ErrAlreadyEnabled, ErrNotEnabled, ErrTooManyFactors, ErrCredentialInUse,
// ErrRateLimited (a *RateLimitError with RetryAfter, or Permanent),
// ErrPlaintextSecret and ErrStore (a *StoreError wrapping the store's own
// error).
//
// # Audit
//
// Every state change and failed check emits an Event to Config.Audit. With
// a Store that keeps events (an EventStore: sqlstore), the events of a
// change are written in the change's own transaction and delivered in
// order per user, at least once, surviving crashes; with any other Store
// they wait in a bounded in-memory queue that never blocks a request.
// Close delivers what is waiting on shutdown.
package mfa
