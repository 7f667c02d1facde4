package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
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
}

// Store is an mfa.Store in a SQL database. It is safe for concurrent use,
// and any number of Stores, in any number of processes, may share one
// database.
type Store struct {
	db         *sqlx.DB
	d          dialect
	prefix     string
	maxRetries int
	q          queries
}

// queries are the statements, with the prefix and placeholders of the
// store's dialect, built once by New.
type queries struct {
	get, setPending, reserve, reserveRead, lock, state              string
	enable, enableState, deleteCodes, advance, enabledState         string
	consume, consumeMark, resetThrottle, deleteUser                 string
	createTicket, reserveTicket, ticketUser, dropExpiredTicket      string
	completeTicket, deleteExpired, deleteUserTickets, disableByStep string
	replaceSecret, listSecrets                                      string
	insertCodes                                                     string // for RecoveryCodeCount codes
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
	s := &Store{db: db, d: d, prefix: prefix, maxRetries: cfg.MaxRetries}
	switch {
	case s.maxRetries == 0:
		s.maxRetries = 5
	case s.maxRetries < 0:
		s.maxRetries = 0
	}
	s.q = queries{
		get: s.sql(`SELECT u.enabled, u.secret, u.last_step, u.failures, u.lockouts, u.locked_until,
				(SELECT COUNT(*) FROM mfa_recovery_codes c WHERE c.user_id = u.user_id AND c.used = 0)
			FROM mfa_users u WHERE u.user_id = ?`),
		setPending: s.sql(d.setPending),
		reserve: s.sql(`UPDATE mfa_users SET failures = failures + 1
			WHERE user_id = ? AND enabled = ? AND locked_until <= ?` + returningIf(d, " RETURNING secret, last_step, failures, lockouts")),
		reserveRead:   s.sql(`SELECT secret, last_step, failures, lockouts FROM mfa_users WHERE user_id = ?`),
		lock:          s.sql(`UPDATE mfa_users SET failures = 0, lockouts = lockouts + 1, locked_until = ? WHERE user_id = ?`),
		state:         s.sql(`SELECT enabled, locked_until FROM mfa_users WHERE user_id = ?`),
		enable:        s.sql(`UPDATE mfa_users SET enabled = 1, last_step = ?, failures = 0, lockouts = 0, locked_until = 0 WHERE user_id = ? AND enabled = 0 AND secret = ? AND last_step < ?`),
		enableState:   s.sql(`SELECT enabled, secret FROM mfa_users WHERE user_id = ?`),
		deleteCodes:   s.sql(`DELETE FROM mfa_recovery_codes WHERE user_id = ?`),
		advance:       s.sql(`UPDATE mfa_users SET last_step = ?, failures = 0, lockouts = 0, locked_until = 0 WHERE user_id = ? AND enabled = 1 AND last_step < ?`),
		enabledState:  s.sql(`SELECT enabled FROM mfa_users WHERE user_id = ?`),
		consumeMark:   s.sql(`UPDATE mfa_recovery_codes SET used = 1 WHERE user_id = ? AND code_hash = ? AND used = 0`),
		resetThrottle: s.sql(`UPDATE mfa_users SET failures = 0, lockouts = 0, locked_until = 0 WHERE user_id = ?`),
		deleteUser:    s.sql(`DELETE FROM mfa_users WHERE user_id = ?`),
		createTicket:  s.sql(`INSERT INTO mfa_tickets (ticket_hash, user_id, expires_at) VALUES (?, ?, ?)`),
		reserveTicket: s.sql(`UPDATE mfa_tickets SET attempts = attempts + 1
			WHERE ticket_hash = ? AND expires_at > ? AND attempts < ?` + returningIf(d, " RETURNING user_id")),
		ticketUser:        s.sql(`SELECT user_id FROM mfa_tickets WHERE ticket_hash = ?`),
		dropExpiredTicket: s.sql(`DELETE FROM mfa_tickets WHERE ticket_hash = ? AND expires_at <= ?`),
		completeTicket:    s.sql(`DELETE FROM mfa_tickets WHERE ticket_hash = ? AND user_id = ? AND expires_at > ?`),
		deleteExpired:     s.sql(`DELETE FROM mfa_tickets WHERE expires_at <= ?`),
		deleteUserTickets: s.sql(`DELETE FROM mfa_tickets WHERE user_id = ?`),
		disableByStep:     s.sql(`DELETE FROM mfa_users WHERE user_id = ? AND enabled = 1 AND last_step < ?`),
		replaceSecret:     s.sql(`UPDATE mfa_users SET secret = ? WHERE user_id = ? AND secret = ?`),
		listSecrets:       s.sql(`SELECT user_id, secret FROM mfa_users WHERE user_id > ? ORDER BY user_id LIMIT ?`),
		insertCodes:       s.insertCodesSQL(mfa.RecoveryCodeCount),
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

func (s *Store) insertCodesSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?)")
	}
	return s.sql(b.String())
}

