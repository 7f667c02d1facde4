package sqlstore

// Login challenge tickets, WebAuthn ceremonies and the WebAuthn user handle.

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/identsphere/mfa"
)

// CreateTicket implements mfa.Store with one INSERT.
func (s *Store) CreateTicket(ctx context.Context, t mfa.Ticket) error {
	return s.wrap("create ticket", s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.sql(`INSERT INTO mfa_tickets (ticket_hash, user_id, expires_at) VALUES (?, ?, ?)`),
			t.Hash, t.UserID, t.ExpiresAt.UnixMilli())
		return err
	}))
}

// ReserveTicket implements mfa.Store in one transaction: a conditional
// UPDATE takes the attempt and a SELECT reads the ticket's user. A ticket
// found expired is deleted.
func (s *Store) ReserveTicket(ctx context.Context, hash []byte, now time.Time, maxAttempts int) (string, error) {
	var userID string
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE mfa_tickets SET attempts = attempts + 1 WHERE ticket_hash = ? AND expires_at > ? AND attempts < ?`,
			hash, now.UnixMilli(), maxAttempts)
		if err != nil {
			return err
		}
		userID, err = s.liveTicket(ctx, tx, hash, now)
		if err == nil && n == 0 {
			return mfa.ErrInvalidTicket // out of attempts; userID names its user
		}
		return err
	})
	if errors.Is(err, mfa.ErrInvalidTicket) && userID == "" {
		// Lazy expiry; a failure here only leaves the row for
		// DeleteExpiredTickets.
		_, _ = s.db.ExecContext(ctx, s.sql(`DELETE FROM mfa_tickets WHERE ticket_hash = ? AND expires_at <= ?`), hash, now.UnixMilli())
	}
	return userID, s.wrap("reserve ticket", err)
}

// LookupTicket implements mfa.Store with one SELECT.
func (s *Store) LookupTicket(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var userID string
	err := s.retry(ctx, func() (err error) {
		userID, err = s.liveTicket(ctx, s.db, hash, now)
		return err
	})
	return userID, s.wrap("lookup ticket", err)
}

// liveTicket returns the user of the ticket with this hash if it has not
// expired, else ErrInvalidTicket.
func (s *Store) liveTicket(ctx context.Context, q sqlx.QueryerContext, hash []byte, now time.Time) (string, error) {
	var userID string
	err := q.QueryRowxContext(ctx, s.sql(`SELECT user_id FROM mfa_tickets WHERE ticket_hash = ? AND expires_at > ?`), hash, now.UnixMilli()).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", mfa.ErrInvalidTicket
	}
	return userID, err
}

// CompleteChallenge implements mfa.Store in one transaction: a conditional
// DELETE of the ticket and the proof's statement.
func (s *Store) CompleteChallenge(ctx context.Context, hash []byte, userID string, p mfa.Proof, now time.Time, events []mfa.Event) error {
	return s.wrap("complete challenge", s.write(ctx, events, func(tx *sqlx.Tx) error {
		n, err := s.exec(ctx, tx, `DELETE FROM mfa_tickets WHERE ticket_hash = ? AND user_id = ? AND expires_at > ?`, hash, userID, now.UnixMilli())
		switch {
		case err != nil:
			return err
		case n == 0:
			return mfa.ErrInvalidTicket
		}
		return s.accept(ctx, tx, userID, p)
	}))
}

// DeleteExpiredTickets implements mfa.Store with one DELETE of tickets and
// one of ceremonies.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.retry(ctx, func() error {
		n = 0
		for _, table := range []string{"mfa_tickets", "mfa_ceremonies"} {
			deleted, err := s.exec(ctx, s.db, `DELETE FROM `+table+` WHERE expires_at <= ?`, now.UnixMilli())
			if err != nil {
				return err
			}
			n += deleted
		}
		return nil
	})
	return int(n), s.wrap("delete expired tickets", err)
}

// CreateCeremony implements mfa.Store with one INSERT.
func (s *Store) CreateCeremony(ctx context.Context, c mfa.Ceremony) error {
	return s.wrap("create ceremony", s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.sql(`INSERT INTO mfa_ceremonies (ceremony_hash, user_id, purpose, factor_id, data, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`), c.Hash, c.UserID, c.Purpose, c.FactorID, c.Data, c.ExpiresAt.UnixMilli())
		return err
	}))
}

// TakeCeremony implements mfa.Store with one DELETE … RETURNING on
// PostgreSQL and SQLite; MySQL, which has no RETURNING, locks the row with
// a SELECT and deletes it in one transaction.
func (s *Store) TakeCeremony(ctx context.Context, hash []byte, now time.Time) (mfa.Ceremony, error) {
	c := mfa.Ceremony{Hash: hash}
	var expires int64
	scan := func(row *sqlx.Row) error {
		err := row.Scan(&c.UserID, &c.Purpose, &c.FactorID, &c.Data, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return mfa.ErrInvalidCeremony
		}
		return err
	}
	const columns = `user_id, purpose, factor_id, data, expires_at`
	var err error
	if !s.d.returning {
		err = s.inTx(ctx, func(tx *sqlx.Tx) error {
			if err := scan(tx.QueryRowxContext(ctx, s.sql(`SELECT `+columns+` FROM mfa_ceremonies WHERE ceremony_hash = ? FOR UPDATE`), hash)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, s.sql(`DELETE FROM mfa_ceremonies WHERE ceremony_hash = ?`), hash)
			return err
		})
	} else {
		err = s.retry(ctx, func() error {
			return scan(s.db.QueryRowxContext(ctx, s.sql(`DELETE FROM mfa_ceremonies WHERE ceremony_hash = ? RETURNING `+columns), hash))
		})
	}
	if err == nil && expires <= now.UnixMilli() {
		err = mfa.ErrInvalidCeremony // expired, and now deleted
	}
	if err != nil {
		return mfa.Ceremony{}, s.wrap("take ceremony", err)
	}
	c.ExpiresAt = fromMillis(expires)
	return c, nil
}

// UserHandle implements mfa.Store with one upsert that keeps a handle the
// user has (PostgreSQL and SQLite return it; MySQL reads it back in the
// same transaction).
func (s *Store) UserHandle(ctx context.Context, userID string, candidate []byte) ([]byte, error) {
	var handle []byte
	const insert = `INSERT INTO mfa_users (user_id, webauthn_handle) VALUES (?, ?)`
	var err error
	if !s.d.returning {
		err = s.inTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, s.sql(insert+` ON DUPLICATE KEY UPDATE webauthn_handle = COALESCE(webauthn_handle, VALUES(webauthn_handle))`), userID, candidate); err != nil {
				return err
			}
			return tx.QueryRowxContext(ctx, s.sql(`SELECT webauthn_handle FROM mfa_users WHERE user_id = ?`), userID).Scan(&handle)
		})
	} else {
		err = s.retry(ctx, func() error {
			return s.db.QueryRowxContext(ctx, s.sql(insert+` ON CONFLICT (user_id) DO UPDATE
				SET webauthn_handle = COALESCE(mfa_users.webauthn_handle, excluded.webauthn_handle) RETURNING webauthn_handle`), userID, candidate).Scan(&handle)
		})
	}
	return handle, s.wrap("user handle", err)
}
