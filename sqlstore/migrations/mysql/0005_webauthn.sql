-- identsphere/mfa schema version 5 for MySQL and MariaDB: security keys.
-- Each user has one WebAuthn user handle; a ceremony's state waits
-- server-side between the options a client gets and the response it sends
-- back.
-- +goose Up
ALTER TABLE mfa_users ADD COLUMN webauthn_handle VARBINARY(64) NULL;

CREATE TABLE mfa_ceremonies (
    ceremony_hash VARBINARY(64) NOT NULL PRIMARY KEY,
    user_id       VARCHAR(255)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    purpose       VARCHAR(16)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    factor_id     VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    data          BLOB          NOT NULL,
    expires_at    BIGINT        NOT NULL,
    INDEX mfa_ceremonies_user (user_id),
    INDEX mfa_ceremonies_expiry (expires_at)
) ENGINE=InnoDB;
