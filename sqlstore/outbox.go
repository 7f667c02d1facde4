package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/identsphere/mfa"
)

// The audit outbox: the events of each change are inserted into
// mfa_events by the transaction that makes the change (see write), and
// RelayEvents hands them to the host's sink, oldest first per user, then
// deletes them. Several relays (replicas) may run against one database:
// each claims one user at a time by locking the user's oldest pending row
// with FOR UPDATE SKIP LOCKED (PostgreSQL, MySQL 8, MariaDB 10.6) and
// holds it while it delivers; on SQLite one relay per process does, in
// turn with the writers.

var _ mfa.EventStore = (*Store)(nil)

// KeepsEvents implements mfa.EventStore: true unless Config.DisableOutbox.
func (s *Store) KeepsEvents() bool { return !s.noOutbox }

// AppendEvents implements mfa.EventStore with one INSERT.
func (s *Store) AppendEvents(ctx context.Context, events []mfa.Event) error {
	return s.wrap("append events", s.retry(ctx, func() error { return s.insertEvents(ctx, s.db, events) }))
}

// write runs fn in a transaction that also inserts events, the record of
// what fn changed.
func (s *Store) write(ctx context.Context, events []mfa.Event, fn func(tx *sqlx.Tx) error) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.insertEvents(ctx, tx, events)
	})
}

// insertEvents inserts events with one statement; none is no statement.
func (s *Store) insertEvents(ctx context.Context, ex sqlx.ExecerContext, events []mfa.Event) error {
	if len(events) == 0 || s.noOutbox {
		return nil
	}
	values, args, err := eventValues(events)
	if err != nil {
		return err
	}
	_, err = ex.ExecContext(ctx, s.sql(`INSERT INTO mfa_events (event_id, user_id, payload) VALUES `+values), args...)
	return err
}

// eventValues returns the VALUES rows (event_id, user_id, payload) of
// events, with their arguments.
func eventValues(events []mfa.Event) (string, []any, error) {
	args := make([]any, 0, 3*len(events))
	for _, e := range events {
		payload, err := json.Marshal(e)
		if err != nil {
			return "", nil, err
		}
		args = append(args, e.ID, e.UserID, string(payload))
	}
	return strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(events)), ", "), args, nil
}

// pending is one row of mfa_events.
type pending struct {
	seq      int64
	attempts int
	event    mfa.Event
}

// heads finds the users whose oldest pending event may be tried at now,
// that user's oldest first.
const heads = `SELECT e.seq, e.user_id FROM mfa_events e
	WHERE e.dead = 0 AND e.next_at <= ?
	AND e.seq = (SELECT MIN(f.seq) FROM mfa_events f WHERE f.user_id = e.user_id AND f.dead = 0)
	ORDER BY e.seq LIMIT 16`

// RelayEvents implements mfa.EventStore.
func (s *Store) RelayEvents(ctx context.Context, r mfa.Relay) (int, error) {
	if s.d.forUpdate == "" {
		// SQLite: one relay at a time in this process; the deliveries run
		// outside any transaction, so that writers never wait for a sink.
		s.relayMu.Lock()
		defer s.relayMu.Unlock()
		batch, err := s.claim(ctx, s.db, r, false)
		if err != nil || len(batch) == 0 {
			return 0, s.wrap("relay events", err)
		}
		done, tried := deliver(ctx, r, batch)
		return tried, s.wrap("relay events", s.inTx(ctx, func(tx *sqlx.Tx) error { return s.settle(ctx, tx, r, done) }))
	}
	// PostgreSQL and MySQL: the claim holds a row lock on the user's oldest
	// event until the deliveries are settled.
	var tried int
	err := s.retry(ctx, func() error {
		tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		batch, err := s.claim(ctx, tx, r, true)
		if err != nil || len(batch) == 0 {
			return err
		}
		done, n := deliver(ctx, r, batch)
		tried = n
		if err := s.settle(ctx, tx, r, done); err != nil {
			return err
		}
		return tx.Commit()
	})
	return tried, s.wrap("relay events", err)
}

