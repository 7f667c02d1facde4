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
	cfg      Config // validated, every default filled
	store    Store
	totp     totpParams
	recovery recoveryHasher
	audit    *auditQueue
}

// New validates cfg, fills its defaults and returns a Service. It starts one
// goroutine that delivers audit events until Close.
func New(cfg Config) (*Service, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Keys == nil {
		cfg.Logger.Warn("mfa: no key ring configured: TOTP secrets are stored in plaintext and recovery codes hashed without a key; set Config.Keys in production")
	}
	return &Service{
		cfg:      cfg,
		store:    cfg.Store,
		totp:     totpParams{alg: cfg.Algorithm, digits: cfg.Digits, period: cfg.Period, skew: cfg.Skew},
		recovery: newRecoveryHasher(cfg.Keys),
		audit:    newAuditQueue(cfg.Audit, cfg.Logger, cfg.AuditQueueSize),
	}, nil
}

// withDefaults validates cfg and returns it with every zero field that has
// a default set to it. It is the one place where defaults are decided.
func withDefaults(cfg Config) (Config, error) {
	switch {
	case cfg.Issuer == "":
		return cfg, errors.New("mfa: config: Issuer is required")
	case checkLabel("issuer", cfg.Issuer) != nil:
		return cfg, fmt.Errorf("mfa: config: Issuer: %w", checkLabel("issuer", cfg.Issuer))
	case cfg.Store == nil:
		return cfg, errors.New("mfa: config: Store is required")
	case cfg.Digits != 0 && cfg.Digits != 6 && cfg.Digits != 8:
		return cfg, fmt.Errorf("mfa: config: Digits must be 6 or 8, not %d", cfg.Digits)
	case !cfg.Algorithm.valid():
		return cfg, fmt.Errorf("mfa: config: unknown %s", cfg.Algorithm)
	case cfg.Period < 0 || cfg.Period%time.Second != 0:
		return cfg, fmt.Errorf("mfa: config: Period must be a positive whole number of seconds, not %s", cfg.Period)
	case cfg.Throttle.Lockout < 0 || cfg.Throttle.MaxLockout < 0:
		return cfg, errors.New("mfa: config: Throttle durations may not be negative")
	case cfg.TicketTTL < 0:
		return cfg, errors.New("mfa: config: TicketTTL may not be negative")
	case cfg.TicketAttempts < 0:
		return cfg, errors.New("mfa: config: TicketAttempts may not be negative")
	case cfg.AuditQueueSize < 0:
		return cfg, errors.New("mfa: config: AuditQueueSize may not be negative")
	}
	setDefault(&cfg.Digits, 6)
	setDefault(&cfg.Period, 30*time.Second)
	switch {
	case cfg.Skew == 0:
		cfg.Skew = 1
	case cfg.Skew < 0:
		cfg.Skew = 0
	}
	setDefault(&cfg.Throttle.MaxFailures, 5)
	setDefault(&cfg.Throttle.Lockout, 30*time.Second)
	setDefault(&cfg.Throttle.MaxLockout, 15*time.Minute)
	setDefault(&cfg.Throttle.MaxLockouts, 20)
	setDefault(&cfg.TicketTTL, 5*time.Minute)
	setDefault(&cfg.TicketAttempts, 5)
	setDefault(&cfg.AuditQueueSize, 1024)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Audit == nil {
		cfg.Audit = SlogAudit{Logger: cfg.Logger}
	}
	if cfg.Account == nil {
		cfg.Account = func(_ context.Context, userID string) (string, error) { return userID, nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return cfg, nil
}

// setDefault sets *field to def when it is zero.
func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
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
	secret, err := s.totp.newSecret(s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	uri := s.totp.keyURI(s.cfg.Issuer, account, secret)
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
	codes, err := newRecoveryCodes(s.cfg.Rand)
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
	name, err := s.cfg.Account(ctx, userID)
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
	e.Time = s.cfg.Now()
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