func returningIf(d dialect, clause string) string {
	if d.returning {
		return clause
	}
	return ""
}

// Get implements mfa.Store with one SELECT.
func (s *Store) Get(ctx context.Context, userID string) (mfa.State, error) {
	var st mfa.State
	err := s.retry(ctx, func() error {
		var enabled int
		var lockedUntil int64
		err := s.db.QueryRowContext(ctx, s.q.get, userID).Scan(&enabled, &st.Secret, &st.LastStep, &st.Failures, &st.Lockouts, &lockedUntil, &st.RecoveryCodes)
		if errors.Is(err, sql.ErrNoRows) {
			st = mfa.State{}
			return nil
		}
		if err != nil {
			return err
		}
		st.Exists, st.Enabled, st.LockedUntil = true, enabled == 1, fromMillis(lockedUntil)
		return nil
	})
	if err != nil {
		return mfa.State{}, s.wrap("get", err)
	}
	return st, nil
}

// SetPending implements mfa.Store with one upsert that leaves an enabled
// user's row as it is.
func (s *Store) SetPending(ctx context.Context, userID string, secret []byte) error {
	return s.wrap("set pending", s.retry(ctx, func() error {
		res, err := s.db.ExecContext(ctx, s.q.setPending, userID, secret)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return mfa.ErrAlreadyEnabled
		}
		return nil
	}))
}

// ReserveAttempt implements mfa.Store: one transaction whose conditional
// UPDATE takes the attempt and returns the row (PostgreSQL, SQLite) or is
// followed by a read of the row it locked (MySQL); a second UPDATE starts a
// lockout when the budget is spent.
func (s *Store) ReserveAttempt(ctx context.Context, userID string, a mfa.Attempt) (mfa.State, error) {
	var st mfa.State
	now := a.Now.UnixMilli()
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		st = mfa.State{Exists: true, Enabled: a.Enabled}
		var row *sql.Row
		if s.d.returning {
			row = tx.QueryRowContext(ctx, s.q.reserve, userID, boolInt(a.Enabled), now)
		} else {
			res, err := tx.ExecContext(ctx, s.q.reserve, userID, boolInt(a.Enabled), now)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				row = tx.QueryRowContext(ctx, s.q.reserveRead, userID)
			}
		}
		if row != nil {
			err := row.Scan(&st.Secret, &st.LastStep, &st.Failures, &st.Lockouts)
			if !errors.Is(err, sql.ErrNoRows) {
				if err != nil {
					return err
				}
				if t := a.Throttle; t.MaxFailures > 0 && st.Failures >= t.MaxFailures {
					st.LockedUntil = a.Now.Add(t.Backoff(st.Lockouts))
					if _, err := tx.ExecContext(ctx, s.q.lock, st.LockedUntil.UnixMilli(), userID); err != nil {
						return err
					}
					st.Failures, st.Lockouts = 0, st.Lockouts+1
				}
				return nil
			}
		}
		// Nothing reserved: say why.
		var enabled int
		var lockedUntil int64
		err := tx.QueryRowContext(ctx, s.q.state, userID).Scan(&enabled, &lockedUntil)
		switch {
		case errors.Is(err, sql.ErrNoRows) && a.Enabled:
			return mfa.ErrNotEnabled
		case errors.Is(err, sql.ErrNoRows):
			return mfa.ErrSetupNotStarted
		case err != nil:
			return err
		case enabled == 1 && !a.Enabled:
			return mfa.ErrAlreadyEnabled
		case enabled == 0 && a.Enabled:
			return mfa.ErrNotEnabled
		case lockedUntil > now:
			return &mfa.RateLimitError{RetryAfter: fromMillis(lockedUntil).Sub(a.Now)}
		}
		return errChanged
	})
	if err != nil {
		return mfa.State{}, s.wrap("reserve attempt", err)
	}
	return st, nil
}

