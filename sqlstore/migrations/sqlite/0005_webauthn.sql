-- identsphere/mfa schema version 5 for SQLite: security keys. Each user
-- has one WebAuthn user handle; a ceremony's state waits server-side
-- between the options a client gets and the response it sends back.
-- +goose Up
ALTER TABLE mfa_users ADD COLUMN webauthn_handle BLOB;

CREATE TABLE mfa_ceremonies (
    ceremony_hash BLOB    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL,
    purpose       TEXT    NOT NULL,
    factor_id     TEXT    NOT NULL DEFAULT '',
    data          BLOB    NOT NULL,
    expires_at    INTEGER NOT NULL
);

CREATE INDEX mfa_ceremonies_user ON mfa_ceremonies (user_id);

CREATE INDEX mfa_ceremonies_expiry ON mfa_ceremonies (expires_at);
