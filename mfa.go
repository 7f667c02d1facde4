package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
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
	// (users regenerate them).
	Keys *KeyRing
	// AllowPlaintextSecrets lets a Service with Keys open TOTP secrets
	// stored in plaintext (from before the key ring was configured), each
	// time with a warning in the log, and re-seal them on use and by
	// Reseal. False refuses them: someone who can write the database must
	// not be able to plant a secret of their choosing. Set it while
	// migrating a plaintext deployment, run Reseal, then unset it.
	AllowPlaintextSecrets bool

	// MaxFactors is the most active authenticators a user may have. Zero
	// means 5.
	MaxFactors int
	// WebAuthn runs the ceremonies of security keys and passkeys (package
	// github.com/identsphere/mfa/webauthn provides it). Nil means users
	// have authenticator apps and recovery codes only.
	WebAuthn WebAuthn

	// TicketTTL is how long a login challenge token from StartChallenge
	// stays valid. Zero means 5 minutes.
	TicketTTL time.Duration
	// TicketAttempts is how many codes may be tried with one challenge
	// token, on top of the user's failure budget. Zero means 5.
	TicketAttempts int

	// Account returns the account name authenticator apps show next to the
	// issuer (usually the email address), or an error wrapping
	// ErrUserNotFound when the user no longer exists. Every method that
	// enrols, checks a credential or reports a status calls it, so that a
	// user the host deleted can neither enrol nor pass a check (nor
	// complete a login with a token minted before); StartChallenge (called
	// for a user the host just signed in), Unlock and DeleteUser do not.
	// Nil means the user ID is the account name and every user exists.
	// The name may not contain ':' or control characters.
	Account func(ctx context.Context, userID string) (string, error)

	// Audit receives audit events asynchronously. Nil means SlogAudit over
	// Logger.
	Audit AuditSink
	// AuditQueueSize bounds the events waiting for Audit in memory (with a
	// Store that does not keep events); when it is full, events are
	// dropped, counted and the drop logged. Zero means 1024.
	AuditQueueSize int
	// AuditMaxAttempts is how many failed deliveries of an event a Store
	// that keeps events (an EventStore) allows before it sets the event
	// aside, counted and logged, so that it cannot block the user's later
	// events for ever. Zero means 10; with the back-off of 1 s doubling to
	// 5 minutes that is about 20 minutes of retries.
	AuditMaxAttempts int
	// AuditPollInterval is how often the Service looks for events to
	// deliver from an EventStore besides right after its own changes:
	// retries, and events other replicas wrote. Zero means 1 second.
	AuditPollInterval time.Duration
	// NoAuditRelay makes a Service on an EventStore write its events to
	// the store as usual but never deliver any: the host's own Services on
	// the same database do. For short-lived tools such as mfactl, which
	// must neither take the host's events to a sink of their own nor leave
	// theirs undelivered.
	NoAuditRelay bool
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
	events   EventStore // the Store, when it keeps events itself
	relay    *relay     // delivers the events the Store keeps

	// Event IDs are eventPrefix (16 random base32 characters drawn once),
	// a hyphen and a sequence number: unique across Services without a
	// random draw per event, which cost a measured sixth of a
	// recovery-code check.
	eventPrefix string
	eventSeq    atomic.Uint64
}

