-- identsphere/mfa schema version 2 for PostgreSQL: login challenge tickets.
-- +goose Up
CREATE TABLE mfa_tickets (
    ticket_hash BYTEA        NOT NULL PRIMARY KEY,
    user_id     VARCHAR(255) NOT NULL,
    expires_at  BIGINT       NOT NULL,
    attempts    INTEGER      NOT NULL DEFAULT 0
);

CREATE INDEX mfa_tickets_user ON mfa_tickets (user_id);

CREATE INDEX mfa_tickets_expiry ON mfa_tickets (expires_at);