// Enable implements mfa.Store: one transaction of a conditional UPDATE, a
// DELETE of old codes and one multi-row INSERT.
func (s *Store) Enable(ctx context.Context, userID string, e mfa.Enablement) error {
	return s.wrap("enable", s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.enable, e.Step, userID, e.Secret, e.Step)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var enabled int
			var secret []byte
			err := tx.QueryRowContext(ctx, s.q.enableState, userID).Scan(&enabled, &secret)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return mfa.ErrSetupNotStarted
			case err != nil:
				return err
			case enabled == 1:
				return mfa.ErrAlreadyEnabled
			case !bytes.Equal(secret, e.Secret):
				return mfa.ErrInvalidCode
			}
			return mfa.ErrReplay
		}
		return s.replaceCodes(ctx, tx, userID, e.RecoveryCodes)
	}))
}

// replaceCodes deletes the user's recovery codes and inserts hashes with
// one statement.
func (s *Store) replaceCodes(ctx context.Context, tx *sqlx.Tx, userID string, hashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, s.q.deleteCodes, userID); err != nil {
		return err
	}
	if len(hashes) == 0 {
		return nil
	}
	query := s.q.insertCodes
	if len(hashes) != mfa.RecoveryCodeCount {
		query = s.insertCodesSQL(len(hashes))
	}
	args := make([]any, 0, 2*len(hashes))
	for _, h := range hashes {
		args = append(args, userID, h)
	}
	_, err := tx.ExecContext(ctx, query, args...)
	return err
}

// AdvanceStep implements mfa.Store with one conditional UPDATE.
func (s *Store) AdvanceStep(ctx context.Context, userID string, step int64) error {
	return s.wrap("advance step", s.retry(ctx, func() error {
		return s.accept(ctx, s.db, userID, mfa.Proof{Step: step})
	}))
}

// ConsumeRecoveryCode implements mfa.Store with one conditional UPDATE. A
// used code's row stays, marked used, until the next batch replaces it.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	return s.wrap("consume recovery code", s.retry(ctx, func() error {
		return s.accept(ctx, s.db, userID, mfa.Proof{RecoveryCode: hash})
	}))
}

// ResetThrottle implements mfa.Store with one UPDATE.
func (s *Store) ResetThrottle(ctx context.Context, userID string) error {
	return s.wrap("reset throttle", s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.q.resetThrottle, userID)
		return err
	}))
}

// ReplaceRecoveryCodes implements mfa.Store: one transaction of the
// conditional step UPDATE, a DELETE and one multi-row INSERT.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, step int64, hashes [][]byte) error {
	return s.wrap("replace recovery codes", s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.accept(ctx, tx, userID, mfa.Proof{Step: step}); err != nil {
			return err
		}
		return s.replaceCodes(ctx, tx, userID, hashes)
	}))
}

// Disable implements mfa.Store in one transaction: a conditional DELETE of
// the user row (a step proof) or the recovery-code statement followed by
// the DELETE, then DELETEs of the codes and tickets.
func (s *Store) Disable(ctx context.Context, userID string, p mfa.Proof) error {
	return s.wrap("disable", s.inTx(ctx, func(tx *sqlx.Tx) error {
		if p.RecoveryCode != nil {
			if err := s.accept(ctx, tx, userID, p); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q.deleteUser, userID); err != nil {
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx, s.q.disableByStep, userID, p.Step)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return s.notEnabledOr(ctx, tx, userID, mfa.ErrReplay)
			}
		}
		return s.deleteRest(ctx, tx, userID)
	}))
}

// CreateTicket implements mfa.Store with one INSERT.
func (s *Store) CreateTicket(ctx context.Context, t mfa.Ticket) error {
	return s.wrap("create ticket", s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.q.createTicket, t.Hash, t.UserID, t.ExpiresAt.UnixMilli())
		return err
	}))
}

// ReserveTicket implements mfa.Store with one conditional UPDATE … RETURNING
// (MySQL: UPDATE, then SELECT, in one transaction). A ticket found expired
// is deleted.
func (s *Store) ReserveTicket(ctx context.Context, hash []byte, now time.Time, maxAttempts int) (string, error) {
	var userID string
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		userID = ""
		args := []any{hash, now.UnixMilli(), maxAttempts}
		var err error
		if s.d.returning {
			err = tx.QueryRowContext(ctx, s.q.reserveTicket, args...).Scan(&userID)
		} else {
			var res sql.Result
			if res, err = tx.ExecContext(ctx, s.q.reserveTicket, args...); err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return mfa.ErrInvalidTicket
			}
			err = tx.QueryRowContext(ctx, s.q.ticketUser, hash).Scan(&userID)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return mfa.ErrInvalidTicket
		}
		return err
	})
	if errors.Is(err, mfa.ErrInvalidTicket) {
		// Lazy expiry; a failure here only leaves the row for
		// DeleteExpiredTickets.
		_, _ = s.db.ExecContext(ctx, s.q.dropExpiredTicket, hash, now.UnixMilli())
	}
	if err != nil {
		return "", s.wrap("reserve ticket", err)
	}
	return userID, nil
}

