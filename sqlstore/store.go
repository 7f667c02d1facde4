package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/identsphere/mfa"
)

var _ mfa.Store = (*Store)(nil)

// Config configures a Store. The zero value works with the default table
// prefix.
type Config struct {
	// TablePrefix starts every table name. Zero means "mfa_". Letters,
	// digits and underscores, at most 32 characters.
	TablePrefix string
	// Dialect overrides the dialect the driver name implies: "sqlite",
	// "postgres" or "mysql". Zero means the driver name decides.
	Dialect string
	// MaxRetries bounds how often an operation is run again after a
	// serialization failure, deadlock or busy database. Zero means 5; a
	// negative value means never.
	MaxRetries int
	// DisableOutbox leaves audit events to the Service's in-memory queue
	// instead of writing them to the mfa_events table with each change
	// (the transactional outbox, which loses no event in a crash). False
	// keeps them in the table.
	DisableOutbox bool
}

// Store is an mfa.Store in a SQL database. It is safe for concurrent use,
// and any number of Stores, in any number of processes, may share one
// database.
type Store struct {
	db         *sqlx.DB
	d          dialect
	prefix     string
	maxRetries int
	noOutbox   bool
	relayMu    sync.Mutex // one relay at a time on SQLite
}

var prefixPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)

// New returns a Store over db, whose DriverName picks the dialect. The
// caller owns db: the Store never closes it. Call Migrate before first use
// (or run the files under migrations/ with your own tool).
func New(db *sqlx.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: db is nil")
	}
	name := cfg.Dialect
	if name == "" {
		name = db.DriverName()
	}
	d, err := dialectFor(name)
	if err != nil {
		return nil, err
	}
	prefix := cfg.TablePrefix
	if prefix == "" {
		prefix = "mfa_"
	}
	if !prefixPattern.MatchString(prefix) {
		return nil, fmt.Errorf("sqlstore: TablePrefix %q: want letters, digits and underscores, at most 32", prefix)
	}
	s := &Store{db: db, d: d, prefix: prefix, maxRetries: cfg.MaxRetries, noOutbox: cfg.DisableOutbox}
	switch {
	case s.maxRetries == 0:
		s.maxRetries = 5
	case s.maxRetries < 0:
		s.maxRetries = 0
	}
	return s, nil
}

// NewDB is New for a *sql.DB and the name of the driver it was opened with.
func NewDB(db *sql.DB, driverName string, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: db is nil")
	}
	return New(sqlx.NewDb(db, driverName), cfg)
}

// sql puts the table prefix and the dialect's placeholders into a query
// written with "mfa_" tables and ? placeholders.
func (s *Store) sql(query string) string {
	return sqlx.Rebind(s.d.bind, strings.ReplaceAll(query, "mfa_", s.prefix))
}

// The columns of a factor, in the order scanFactor reads them.
const factorColumns = `f.factor_id, f.type, f.name, f.active, f.secret, f.credential_id, f.counter, f.created_at, f.last_used_at`

// userQuery reads a user's row and factors, oldest factor first, with
// extra columns after the user's own.
func userQuery(extra string) string {
	return `SELECT u.enabled, u.failures, u.lockouts, u.locked_until` + extra + `, ` + factorColumns + `
		FROM mfa_users u LEFT JOIN mfa_factors f ON f.user_id = u.user_id
		WHERE u.user_id = ? ORDER BY f.created_at, f.factor_id`
}

// userRow is a user's row as userQuery reads it.
type userRow struct {
	enabled     bool
	failures    int
	lockouts    int
	lockedUntil time.Time
	codes       int
	factors     []mfa.Factor
}

// readUser runs userQuery (with the count of unused recovery codes when
// withCodes) and reports whether the user has a row.
func (s *Store) readUser(ctx context.Context, q sqlx.QueryerContext, userID string, withCodes bool) (userRow, bool, error) {
	extra := ""
	if withCodes {
		extra = `, (SELECT COUNT(*) FROM mfa_recovery_codes c WHERE c.user_id = u.user_id AND c.used = 0)`
	}
	rows, err := q.QueryContext(ctx, s.sql(userQuery(extra)), userID)
	if err != nil {
		return userRow{}, false, err
	}
	defer rows.Close()
	var u userRow
	found := false
	for rows.Next() {
		found = true
		var enabled int
		var lockedUntil int64
		var f nullFactor
		dest := []any{&enabled, &u.failures, &u.lockouts, &lockedUntil}
		if withCodes {
			dest = append(dest, &u.codes)
		}
		if err := rows.Scan(append(dest, f.dest()...)...); err != nil {
			return userRow{}, false, err
		}
		u.enabled, u.lockedUntil = enabled == 1, fromMillis(lockedUntil)
		if f.id.Valid {
			u.factors = append(u.factors, f.factor())
		}
	}
	return u, found, rows.Err()
}

