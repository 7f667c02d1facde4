-- identsphere/mfa schema version 3 for PostgreSQL: several authenticators
-- per user. Each user's secret and last accepted time step move from
-- mfa_users into a factor row of their own; every user behaves exactly as
-- before.
-- +goose Up
CREATE TABLE mfa_factors (
    factor_id     VARCHAR(64)  NOT NULL PRIMARY KEY,
    user_id       VARCHAR(255) NOT NULL,
    type          VARCHAR(16)  NOT NULL,
    name          VARCHAR(64)  NOT NULL,
    active        SMALLINT     NOT NULL DEFAULT 0,
    secret        BYTEA        NOT NULL,
    credential_id BYTEA        UNIQUE,
    counter       BIGINT       NOT NULL DEFAULT 0,
    created_at    BIGINT       NOT NULL,
    last_used_at  BIGINT       NOT NULL DEFAULT 0
);

CREATE INDEX mfa_factors_user ON mfa_factors (user_id);

INSERT INTO mfa_factors (factor_id, user_id, type, name, active, secret, counter, created_at)
SELECT 'f_' || md5(random()::text || user_id), user_id, 'totp', 'Authenticator app', enabled, secret, last_step,
       (extract(epoch FROM now()) * 1000)::bigint
FROM mfa_users;

ALTER TABLE mfa_users DROP COLUMN secret, DROP COLUMN last_step;
