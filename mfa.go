package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"
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

// Config configures a Service. Every field documents what its zero value
// means; only Issuer and Store are required.
type Config struct {
	// Issuer names the service in authenticator apps ("Example Corp").
	// Required; it may not contain ':'.
	Issuer string
	// Store holds the MFA state. Required.
	Store Store

	// Digits is the code length, 6 or 8. Zero means 6.
	Digits int
	// Algorithm is the TOTP hash. The zero value is SHA1, the only one
	// every authenticator app supports.
	Algorithm Algorithm
	// Period is the TOTP time step, a whole number of seconds. Zero means
	// 30 seconds.
	Period time.Duration
	// Skew is how many time steps either side of the current one are
	// accepted for clock drift. Zero means 1; a negative value means 0 (the
	// current step only).
	Skew int
	// Throttle is the per-user failure budget; its zero fields take their
	// documented defaults (5 failures, 30 s doubling to 15 min).
	Throttle Throttle

	// Keys seals TOTP secrets at rest with AES-256-GCM and keys the
	// recovery-code hashes (HMAC-SHA-256), so that a dump of the database
	// alone reveals no secret and cannot be searched for codes. Keys rotate
	// online (see KeyRing). Nil means secrets are stored in plaintext and
	// codes hashed with plain SHA-256; New logs a warning once. Recovery
	// codes issued without a key ring stop working when one is added
	// (users regenerate them); secrets keep working and are sealed on use.
	Keys *KeyRing

	// TicketTTL is how long a login challenge token from StartChallenge
	// stays valid. Zero means 5 minutes.
	TicketTTL time.Duration
	// TicketAttempts is how many codes may be tried with one challenge
	// token, on top of the user's failure budget. Zero means 5.
	TicketAttempts int

	// Account returns the account name authenticator apps show next to the
	// issuer (usually the email address), or an error wrapping
	// ErrUserNotFound when the user no longer exists. Setup, Enable and
	// Status call it. Nil means the user ID is the account name and every
	// user exists. The name may not contain ':' or control characters.
	Account func(ctx context.Context, userID string) (string, error)

	// Audit receives audit events asynchronously. Nil means SlogAudit over
	// Logger.
	Audit AuditSink
	// AuditQueueSize bounds the events waiting for Audit; when it is full,
	// events are dropped, counted and the drop logged. Zero means 1024.
	AuditQueueSize int
	// Logger receives the Service's own warnings. Nil means slog.Default().
	Logger *slog.Logger

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Rand is the source of secrets and recovery codes. Nil means
	// crypto/rand.Reader; set it only in tests.
	Rand io.Reader
}

// Service runs the MFA life cycle over a Store. It is safe for concurrent
// use. Close it on shutdown to deliver queued audit events.
type Service struct {
	issuer   string
	store    Store
	totp     totpParams
	throttle Throttle
	recovery recoveryHasher
	keys     *KeyRing
	logger   *slog.Logger
	account  func(ctx context.Context, userID string) (string, error)
	now      func() time.Time
	rand     io.Reader
	audit    *auditQueue

	ticketTTL      time.Duration
	ticketAttempts int
}

