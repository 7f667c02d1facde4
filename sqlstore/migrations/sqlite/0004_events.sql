-- identsphere/mfa schema version 4 for SQLite: the audit outbox. Each event
-- of a state change is written in the transaction of the change and waits
-- here until the relay has delivered it to the host's sink.
-- seq is the rowid: without AUTOINCREMENT a number may come back once the
-- table is empty, which keeps the order of the rows there are. Event IDs
-- are random (130 bits) and sinks tell repeats apart by them;
-- no index is kept on them.
-- +goose Up
CREATE TABLE mfa_events (
    seq      INTEGER PRIMARY KEY,
    event_id TEXT    NOT NULL,
    user_id  TEXT    NOT NULL,
    payload  TEXT    NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at  INTEGER NOT NULL DEFAULT 0,
    dead     INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX mfa_events_user ON mfa_events (user_id, dead, seq);