// New validates cfg, fills its defaults and returns a Service. It starts
// the goroutines that deliver audit events until Close.
func New(cfg Config) (*Service, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Keys == nil {
		cfg.Logger.Warn("mfa: no key ring configured: TOTP secrets are stored in plaintext and recovery codes hashed without a key; set Config.Keys in production")
	}
	s := &Service{
		cfg:      cfg,
		store:    cfg.Store,
		totp:     totpParams{alg: cfg.Algorithm, digits: cfg.Digits, period: cfg.Period, skew: cfg.Skew},
		recovery: newRecoveryHasher(cfg.Keys),
		audit:    newAuditQueue(cfg.Audit, cfg.Logger, cfg.AuditQueueSize),

		eventPrefix: rand.Text()[:16],
	}
	if es, ok := cfg.Store.(EventStore); ok && es.KeepsEvents() {
		s.events = es
		if !cfg.NoAuditRelay {
			s.relay = s.startRelay()
		}
	}
	return s, nil
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
	case cfg.MaxFactors < 0:
		return cfg, errors.New("mfa: config: MaxFactors may not be negative")
	case cfg.AuditQueueSize < 0 || cfg.AuditMaxAttempts < 0 || cfg.AuditPollInterval < 0:
		return cfg, errors.New("mfa: config: AuditQueueSize, AuditMaxAttempts and AuditPollInterval may not be negative")
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
	setDefault(&cfg.MaxFactors, 5)
	setDefault(&cfg.AuditQueueSize, 1024)
	setDefault(&cfg.AuditMaxAttempts, 10)
	setDefault(&cfg.AuditPollInterval, time.Second)
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

// Close stops delivering audit events in the background and delivers what
// is waiting until ctx is done: the in-memory queue, and events an
// EventStore keeps (those it cannot deliver stay stored for the next
// start). Events of the in-memory queue emitted after Close are dropped and
// counted. Close may be called more than once.
func (s *Service) Close(ctx context.Context) error {
	err := s.audit.close(ctx)
	if s.relay != nil {
		if rerr := s.relay.close(ctx); err == nil {
			err = rerr
		}
	}
	return err
}

// Now returns the time on the Service's clock (Config.Now), the clock
// every check and audit event uses.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// Enrollment is what Setup and AddFactor return: everything an
// authenticator app needs, and the pending factor it confirms.
type Enrollment struct {
	// FactorID is the pending factor's ID; Enable or ConfirmFactor
	// activates it.
	FactorID string
	// Name is the factor's name.
	Name string
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

// FactorInfo describes one of a user's authenticators. It never holds a
// secret.
type FactorInfo struct {
	ID   string
	Name string
	// Type is FactorTOTP or FactorWebAuthn.
	Type      string
	CreatedAt time.Time
	// LastUsedAt is when a credential of the factor was last accepted;
	// zero if never.
	LastUsedAt time.Time
}

// Status is a user's MFA status.
type Status struct {
	// Enabled reports whether MFA is on.
	Enabled bool
	// SetupPending reports that a factor waits for its first code
	// (Setup or AddFactor was called, Enable or ConfirmFactor not yet).
	SetupPending bool
	// RecoveryCodesRemaining is the number of unused recovery codes.
	RecoveryCodesRemaining int
	// Factors are the active authenticators, oldest first.
	Factors []FactorInfo
}

// DefaultFactorName names the first authenticator when Setup gets no name.
const DefaultFactorName = "Authenticator app"

// Setup mints a fresh TOTP secret for a user without MFA and stores it as
// the pending factor named name ("" means DefaultFactorName) until Enable
// confirms it; calling Setup again replaces the pending factor.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrAlreadyEnabled, ErrStore.
func (s *Service) Setup(ctx context.Context, userID, name string) (*Enrollment, error) {
	if name == "" {
		name = DefaultFactorName
	}
	if err := checkInput(userID, name); err != nil {
		return nil, err
	}
	account, err := s.account(ctx, userID)
	if err != nil {
		return nil, err
	}
	enr, f, err := s.newTOTPFactor(userID, account, name)
	if err != nil {
		return nil, err
	}
	e := Event{Type: EventSetupStarted, UserID: userID, Operation: "setup", Method: MethodTOTP, FactorID: f.ID}
	err = s.commit(ctx, []Event{e}, func(events []Event) error { return s.store.SetPending(ctx, userID, f, events) })
	if err := s.storeOutcome("SetPending", err); err != nil {
		return nil, err
	}
	return enr, nil
}

// Enable confirms the pending factor from Setup with a code from the
// user's authenticator app, turns MFA on and returns RecoveryCodeCount
// fresh recovery codes, which the Service does not keep in plaintext: show
// them once. Any earlier recovery codes are replaced in the same operation.
//
// Errors: ErrInvalidInput (a code shorter than 6 or longer than 8
// characters), ErrSetupNotStarted, ErrInvalidCode (wrong code, or
// ErrReplay), ErrUserNotFound, ErrAlreadyEnabled, ErrRateLimited, ErrStore.
// On any error nothing but the failure count changes. Of concurrent
// Enables for one user at most one succeeds.
func (s *Service) Enable(ctx context.Context, userID, code string) ([]string, error) {
	ch, err := s.begin(ctx, "enable", userID, false, Credential{Code: code}, takesCode)
	if err != nil {
		return nil, err
	}
	if err := s.match(ctx, ch, isPending); err != nil {
		return nil, err
	}
	codes, err := newRecoveryCodes(s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	en := Enablement{FactorID: ch.proof.FactorID, Counter: ch.proof.Counter, Secret: ch.proof.Secret,
		UsedAt: ch.now, RecoveryCodes: s.recovery.hashAll(userID, codes)}
	err = s.commit(ctx, ch.successEvents(EventEnabled), func(events []Event) error { return s.store.Enable(ctx, userID, en, events) })
	if err := s.finish(ctx, ch, "Enable", err); err != nil {
		return nil, err
	}
	return codes, nil
}

// Verify checks a TOTP code from any of the user's authenticators, a
// recovery code (which it uses up), or a security key's assertion (begun
// with BeginKeyCheck), for a user with MFA enabled: for a step-up check
// before a sensitive action, or a login flow of the host's own
// (StartChallenge and Challenge are the ready-made one). A TOTP code's time
// step is accepted once per authenticator: the same code, or any code of
// that step or an earlier one, is refused from then on (ErrReplay).
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrNotEnabled, ErrInvalidCode
// (and ErrReplay, ErrInvalidCeremony, ErrCloneSuspected), ErrRateLimited,
// ErrStore.
func (s *Service) Verify(ctx context.Context, userID string, c Credential) (Verification, error) {
	ch, err := s.begin(ctx, "verify", userID, true, c, takesAny)
	if err != nil {
		return Verification{}, err
	}
	if err := s.match(ctx, ch, isActive); err != nil {
		return Verification{}, err
	}
	err = s.commit(ctx, ch.successEvents(EventChallengeSucceeded), func(events []Event) error { return s.store.Accept(ctx, userID, ch.proof, events) })
	if err := s.finish(ctx, ch, "Accept", err); err != nil {
		return Verification{}, err
	}
	return ch.verification(), nil
}

// Disable turns MFA off after checking a credential (a TOTP code, a
// recovery code or a security key's assertion), and deletes every factor,
// the recovery codes, the user's open login challenges and ceremonies in
// the same operation.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrNotEnabled, ErrInvalidCode,
// ErrRateLimited, ErrStore.
func (s *Service) Disable(ctx context.Context, userID string, c Credential) error {
	ch, err := s.begin(ctx, "disable", userID, true, c, takesAny)
	if err != nil {
		return err
	}
	if err := s.match(ctx, ch, isActive); err != nil {
		return err
	}
	err = s.commit(ctx, ch.successEvents(EventDisabled), func(events []Event) error { return s.store.Disable(ctx, userID, ch.proof, events) })
	return s.finish(ctx, ch, "Disable", err)
}

// RegenerateRecoveryCodes checks a TOTP code or a security key's
// assertion (not a recovery code) and replaces the user's recovery codes
// with a new batch of RecoveryCodeCount, returned in plaintext once. The
// old batch stops working in the same operation.
//
// Errors: ErrInvalidInput, ErrUserNotFound, ErrNotEnabled, ErrInvalidCode,
// ErrRateLimited, ErrStore.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID string, c Credential) ([]string, error) {
	ch, err := s.begin(ctx, "regenerate_recovery_codes", userID, true, c, takesCode|takesKey)
	if err != nil {
		return nil, err
	}
	if err := s.match(ctx, ch, isActive); err != nil {
		return nil, err
	}
	codes, err := newRecoveryCodes(s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	hashes := s.recovery.hashAll(userID, codes)
	err = s.commit(ctx, ch.successEvents(EventRecoveryCodesRegenerated), func(events []Event) error {
		return s.store.ReplaceRecoveryCodes(ctx, userID, ch.proof, hashes, events)
	})
	if err := s.finish(ctx, ch, "ReplaceRecoveryCodes", err); err != nil {
		return nil, err
	}
	return codes, nil
}

// Status returns the user's MFA status. A user who never started setup has
// the zero Status. Errors: ErrInvalidInput, ErrUserNotFound (ErrRateLimited
// instead while a deleted user is still locked), ErrStore.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	if err := checkUserID(userID); err != nil {
		return Status{}, err
	}
	if _, err := s.account(ctx, userID); err != nil {
		return Status{}, err
	}
	st, err := s.store.Get(ctx, userID)
	if err != nil {
		return Status{}, s.storeErr("Get", err)
	}
	status := Status{Enabled: st.Enabled, RecoveryCodesRemaining: st.RecoveryCodes}
	for _, f := range st.Factors {
		if !f.Active {
			status.SetupPending = true
			continue
		}
		status.Factors = append(status.Factors, FactorInfo{ID: f.ID, Name: f.Name, Type: f.Type, CreatedAt: f.CreatedAt, LastUsedAt: f.LastUsedAt})
	}
	return status, nil
}

// Unlock ends a user's lockout and clears the failure count, for support
// staff who have verified the user by other means; it is the way out of a
// permanent lockout (Throttle.MaxLockouts) short of DeleteUser.
func (s *Service) Unlock(ctx context.Context, userID string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	err := s.commit(ctx, []Event{{Type: EventUnlocked, UserID: userID, Operation: "unlock"}}, func(events []Event) error {
		return s.store.ResetThrottle(ctx, userID, events)
	})
	if err != nil {
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
	err := s.commit(ctx, []Event{{Type: EventUserDeleted, UserID: userID, Operation: "delete_user"}}, func(events []Event) error {
		return s.store.Delete(ctx, userID, events)
	})
	if err != nil {
		return s.storeErr("Delete", err)
	}
	return nil
}

// begin starts a check of c for a user: it checks the input's shape, asks
// the host whether the user still exists and reserves an attempt. enabled
// is the MFA state the operation needs; takes the credentials it accepts.
func (s *Service) begin(ctx context.Context, op, userID string, enabled bool, c Credential, takes int) (*check, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	cred, err := s.parseCredential(c, takes)
	if err != nil {
		return nil, err
	}
	if _, err := s.account(ctx, userID); err != nil {
		return nil, err
	}
	return s.reserve(ctx, op, userID, enabled, cred)
}

// account asks Config.Account for the user's account name. For a user the
// host deleted it returns ErrUserNotFound, unless the user is locked: a
// lockout answers first.
func (s *Service) account(ctx context.Context, userID string) (string, error) {
	name, err := s.cfg.Account(ctx, userID)
	switch {
	case errors.Is(err, ErrUserNotFound):
		if st, gerr := s.store.Get(ctx, userID); gerr == nil {
			if limited := s.cfg.Throttle.Locked(st.Lockouts, st.LockedUntil, s.cfg.Now()); limited != nil {
				return "", limited
			}
		}
		return "", ErrUserNotFound
	case err != nil:
		return "", fmt.Errorf("mfa: looking up account: %w", err)
	}
	return name, nil
}

// commit runs op, the Store operation that makes a state change, with the
// events that record it. A Store that keeps events writes them in the
// same operation; otherwise they are queued for the sink once op
// succeeded.
func (s *Service) commit(ctx context.Context, events []Event, op func(events []Event) error) error {
	s.stamp(ctx, events...)
	if s.events != nil {
		err := op(events)
		if err == nil {
			s.relay.notify()
		}
		return err
	}
	if err := op(nil); err != nil {
		return err
	}
	s.queue(events)
	return nil
}

// record keeps the events of a refused check: written to the Store before
// the refusal is returned when it keeps events, else queued for the sink.
func (s *Service) record(ctx context.Context, events ...Event) error {
	s.stamp(ctx, events...)
	if s.events != nil {
		if err := s.events.AppendEvents(ctx, events); err != nil {
			return s.storeErr("AppendEvents", err)
		}
		s.relay.notify()
		return nil
	}
	s.queue(events)
	return nil
}

// queue hands events to the in-memory queue of the sink.
func (s *Service) queue(events []Event) {
	for _, e := range events {
		s.audit.emit(e)
	}
}

// stamp gives events their IDs, time and request metadata.
func (s *Service) stamp(ctx context.Context, events ...Event) {
	info, _ := RequestInfoFrom(ctx)
	now := s.cfg.Now()
	for i := range events {
		id := s.eventPrefix + "-" + strconv.FormatUint(s.eventSeq.Add(1), 36)
		events[i].ID, events[i].Time, events[i].Request = id, now, info
	}
}

// storeOutcome returns a Store error as the method's error: an outcome
// unwrapped, any other failure as a *StoreError.
func (s *Service) storeOutcome(op string, err error) error {
	if err == nil {
		return nil
	}
	if o := outcome(err); o != nil {
		return o
	}
	return s.storeErr(op, err)
}

func (s *Service) storeErr(op string, err error) error {
	return &StoreError{Op: op, Err: err}
}

// MaxUserIDLength is the longest user ID the Service accepts, in bytes.
const MaxUserIDLength = 255

func checkUserID(userID string) error {
	if userID == "" || len(userID) > MaxUserIDLength || !utf8.ValidString(userID) {
		return &InputError{Field: "user_id", Problem: fmt.Sprintf("user_id must be 1 to %d bytes of UTF-8", MaxUserIDLength)}
	}
	return nil
}

// MaxFactorNameLength is the longest factor name, in characters.
const MaxFactorNameLength = 64

// checkInput checks a user ID and a factor name: 1 to
// MaxFactorNameLength characters of UTF-8 without control characters.
func checkInput(userID, name string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxFactorNameLength || !utf8.ValidString(name) {
		return &InputError{Field: "name", Problem: fmt.Sprintf("name must be 1 to %d characters", MaxFactorNameLength)}
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return &InputError{Field: "name", Problem: "name may not contain control characters"}
	}
	return nil
}