// New validates cfg, fills its defaults and returns a Service. It starts one
// goroutine that delivers audit events until Close.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("mfa: config: Issuer is required")
	case checkLabel("issuer", cfg.Issuer) != nil:
		return nil, fmt.Errorf("mfa: config: Issuer: %w", checkLabel("issuer", cfg.Issuer))
	case cfg.Store == nil:
		return nil, errors.New("mfa: config: Store is required")
	case cfg.Digits != 0 && cfg.Digits != 6 && cfg.Digits != 8:
		return nil, fmt.Errorf("mfa: config: Digits must be 6 or 8, not %d", cfg.Digits)
	case !cfg.Algorithm.valid():
		return nil, fmt.Errorf("mfa: config: unknown %s", cfg.Algorithm)
	case cfg.Period < 0 || cfg.Period%time.Second != 0:
		return nil, fmt.Errorf("mfa: config: Period must be a positive whole number of seconds, not %s", cfg.Period)
	case cfg.Throttle.Lockout < 0 || cfg.Throttle.MaxLockout < 0:
		return nil, errors.New("mfa: config: Throttle durations may not be negative")
	case cfg.AuditQueueSize < 0:
		return nil, errors.New("mfa: config: AuditQueueSize may not be negative")
	}
	p := totpParams{alg: cfg.Algorithm, digits: cfg.Digits, period: cfg.Period, skew: cfg.Skew}
	if p.digits == 0 {
		p.digits = 6
	}
	if p.period == 0 {
		p.period = 30 * time.Second
	}
	switch {
	case p.skew == 0:
		p.skew = 1
	case p.skew < 0:
		p.skew = 0
	}
	s := &Service{
		issuer:   cfg.Issuer,
		store:    cfg.Store,
		totp:     p,
		throttle: cfg.Throttle.withDefaults(),
		account:  cfg.Account,
		now:      cfg.Now,
		rand:     cfg.Rand,
	}
	s.keys = cfg.Keys
	s.recovery = newRecoveryHasher(cfg.Keys)
	if err := s.ticketDefaults(cfg); err != nil {
		return nil, err
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s.logger = logger
	if s.keys == nil {
		logger.Warn("mfa: no key ring configured: TOTP secrets are stored in plaintext and recovery codes hashed without a key; set Config.Keys in production")
	}
	sink := cfg.Audit
	if sink == nil {
		sink = SlogAudit{Logger: logger}
	}
	size := cfg.AuditQueueSize
	if size == 0 {
		size = 1024
	}
	s.audit = newAuditQueue(sink, logger, size)
	return s, nil
}

// Close stops accepting audit events and waits until the queued ones are
// delivered or ctx is done. Events emitted after Close are dropped and
// counted. Close may be called more than once.
func (s *Service) Close(ctx context.Context) error {
	return s.audit.close(ctx)
}

// Enrollment is what Setup returns: everything an authenticator app needs.
type Enrollment struct {
	// Secret is the TOTP secret in unpadded base32, for manual entry.
	Secret string
	// URI is the otpauth:// URI the QR code encodes.
	URI string
	// QRCode is a PNG image of a QR code that decodes to URI.
	QRCode []byte
}

// QRCodeDataURL returns QRCode as a data: URL for an <img> element.
func (e *Enrollment) QRCodeDataURL() string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRCode)
}

// Status is a user's MFA status.
type Status struct {
	// Enabled reports whether MFA is on.
	Enabled bool
	// SetupPending reports that Setup was called and Enable has not
	// succeeded yet.
	SetupPending bool
	// RecoveryCodesRemaining is the number of unused recovery codes.
	RecoveryCodesRemaining int
}

