-- identsphere/mfa schema version 5 for PostgreSQL: security keys. Each user
-- has one WebAuthn user handle; a ceremony's state waits server-side
-- between the options a client gets and the response it sends back.
-- +goose Up
ALTER TABLE mfa_users ADD COLUMN webauthn_handle BYTEA;

CREATE TABLE mfa_ceremonies (
    ceremony_hash BYTEA        NOT NULL PRIMARY KEY,
    user_id       VARCHAR(255) NOT NULL,
    purpose       VARCHAR(16)  NOT NULL,
    factor_id     VARCHAR(64)  NOT NULL DEFAULT '',
    data          BYTEA        NOT NULL,
    expires_at    BIGINT       NOT NULL
);

CREATE INDEX mfa_ceremonies_user ON mfa_ceremonies (user_id);

CREATE INDEX mfa_ceremonies_expiry ON mfa_ceremonies (expires_at);
