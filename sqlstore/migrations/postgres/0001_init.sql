-- identsphere/mfa schema version 1 for PostgreSQL.
-- Tables carry the default prefix "mfa_"; sqlstore.Migrate substitutes the
-- configured one. goose and golang-migrate can run this file as it is.
-- +goose Up
CREATE TABLE mfa_users (
    user_id      VARCHAR(255) NOT NULL PRIMARY KEY,
    enabled      SMALLINT     NOT NULL DEFAULT 0,
    secret       BYTEA        NOT NULL,
    last_step    BIGINT       NOT NULL DEFAULT 0,
    failures     INTEGER      NOT NULL DEFAULT 0,
    lockouts     INTEGER      NOT NULL DEFAULT 0,
    locked_until BIGINT       NOT NULL DEFAULT 0
);

CREATE TABLE mfa_recovery_codes (
    user_id   VARCHAR(255) NOT NULL,
    code_hash BYTEA        NOT NULL,
    used      SMALLINT     NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, code_hash)
);