// Setup mints a fresh secret for the user and stores it as pending until
// Enable confirms it; calling Setup again replaces the pending secret. It
// returns ErrAlreadyEnabled when MFA is on and ErrUserNotFound when
// Config.Account says the user no longer exists.
func (s *Service) Setup(ctx context.Context, userID string) (*Enrollment, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	account, err := s.accountName(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := checkLabel("account", account); err != nil {
		return nil, err
	}
	secret, err := s.totp.newSecret(s.rand)
	if err != nil {
		return nil, err
	}
	uri, err := s.totp.keyURI(s.issuer, account, secret)
	if err != nil {
		return nil, err
	}
	png, err := qrPNG(uri)
	if err != nil {
		return nil, err
	}
	stored, err := s.storedSecret(userID, secret)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetPending(ctx, userID, stored); err != nil {
		return nil, s.storeErr("SetPending", err)
	}
	s.emit(ctx, Event{Type: EventSetupStarted, UserID: userID, Operation: "setup"})
	return &Enrollment{Secret: base32NoPad.EncodeToString(secret), URI: uri, QRCode: png}, nil
}

// Enable confirms the pending secret with a code from the user's
// authenticator app, turns MFA on and returns RecoveryCodeCount fresh
// recovery codes, which the Service does not keep in plaintext: show them
// once. Any earlier recovery codes are replaced in the same operation.
//
// Errors: ErrInvalidInput (a code shorter than 6 or longer than 8
// characters), ErrSetupNotStarted, ErrInvalidCode (wrong code, or ErrReplay),
// ErrUserNotFound, ErrAlreadyEnabled, ErrRateLimited, ErrStore. On any error
// nothing but the failure count changes. Of concurrent Enables for one user
// at most one succeeds.
func (s *Service) Enable(ctx context.Context, userID, code string) ([]string, error) {
	return s.issueCodes(ctx, "enable", userID, code, false, EventEnabled, func(ch *check, hashes [][]byte) (string, error) {
		return "Enable", s.store.Enable(ctx, userID, Enablement{Secret: ch.st.Secret, Step: ch.proof.Step, RecoveryCodes: hashes})
	})
}

// issueCodes checks a TOTP code of a known user, draws a batch of recovery
// codes and has store accept the code's step with the batch's hashes in
// one operation: Enable and RegenerateRecoveryCodes.
func (s *Service) issueCodes(ctx context.Context, op, userID, code string, enabled bool, event EventType, store func(ch *check, hashes [][]byte) (storeOp string, err error)) ([]string, error) {
	cred, err := s.parseCredential(userID, Credential{Code: code}, false)
	if err != nil {
		return nil, err
	}
	if _, err := s.accountName(ctx, userID); err != nil {
		return nil, err
	}
	var ch check
	if err := s.begin(ctx, &ch, op, userID, enabled, cred); err != nil {
		return nil, err
	}
	codes, err := newRecoveryCodes(s.rand)
	if err != nil {
		return nil, err
	}
	storeOp, err := store(&ch, s.recovery.hashAll(userID, codes))
	if err := s.finish(ctx, &ch, storeOp, err); err != nil {
		return nil, err
	}
	s.resealIfStale(ctx, &ch)
	s.emit(ctx, ch.event(event))
	return codes, nil
}

// Verify checks a TOTP code of a user with MFA enabled, for a step-up check
// or a login flow of the host's own (StartChallenge and Challenge are the
// ready-made one), and accepts its time step: the same code, or any code of
// that step or an earlier one, is refused from then on (ErrReplay).
//
// Errors: ErrInvalidInput, ErrNotEnabled, ErrInvalidCode, ErrRateLimited,
// ErrStore.
func (s *Service) Verify(ctx context.Context, userID, code string) error {
	cred, err := s.parseCredential(userID, Credential{Code: code}, false)
	if err != nil {
		return err
	}
	var ch check
	if err := s.begin(ctx, &ch, "verify", userID, true, cred); err != nil {
		return err
	}
	if err := s.finish(ctx, &ch, "AdvanceStep", s.store.AdvanceStep(ctx, userID, ch.proof.Step)); err != nil {
		return err
	}
	s.resealIfStale(ctx, &ch)
	s.emit(ctx, ch.event(EventChallengeSucceeded))
	return nil
}

// RedeemRecoveryCode checks a recovery code of a user with MFA enabled and
// consumes it: each code works once.
//
// Errors: ErrInvalidInput (not 10 letters and digits), ErrNotEnabled,
// ErrInvalidCode, ErrRateLimited, ErrStore.
func (s *Service) RedeemRecoveryCode(ctx context.Context, userID, code string) error {
	cred, err := s.parseCredential(userID, Credential{RecoveryCode: code}, true)
	if err != nil {
		return err
	}
	var ch check
	if err := s.begin(ctx, &ch, "redeem_recovery_code", userID, true, cred); err != nil {
		return err
	}
	err = ch.try(func(p Proof) error { return s.store.ConsumeRecoveryCode(ctx, userID, p.RecoveryCode) })
	if err := s.finish(ctx, &ch, "ConsumeRecoveryCode", err); err != nil {
		return err
	}
	s.emit(ctx, ch.event(EventRecoveryCodeUsed))
	return nil
}

// Disable turns MFA off after checking a TOTP code or a recovery code, and
// deletes the secret, the recovery codes and the user's open login
// challenges in the same operation.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrNotEnabled, ErrInvalidCode,
// ErrRateLimited, ErrStore.
func (s *Service) Disable(ctx context.Context, userID string, c Credential) error {
	cred, err := s.parseCredential(userID, c, true)
	if err != nil {
		return err
	}
	if _, err := s.accountName(ctx, userID); err != nil {
		return err
	}
	var ch check
	if err := s.begin(ctx, &ch, "disable", userID, true, cred); err != nil {
		return err
	}
	err = ch.try(func(p Proof) error { return s.store.Disable(ctx, userID, p) })
	if err := s.finish(ctx, &ch, "Disable", err); err != nil {
		return err
	}
	if ch.method == MethodRecoveryCode {
		s.emit(ctx, ch.event(EventRecoveryCodeUsed))
	}
	s.emit(ctx, ch.event(EventDisabled))
	return nil
}

// RegenerateRecoveryCodes checks a TOTP code and replaces the user's
// recovery codes with a new batch of RecoveryCodeCount, returned in
// plaintext once. The old batch stops working in the same operation.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrNotEnabled, ErrInvalidCode,
// ErrRateLimited, ErrStore.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID, code string) ([]string, error) {
	return s.issueCodes(ctx, "regenerate_recovery_codes", userID, code, true, EventRecoveryCodesRegenerated, func(ch *check, hashes [][]byte) (string, error) {
		return "ReplaceRecoveryCodes", s.store.ReplaceRecoveryCodes(ctx, userID, ch.proof.Step, hashes)
	})
}