// nullFactor scans the factor columns of a LEFT JOIN, which are NULL for
// a user without factors.
type nullFactor struct {
	id, typ, name              sql.NullString
	active                     sql.NullInt64
	secret, credentialID       []byte
	counter, created, lastUsed sql.NullInt64
}

func (f *nullFactor) dest() []any {
	return []any{&f.id, &f.typ, &f.name, &f.active, &f.secret, &f.credentialID, &f.counter, &f.created, &f.lastUsed}
}

func (f *nullFactor) factor() mfa.Factor {
	return mfa.Factor{
		ID: f.id.String, Type: f.typ.String, Name: f.name.String, Active: f.active.Int64 == 1,
		Secret: f.secret, CredentialID: f.credentialID, Counter: f.counter.Int64,
		CreatedAt: fromMillis(f.created.Int64), LastUsedAt: fromMillis(f.lastUsed.Int64),
	}
}

// Get implements mfa.Store with one SELECT.
func (s *Store) Get(ctx context.Context, userID string) (mfa.State, error) {
	var st mfa.State
	err := s.retry(ctx, func() error {
		u, found, err := s.readUser(ctx, s.db, userID, true)
		if err != nil || !found {
			st = mfa.State{}
			return err
		}
		st = mfa.State{Enabled: u.enabled, Factors: u.factors, RecoveryCodes: u.codes,
			Failures: u.failures, Lockouts: u.lockouts, LockedUntil: u.lockedUntil}
		return nil
	})
	return st, s.wrap("get", err)
}

// SetPending implements mfa.Store in one transaction: the user's row is
// created if missing and locked, the old pending factor deleted and the
// new one inserted.
func (s *Store) SetPending(ctx context.Context, userID string, f mfa.Factor, events []mfa.Event) error {
	return s.wrap("set pending", s.write(ctx, events, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.sql(s.d.insertIgnore+` mfa_users (user_id) VALUES (?)`+s.d.onConflictDoNothing()), userID); err != nil {
			return err
		}
		enabled, _, err := s.lockUser(ctx, tx, userID)
		switch {
		case err != nil:
			return err
		case enabled:
			return mfa.ErrAlreadyEnabled
		}
		if _, err := tx.ExecContext(ctx, s.sql(`DELETE FROM mfa_factors WHERE user_id = ? AND active = 0`), userID); err != nil {
			return err
		}
		return s.insertFactor(ctx, tx, userID, f)
	}))
}

// ReserveAttempt implements mfa.Store in one transaction: a conditional
// UPDATE takes the attempt and a SELECT reads the row and factors it
// locked; a second UPDATE starts a lockout when the budget is spent. When
// the UPDATE changed nothing, the SELECT says why.
func (s *Store) ReserveAttempt(ctx context.Context, userID string, a mfa.Attempt) (mfa.Reservation, error) {
	var res mfa.Reservation
	now := a.Now.UnixMilli()
	t := a.Throttle
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE mfa_users SET failures = failures + 1
			WHERE user_id = ? AND enabled = ? AND locked_until <= ? AND (? <= 0 OR lockouts < ?)`,
			userID, boolInt(a.Enabled), now, t.MaxLockouts, t.MaxLockouts)
		if err != nil {
			return err
		}
		u, found, err := s.readUser(ctx, tx, userID, false)
		switch {
		case err != nil:
			return err
		case !found && a.Enabled:
			return mfa.ErrNotEnabled
		case !found:
			return mfa.ErrSetupNotStarted
		case n == 0:
			if limited := t.Locked(u.lockouts, u.lockedUntil, a.Now); limited != nil {
				return limited
			}
			switch {
			case u.enabled && !a.Enabled:
				return mfa.ErrAlreadyEnabled
			case !u.enabled && a.Enabled:
				return mfa.ErrNotEnabled
			}
			return errChanged
		}
		res = mfa.Reservation{Factors: u.factors, Failures: u.failures, Lockouts: u.lockouts, LockedUntil: u.lockedUntil}
		if t.MaxFailures > 0 && u.failures >= t.MaxFailures {
			res.LockedUntil = a.Now.Add(t.Backoff(u.lockouts))
			res.Failures, res.Lockouts = 0, u.lockouts+1
			_, err := tx.ExecContext(ctx, s.sql(`UPDATE mfa_users SET failures = 0, lockouts = ?, locked_until = ? WHERE user_id = ?`),
				res.Lockouts, res.LockedUntil.UnixMilli(), userID)
			return err
		}
		return nil
	})
	if err != nil {
		return mfa.Reservation{}, s.wrap("reserve attempt", err)
	}
	return res, nil
}

// Enable implements mfa.Store in one transaction: a conditional UPDATE
// turns MFA on, a conditional UPDATE activates the factor, a DELETE and one
// multi-row INSERT replace the recovery codes.
func (s *Store) Enable(ctx context.Context, userID string, e mfa.Enablement, events []mfa.Event) error {
	return s.wrap("enable", s.write(ctx, events, func(tx *sqlx.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE mfa_users SET enabled = 1, failures = 0, lockouts = 0, locked_until = 0 WHERE user_id = ? AND enabled = 0`, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			enabled, found, err := s.lockUser(ctx, tx, userID)
			switch {
			case err != nil:
				return err
			case !found:
				return mfa.ErrSetupNotStarted
			case enabled:
				return mfa.ErrAlreadyEnabled
			}
			return errChanged
		}
		if err := s.activate(ctx, tx, userID, e.FactorID, e.Counter, e.Secret, e.CredentialID, e.UsedAt, mfa.ErrInvalidCode); err != nil {
			return err
		}
		return s.replaceCodes(ctx, tx, userID, e.RecoveryCodes)
	}))
}