// claim returns up to r.Batch pending events of the first user whose
// oldest event may be tried now and, with lock, whose oldest row this
// transaction could lock: no other relay holds that user.
func (s *Store) claim(ctx context.Context, q sqlx.ExtContext, r mfa.Relay, lock bool) ([]pending, error) {
	rows, err := q.QueryContext(ctx, s.sql(heads), r.Now.UnixMilli())
	if err != nil {
		return nil, err
	}
	type head struct {
		seq    int64
		userID string
	}
	var candidates []head
	for rows.Next() {
		var h head
		if err := rows.Scan(&h.seq, &h.userID); err != nil {
			rows.Close()
			return nil, err
		}
		candidates = append(candidates, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, h := range candidates {
		if lock {
			var seq int64
			// next_at again: another relay may have tried the event since
			// heads read it, and pushed it back.
			err := q.QueryRowxContext(ctx, s.sql(`SELECT seq FROM mfa_events WHERE seq = ? AND dead = 0 AND next_at <= ? FOR UPDATE SKIP LOCKED`),
				h.seq, r.Now.UnixMilli()).Scan(&seq)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				continue // another relay holds this user, delivered the event or tried it meanwhile
			case err != nil:
				return nil, err
			}
		}
		batch, err := s.userEvents(ctx, q, h.userID, r.Batch)
		if err != nil {
			return nil, err
		}
		if len(batch) > 0 && batch[0].seq == h.seq {
			return batch, nil
		}
		// An older event of the user appeared (committed late): try later.
	}
	return nil, nil
}

// userEvents reads up to limit pending events of the user, oldest first.
func (s *Store) userEvents(ctx context.Context, q sqlx.QueryerContext, userID string, limit int) ([]pending, error) {
	rows, err := q.QueryContext(ctx, s.sql(`SELECT seq, attempts, payload FROM mfa_events
		WHERE user_id = ? AND dead = 0 ORDER BY seq LIMIT ?`), userID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pending
	for rows.Next() {
		var p pending
		var payload string
		if err := rows.Scan(&p.seq, &p.attempts, &payload); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(payload), &p.event); err != nil {
			return nil, fmt.Errorf("event %d: %w", p.seq, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// deliveries is what became of the events of a batch that deliver tried.
type deliveries struct {
	delivered []int64
	failed    *pending // the event whose delivery failed, if one did
	err       error    // its error
}

// deliver hands the batch to r.Deliver in order until one fails, and
// returns what happened and how many it tried.
func deliver(ctx context.Context, r mfa.Relay, batch []pending) (deliveries, int) {
	var o deliveries
	for i := range batch {
		if err := r.Deliver(ctx, batch[i].event); err != nil {
			o.failed, o.err = &batch[i], err
			return o, i + 1
		}
		o.delivered = append(o.delivered, batch[i].seq)
	}
	return o, len(batch)
}

// settle deletes the delivered events and records the failed attempt,
// setting the event aside after r.MaxAttempts.
func (s *Store) settle(ctx context.Context, tx *sqlx.Tx, r mfa.Relay, o deliveries) error {
	if len(o.delivered) > 0 {
		args := make([]any, len(o.delivered))
		for i, seq := range o.delivered {
			args[i] = seq
		}
		in := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
		if _, err := tx.ExecContext(ctx, s.sql(`DELETE FROM mfa_events WHERE seq IN (`+in+`)`), args...); err != nil {
			return err
		}
	}
	if o.failed == nil {
		return nil
	}
	attempts := o.failed.attempts + 1
	dead := attempts >= r.MaxAttempts
	nextAt := r.Now.Add(r.Backoff(attempts)).UnixMilli()
	if _, err := tx.ExecContext(ctx, s.sql(`UPDATE mfa_events SET attempts = ?, next_at = ?, dead = ? WHERE seq = ?`),
		attempts, nextAt, boolInt(dead), o.failed.seq); err != nil {
		return err
	}
	if dead && r.SetAside != nil {
		r.SetAside(o.failed.event, o.err)
	}
	return nil
}

// PendingEvents implements mfa.EventStore with one SELECT.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]mfa.StoredEvent, error) {
	var out []mfa.StoredEvent
	err := s.retry(ctx, func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, s.sql(`SELECT payload, attempts, next_at, dead FROM mfa_events ORDER BY seq LIMIT ?`), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e mfa.StoredEvent
			var payload string
			var nextAt int64
			var dead int
			if err := rows.Scan(&payload, &e.Attempts, &nextAt, &dead); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(payload), &e.Event); err != nil {
				return err
			}
			e.NextAttempt, e.SetAside = fromMillis(nextAt), dead == 1
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, s.wrap("pending events", err)
}