// Status returns the user's MFA status. A user who never started setup has
// the zero Status. Errors: ErrInvalidInput, ErrUserNotFound, ErrStore.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	if err := checkUserID(userID); err != nil {
		return Status{}, err
	}
	if _, err := s.accountName(ctx, userID); err != nil {
		return Status{}, err
	}
	st, err := s.store.Get(ctx, userID)
	if err != nil {
		return Status{}, s.storeErr("Get", err)
	}
	return Status{
		Enabled:                st.Enabled,
		SetupPending:           st.Exists && !st.Enabled,
		RecoveryCodesRemaining: st.RecoveryCodes,
	}, nil
}

// Unlock ends a user's lockout and clears the failure count, for support
// staff who have verified the user by other means; it is the way out of a
// permanent lockout (Throttle.MaxLockouts) short of DeleteUser.
func (s *Service) Unlock(ctx context.Context, userID string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := s.store.ResetThrottle(ctx, userID); err != nil {
		return s.storeErr("ResetThrottle", err)
	}
	return nil
}

// DeleteUser removes all MFA state of a user, for hosts deleting an
// account. Deleting a user without state is not an error.
func (s *Service) DeleteUser(ctx context.Context, userID string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := s.store.Delete(ctx, userID); err != nil {
		return s.storeErr("Delete", err)
	}
	return nil
}

func (s *Service) accountName(ctx context.Context, userID string) (string, error) {
	if s.account == nil {
		return userID, nil
	}
	name, err := s.account(ctx, userID)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return "", ErrUserNotFound
	case err != nil:
		return "", fmt.Errorf("mfa: looking up account: %w", err)
	}
	return name, nil
}

func (s *Service) storeErr(op string, err error) error {
	return &StoreError{Op: op, Err: err}
}

func (s *Service) emit(ctx context.Context, e Event) {
	e.Time = s.now()
	e.Request, _ = RequestInfoFrom(ctx)
	s.audit.emit(e)
}

// MaxUserIDLength is the longest user ID the Service accepts, in bytes.
const MaxUserIDLength = 255

func checkUserID(userID string) error {
	if userID == "" || len(userID) > MaxUserIDLength || !utf8.ValidString(userID) {
		return &InputError{Field: "user_id", Problem: fmt.Sprintf("must be 1 to %d bytes of UTF-8", MaxUserIDLength)}
	}
	return nil
}