// activate makes the user's pending factor active with its first accepted
// counter and, when given, its secret and credential ID. When no pending
// factor has that ID it returns notPending; when the counter is refused,
// ErrReplay.
func (s *Store) activate(ctx context.Context, tx *sqlx.Tx, userID, factorID string, counter int64, secret, credentialID []byte, usedAt time.Time, notPending error) error {
	set, args := `active = 1, counter = ?, last_used_at = ?`, []any{counter, usedAt.UnixMilli()}
	if secret != nil {
		set, args = set+`, secret = ?`, append(args, secret)
	}
	if credentialID != nil {
		set, args = set+`, credential_id = ?`, append(args, credentialID)
	}
	n, err := s.exec(ctx, tx, `UPDATE mfa_factors SET `+set+`
		WHERE factor_id = ? AND user_id = ? AND active = 0 AND `+counterAccepted,
		append(args, factorID, userID, counter, counter)...)
	switch {
	case err != nil && s.d.duplicate(err):
		return mfa.ErrCredentialInUse
	case err != nil:
		return err
	case n == 0:
		if err := s.explainFactor(ctx, tx, userID, factorID, counter, false, notPending); err != nil {
			return err
		}
		return errChanged // it matches now: run the operation again
	}
	return nil
}

// replaceCodes deletes the user's recovery codes and inserts hashes with
// one statement.
func (s *Store) replaceCodes(ctx context.Context, tx *sqlx.Tx, userID string, hashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, s.sql(`DELETE FROM mfa_recovery_codes WHERE user_id = ?`), userID); err != nil {
		return err
	}
	if len(hashes) == 0 {
		return nil
	}
	values := strings.TrimSuffix(strings.Repeat("(?, ?), ", len(hashes)), ", ")
	args := make([]any, 0, 2*len(hashes))
	for _, h := range hashes {
		args = append(args, userID, h)
	}
	_, err := tx.ExecContext(ctx, s.sql(`INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES `+values), args...)
	return err
}

// Accept implements mfa.Store: one statement on PostgreSQL, its events
// included; one on MySQL, in a transaction with the INSERT of its events;
// two and that INSERT in a transaction on SQLite.
func (s *Store) Accept(ctx context.Context, userID string, p mfa.Proof, events []mfa.Event) error {
	if s.noOutbox {
		events = nil
	}
	if s.d.accept == acceptCTE || s.d.accept == acceptJoin && len(events) == 0 {
		return s.wrap("accept", s.retry(ctx, func() error { return s.acceptWithEvents(ctx, s.db, userID, p, events) }))
	}
	return s.wrap("accept", s.write(ctx, events, func(tx *sqlx.Tx) error { return s.accept(ctx, tx, userID, p) }))
}

// ReplaceRecoveryCodes implements mfa.Store in one transaction: the proof's
// statement, a DELETE and one multi-row INSERT.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, p mfa.Proof, hashes [][]byte, events []mfa.Event) error {
	return s.wrap("replace recovery codes", s.write(ctx, events, func(tx *sqlx.Tx) error {
		if err := s.accept(ctx, tx, userID, p); err != nil {
			return err
		}
		return s.replaceCodes(ctx, tx, userID, hashes)
	}))
}

