-- identsphere/mfa schema version 3 for SQLite: several authenticators per
-- user. Each user's secret and last accepted time step move from mfa_users
-- into a factor row of their own; every user behaves exactly as before.
-- +goose Up
CREATE TABLE mfa_factors (
    factor_id     TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    active        INTEGER NOT NULL DEFAULT 0,
    secret        BLOB    NOT NULL,
    credential_id BLOB    UNIQUE,
    counter       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX mfa_factors_user ON mfa_factors (user_id);

INSERT INTO mfa_factors (factor_id, user_id, type, name, active, secret, counter, created_at)
SELECT 'f_' || lower(hex(randomblob(16))), user_id, 'totp', 'Authenticator app', enabled, secret, last_step,
       CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM mfa_users;

ALTER TABLE mfa_users DROP COLUMN secret;

ALTER TABLE mfa_users DROP COLUMN last_step;
