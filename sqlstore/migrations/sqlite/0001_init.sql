-- identsphere/mfa schema version 1 for SQLite.
-- Tables carry the default prefix "mfa_"; sqlstore.Migrate substitutes the
-- configured one. goose and golang-migrate can run this file as it is.
-- +goose Up
CREATE TABLE mfa_users (
    user_id      TEXT    NOT NULL PRIMARY KEY,
    enabled      INTEGER NOT NULL DEFAULT 0,
    secret       BLOB    NOT NULL,
    last_step    INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    lockouts     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE mfa_recovery_codes (
    user_id   TEXT    NOT NULL,
    code_hash BLOB    NOT NULL,
    used      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, code_hash)
);
