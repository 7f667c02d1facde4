-- identsphere/mfa schema version 1 for MySQL 8 and MariaDB 10.5+.
-- Tables carry the default prefix "mfa_"; sqlstore.Migrate substitutes the
-- configured one. goose and golang-migrate can run this file as it is.
-- User IDs compare byte for byte (utf8mb4_bin): "Alice" and "alice" differ.
-- +goose Up
CREATE TABLE mfa_users (
    user_id      VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    enabled      SMALLINT       NOT NULL DEFAULT 0,
    secret       VARBINARY(255) NOT NULL,
    last_step    BIGINT         NOT NULL DEFAULT 0,
    failures     INT            NOT NULL DEFAULT 0,
    lockouts     INT            NOT NULL DEFAULT 0,
    locked_until BIGINT         NOT NULL DEFAULT 0
) ENGINE=InnoDB;

CREATE TABLE mfa_recovery_codes (
    user_id   VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    code_hash VARBINARY(64) NOT NULL,
    used      SMALLINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, code_hash)
) ENGINE=InnoDB;
