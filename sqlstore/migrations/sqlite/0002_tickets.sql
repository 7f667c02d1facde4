-- identsphere/mfa schema version 2 for SQLite: login challenge tickets.
-- +goose Up
CREATE TABLE mfa_tickets (
    ticket_hash BLOB    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX mfa_tickets_user ON mfa_tickets (user_id);

CREATE INDEX mfa_tickets_expiry ON mfa_tickets (expires_at);
