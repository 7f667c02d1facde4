-- identsphere/mfa schema version 3 for MySQL and MariaDB: several
-- authenticators per user. Each user's secret and last accepted time step
-- move from mfa_users into a factor row of their own; every user behaves
-- exactly as before.
-- +goose Up
CREATE TABLE mfa_factors (
    factor_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    user_id       VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    type          VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name          VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    active        SMALLINT        NOT NULL DEFAULT 0,
    secret        VARBINARY(4096) NOT NULL,
    credential_id VARBINARY(1023) NULL,
    counter       BIGINT          NOT NULL DEFAULT 0,
    created_at    BIGINT          NOT NULL,
    last_used_at  BIGINT          NOT NULL DEFAULT 0,
    UNIQUE KEY mfa_factors_credential (credential_id),
    INDEX mfa_factors_user (user_id)
) ENGINE=InnoDB;

INSERT INTO mfa_factors (factor_id, user_id, type, name, active, secret, counter, created_at)
SELECT CONCAT('f_', MD5(CONCAT(user_id, RAND()))), user_id, 'totp', 'Authenticator app', enabled, secret, last_step,
       UNIX_TIMESTAMP() * 1000
FROM mfa_users;

ALTER TABLE mfa_users DROP COLUMN secret, DROP COLUMN last_step;