// CompleteChallenge implements mfa.Store in one transaction: a conditional
// DELETE of the ticket, then the statement that accepts the proof; if that
// refuses, the ticket is restored by the rollback.
func (s *Store) CompleteChallenge(ctx context.Context, hash []byte, userID string, p mfa.Proof, now time.Time) error {
	return s.wrap("complete challenge", s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.completeTicket, hash, userID, now.UnixMilli())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return mfa.ErrInvalidTicket
		}
		return s.accept(ctx, tx, userID, p)
	}))
}

// DeleteExpiredTickets implements mfa.Store with one DELETE.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.retry(ctx, func() error {
		res, err := s.db.ExecContext(ctx, s.q.deleteExpired, now.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, s.wrap("delete expired tickets", err)
	}
	return int(n), nil
}

// ReplaceSecret implements mfa.Store with one conditional UPDATE.
func (s *Store) ReplaceSecret(ctx context.Context, userID string, old, new []byte) (bool, error) {
	var n int64
	err := s.retry(ctx, func() error {
		res, err := s.db.ExecContext(ctx, s.q.replaceSecret, new, userID, old)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, s.wrap("replace secret", err)
	}
	return n == 1, nil
}

// ListSecrets implements mfa.Store with one SELECT on the primary key.
func (s *Store) ListSecrets(ctx context.Context, afterUserID string, limit int) ([]mfa.UserSecret, error) {
	var out []mfa.UserSecret
	err := s.retry(ctx, func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, s.q.listSecrets, afterUserID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u mfa.UserSecret
			if err := rows.Scan(&u.UserID, &u.Secret); err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrap("list secrets", err)
	}
	return out, nil
}

// Delete implements mfa.Store: three DELETEs in one transaction.
func (s *Store) Delete(ctx context.Context, userID string) error {
	return s.wrap("delete", s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q.deleteUser, userID); err != nil {
			return err
		}
		return s.deleteRest(ctx, tx, userID)
	}))
}

// deleteRest deletes the user's recovery codes and tickets.
func (s *Store) deleteRest(ctx context.Context, tx *sqlx.Tx, userID string) error {
	if _, err := tx.ExecContext(ctx, s.q.deleteCodes, userID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q.deleteUserTickets, userID)
	return err
}

// accept runs the statement that accepts a proof for an enabled user, on
// the database or inside a transaction: the conditional step UPDATE (which
// also clears the throttle) or the UPDATE that marks a recovery code used.
// When nothing changed it says why.
func (s *Store) accept(ctx context.Context, ex sqlx.ExtContext, userID string, p mfa.Proof) error {
	query, args, otherwise := s.q.advance, []any{p.Step, userID, p.Step}, mfa.ErrReplay
	if p.RecoveryCode != nil {
		query, args, otherwise = s.q.consumeMark, []any{userID, p.RecoveryCode}, mfa.ErrInvalidCode
	}
	res, err := ex.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return err
	}
	return s.notEnabledOr(ctx, ex, userID, otherwise)
}

// notEnabledOr explains a conditional statement that changed nothing: the
// user has no enabled MFA, or else the given outcome.
func (s *Store) notEnabledOr(ctx context.Context, q sqlx.QueryerContext, userID string, otherwise error) error {
	var enabled int
	err := q.QueryRowxContext(ctx, s.q.enabledState, userID).Scan(&enabled)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && enabled == 0:
		return mfa.ErrNotEnabled
	case err != nil:
		return err
	}
	return otherwise
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

// wrap leaves the mfa outcomes as they are and marks database errors with
// the operation, for the host's logs.
func (s *Store) wrap(op string, err error) error {
	if err == nil || isOutcome(err) {
		return err
	}
	return fmt.Errorf("sqlstore %s: %s: %w", s.d.name, op, err)
}

func isOutcome(err error) bool {
	for _, target := range []error{mfa.ErrSetupNotStarted, mfa.ErrAlreadyEnabled, mfa.ErrNotEnabled, mfa.ErrInvalidCode, mfa.ErrInvalidTicket, mfa.ErrRateLimited} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
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
// upgrades.
func SQLiteDSN(path string) string {
	return path + "?_busy_timeout=10000&_journal_mode=WAL&_txlock=immediate"
}