// Disable implements mfa.Store in one transaction: the proof's statement,
// then DELETEs of the user's rows in every table.
func (s *Store) Disable(ctx context.Context, userID string, p mfa.Proof, events []mfa.Event) error {
	return s.wrap("disable", s.write(ctx, events, func(tx *sqlx.Tx) error {
		if err := s.accept(ctx, tx, userID, p); err != nil {
			return err
		}
		return s.deleteUser(ctx, tx, userID)
	}))
}

// AddFactor implements mfa.Store in one transaction: the user's row is
// locked and its factors read, the proof accepted, the old pending factor
// deleted and the new one inserted.
func (s *Store) AddFactor(ctx context.Context, userID string, p mfa.Proof, f mfa.Factor, max int, events []mfa.Event) error {
	return s.wrap("add factor", s.write(ctx, events, func(tx *sqlx.Tx) error {
		factors, err := s.lockEnabledUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if activeCount(factors) >= max {
			return mfa.ErrTooManyFactors
		}
		if err := s.accept(ctx, tx, userID, p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.sql(`DELETE FROM mfa_factors WHERE user_id = ? AND active = 0`), userID); err != nil {
			return err
		}
		return s.insertFactor(ctx, tx, userID, f)
	}))
}

// ConfirmFactor implements mfa.Store in one transaction: the user's row is
// locked and its factors read, the factor activated by a conditional
// UPDATE and the failure count cleared.
func (s *Store) ConfirmFactor(ctx context.Context, userID string, c mfa.Confirmation, max int, events []mfa.Event) error {
	return s.wrap("confirm factor", s.write(ctx, events, func(tx *sqlx.Tx) error {
		factors, err := s.lockEnabledUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		pending := false
		for _, f := range factors {
			pending = pending || f.ID == c.FactorID && !f.Active
		}
		switch {
		case !pending:
			return mfa.ErrFactorNotFound
		case activeCount(factors) >= max:
			return mfa.ErrTooManyFactors
		}
		if err := s.activate(ctx, tx, userID, c.FactorID, c.Counter, c.Secret, c.CredentialID, c.UsedAt, mfa.ErrFactorNotFound); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.sql(`UPDATE mfa_users SET failures = 0, lockouts = 0, locked_until = 0 WHERE user_id = ?`), userID)
		return err
	}))
}

// RemoveFactor implements mfa.Store in one transaction: the user's row is
// locked and its factors read, the proof accepted and the factor deleted
// (or, for the last active one, all of the user's rows).
func (s *Store) RemoveFactor(ctx context.Context, userID, factorID string, p mfa.Proof, events, ifDisabled []mfa.Event) (bool, error) {
	var disabled bool
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		factors, err := s.lockEnabledUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		var target *mfa.Factor
		for i := range factors {
			if factors[i].ID == factorID {
				target = &factors[i]
			}
		}
		if target == nil {
			return mfa.ErrFactorNotFound
		}
		if err := s.accept(ctx, tx, userID, p); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, tx, events); err != nil {
			return err
		}
		disabled = target.Active && activeCount(factors) == 1
		if disabled {
			if err := s.insertEvents(ctx, tx, ifDisabled); err != nil {
				return err
			}
			return s.deleteUser(ctx, tx, userID)
		}
		_, err = tx.ExecContext(ctx, s.sql(`DELETE FROM mfa_factors WHERE factor_id = ? AND user_id = ?`), factorID, userID)
		return err
	})
	return disabled, s.wrap("remove factor", err)
}

// ResetThrottle implements mfa.Store with one UPDATE.
func (s *Store) ResetThrottle(ctx context.Context, userID string, events []mfa.Event) error {
	return s.wrap("reset throttle", s.write(ctx, events, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.sql(`UPDATE mfa_users SET failures = 0, lockouts = 0, locked_until = 0 WHERE user_id = ?`), userID)
		return err
	}))
}

// ReplaceSecret implements mfa.Store with one conditional UPDATE.
func (s *Store) ReplaceSecret(ctx context.Context, factorID string, old, new []byte) (bool, error) {
	var n int64
	err := s.retry(ctx, func() (err error) {
		n, err = s.exec(ctx, s.db, `UPDATE mfa_factors SET secret = ? WHERE factor_id = ? AND secret = ?`, new, factorID, old)
		return err
	})
	return n == 1, s.wrap("replace secret", err)
}

