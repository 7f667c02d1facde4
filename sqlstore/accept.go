package sqlstore

// Accepting a proof: the conditional UPDATE of the factor or recovery code
// that proves, together with clearing the user's failure count.

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/identsphere/mfa"
)

// counterAccepted is mfa.Factor.Accepts as the condition on a factor's
// row, its counter given twice.
const counterAccepted = `(counter < ? OR (type = 'webauthn' AND counter = 0 AND ? = 0))`

// explainFactor says why a conditional UPDATE of factor factorID with
// counter changed nothing: the factor is missing or not in the wanted
// state (missing), or its counter refused the proof (ErrReplay). When the
// row does satisfy the UPDATE's condition, the UPDATE matched it without
// changing a value (MySQL counts changed rows only: a WebAuthn key at
// signature counter zero used twice in one millisecond) and nil is the
// answer.
func (s *Store) explainFactor(ctx context.Context, q sqlx.QueryerContext, userID, factorID string, counter int64, wantActive bool, missing error) error {
	var f mfa.Factor
	var active int
	err := q.QueryRowxContext(ctx, s.sql(`SELECT active, type, counter FROM mfa_factors WHERE factor_id = ? AND user_id = ?`), factorID, userID).
		Scan(&active, &f.Type, &f.Counter)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return missing
	case err != nil:
		return err
	case (active == 1) != wantActive:
		return missing
	case f.Accepts(counter):
		return nil
	}
	return mfa.ErrReplay
}

// accept runs the statements that accept a proof for an enabled user and
// clear its failure count, on the database or inside a transaction; see
// dialect.accept. When nothing changed it says why.
func (s *Store) accept(ctx context.Context, ex sqlx.ExtContext, userID string, p mfa.Proof) error {
	return s.acceptWithEvents(ctx, ex, userID, p, nil)
}

// acceptWithEvents is accept that, on PostgreSQL, also inserts events in
// the same statement when the proof is accepted; other dialects take no
// events here.
func (s *Store) acceptWithEvents(ctx context.Context, ex sqlx.ExtContext, userID string, p mfa.Proof, events []mfa.Event) error {
	n, err := s.acceptStatements(ctx, ex, userID, proofUpdate(userID, p), events)
	if err != nil || n > 0 {
		return err
	}
	enabled, err := s.enabled(ctx, ex, userID)
	switch {
	case err != nil:
		return err
	case !enabled:
		return mfa.ErrNotEnabled
	case p.FactorID == "":
		return mfa.ErrInvalidCode
	}
	return s.explainFactor(ctx, ex, userID, p.FactorID, p.Counter, true, mfa.ErrInvalidCode)
}

// update is a conditional UPDATE of the row that proves: table is aliased
// p; set names only columns of that table; where qualifies user_id, the
// one column it shares with mfa_users.
type update struct {
	table, set, where string
	args              []any // set's, then where's
}

// proofUpdate is the UPDATE that accepts p: it advances a factor's counter
// or uses up a recovery code.
func proofUpdate(userID string, p mfa.Proof) update {
	if p.FactorID != "" {
		u := update{table: "mfa_factors", set: "counter = ?, last_used_at = ?", args: []any{p.Counter, p.UsedAt.UnixMilli()}}
		if p.Secret != nil {
			u.set, u.args = u.set+", secret = ?", append(u.args, p.Secret)
		}
		u.where = "factor_id = ? AND p.user_id = ? AND active = 1 AND " + counterAccepted
		u.args = append(u.args, p.FactorID, userID, p.Counter, p.Counter)
		return u
	}
	u := update{table: "mfa_recovery_codes", set: "used = 1", args: []any{userID}}
	u.where = "p.user_id = ? AND used = 0 AND code_hash IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(p.RecoveryCode)), ", ") + ")"
	for _, h := range p.RecoveryCode {
		u.args = append(u.args, h)
	}
	return u
}

const clearThrottle = "failures = 0, lockouts = 0, locked_until = 0"

// acceptStatements runs u together with clearing the user's failure count,
// in the dialect's way, and returns how many rows u changed (on
// PostgreSQL with events: how many events it inserted).
func (s *Store) acceptStatements(ctx context.Context, ex sqlx.ExtContext, userID string, u update, events []mfa.Event) (int64, error) {
	switch s.d.accept {
	case acceptCTE:
		// The first CTE changes the proof's row; the second the user's,
		// and only when the first changed a row; the events are inserted
		// only when the second did.
		proof := `WITH x AS (UPDATE ` + u.table + ` AS p SET ` + u.set + ` WHERE ` + u.where + ` RETURNING p.user_id)`
		user := `UPDATE mfa_users SET ` + clearThrottle + ` WHERE user_id = (SELECT user_id FROM x LIMIT 1)`
		if len(events) == 0 {
			return s.exec(ctx, ex, proof+` `+user, u.args...)
		}
		values, args, err := eventValues(events)
		if err != nil {
			return 0, err
		}
		return s.exec(ctx, ex, proof+`, u AS (`+user+` RETURNING user_id)
			INSERT INTO mfa_events (event_id, user_id, payload)
			SELECT v.event_id, v.user_id, v.payload FROM (VALUES `+values+`) AS v (event_id, user_id, payload)
			WHERE EXISTS (SELECT 1 FROM u)`, append(u.args, args...)...)
	case acceptJoin:
		// mfa_users comes first: MariaDB updates the first table as it reads
		// it and keeps the row IDs of the other in a temporary table, which
		// goes to disk for mfa_users' 1 KB primary key: 2× a one-row UPDATE
		// instead of 1.2× (TestMySQLAcceptNeedsNoDiskTable).
		return s.exec(ctx, ex, `UPDATE mfa_users AS u JOIN `+u.table+` AS p ON p.user_id = u.user_id
			SET `+u.set+`, u.failures = 0, u.lockouts = 0, u.locked_until = 0 WHERE `+u.where, u.args...)
	}
	n, err := s.exec(ctx, ex, `UPDATE `+u.table+` AS p SET `+u.set+` WHERE `+u.where, u.args...)
	if err != nil || n == 0 {
		return n, err
	}
	_, err = s.exec(ctx, ex, `UPDATE mfa_users SET `+clearThrottle+` WHERE user_id = ?`, userID)
	return n, err
}

// enabled reads the user's Enabled flag; false for a user without state.
func (s *Store) enabled(ctx context.Context, q sqlx.QueryerContext, userID string) (bool, error) {
	var enabled int
	err := q.QueryRowxContext(ctx, s.sql(`SELECT enabled FROM mfa_users WHERE user_id = ?`), userID).Scan(&enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return enabled == 1, err
}