// ListSecrets implements mfa.Store with one SELECT on the primary key.
func (s *Store) ListSecrets(ctx context.Context, afterFactorID string, limit int) ([]mfa.FactorSecret, error) {
	var out []mfa.FactorSecret
	err := s.retry(ctx, func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, s.sql(`SELECT user_id, factor_id, secret FROM mfa_factors
			WHERE type = 'totp' AND factor_id > ? ORDER BY factor_id LIMIT ?`), afterFactorID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var f mfa.FactorSecret
			if err := rows.Scan(&f.UserID, &f.FactorID, &f.Secret); err != nil {
				return err
			}
			out = append(out, f)
		}
		return rows.Err()
	})
	return out, s.wrap("list secrets", err)
}

// Delete implements mfa.Store: DELETEs of the user's rows in every table,
// in one transaction.
func (s *Store) Delete(ctx context.Context, userID string, events []mfa.Event) error {
	return s.wrap("delete", s.write(ctx, events, func(tx *sqlx.Tx) error { return s.deleteUser(ctx, tx, userID) }))
}

// deleteUser deletes the user's rows in every table.
func (s *Store) deleteUser(ctx context.Context, tx *sqlx.Tx, userID string) error {
	for _, table := range []string{"mfa_users", "mfa_factors", "mfa_recovery_codes", "mfa_tickets", "mfa_ceremonies"} {
		if _, err := tx.ExecContext(ctx, s.sql(`DELETE FROM `+table+` WHERE user_id = ?`), userID); err != nil {
			return err
		}
	}
	return nil
}

// insertFactor inserts a pending factor.
func (s *Store) insertFactor(ctx context.Context, tx *sqlx.Tx, userID string, f mfa.Factor) error {
	_, err := tx.ExecContext(ctx, s.sql(`INSERT INTO mfa_factors (factor_id, user_id, type, name, active, secret, counter, created_at)
		VALUES (?, ?, ?, ?, 0, ?, ?, ?)`), f.ID, userID, f.Type, f.Name, f.Secret, f.Counter, f.CreatedAt.UnixMilli())
	return err
}

// lockUser locks the user's row until the transaction ends and reads its
// Enabled flag.
func (s *Store) lockUser(ctx context.Context, tx *sqlx.Tx, userID string) (enabled, found bool, err error) {
	var e int
	err = tx.QueryRowxContext(ctx, s.sql(`SELECT enabled FROM mfa_users WHERE user_id = ?`+s.d.forUpdate), userID).Scan(&e)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	return e == 1, err == nil, err
}

// lockEnabledUser locks the row of a user with MFA enabled and returns
// the user's factors; ErrNotEnabled for any other user.
func (s *Store) lockEnabledUser(ctx context.Context, tx *sqlx.Tx, userID string) ([]mfa.Factor, error) {
	enabled, _, err := s.lockUser(ctx, tx, userID)
	switch {
	case err != nil:
		return nil, err
	case !enabled:
		return nil, mfa.ErrNotEnabled
	}
	u, _, err := s.readUser(ctx, tx, userID, false)
	return u.factors, err
}

// exec runs a statement written with "mfa_" tables and ? placeholders and
// returns how many rows it changed.
func (s *Store) exec(ctx context.Context, ex sqlx.ExecerContext, query string, args ...any) (int64, error) {
	res, err := ex.ExecContext(ctx, s.sql(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// errChanged: the row changed between a conditional statement and the read
// explaining it; the operation runs again.
var errChanged = errors.New("sqlstore: row changed concurrently")

// inTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise, and runs it again on a retryable error.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.retry(ctx, func() error {
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// retry runs op until it succeeds, fails with an error that is not
// retryable, or has been retried maxRetries times.
func (s *Store) retry(ctx context.Context, op func() error) error {
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil || attempt >= s.maxRetries || !(err == errChanged || s.d.retryable(err)) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(1<<attempt) * time.Millisecond):
		}
	}
}

// wrap marks an error with the dialect and the operation, for the host's
// logs; mfa.Service tells the outcomes among them apart with errors.Is.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlstore %s: %s: %w", s.d.name, op, err)
}

func activeCount(fs []mfa.Factor) int {
	n := 0
	for _, f := range fs {
		if f.Active {
			n++
		}
	}
	return n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// SQLiteDSN returns the DSN this package recommends for a SQLite file with
// modernc.org/sqlite (or mattn/go-sqlite3): write-ahead logging, so that
// readers never wait for the writer; a 10-second busy timeout, so that
// writers queue instead of failing; and BEGIN IMMEDIATE, so that a
// transaction takes the write lock up front instead of failing when it
// upgrades. A path that carries parameters of its own ("file.db?mode=rwc")
// keeps them.
func SQLiteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_busy_timeout=10000&_journal_mode=WAL&_txlock=immediate"
}
