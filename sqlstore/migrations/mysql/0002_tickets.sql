-- identsphere/mfa schema version 2 for MySQL and MariaDB: login challenge
-- tickets.
-- +goose Up
CREATE TABLE mfa_tickets (
    ticket_hash VARBINARY(64) NOT NULL PRIMARY KEY,
    user_id     VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    expires_at  BIGINT        NOT NULL,
    attempts    INT           NOT NULL DEFAULT 0,
    INDEX mfa_tickets_user (user_id),
    INDEX mfa_tickets_expiry (expires_at)
) ENGINE=InnoDB;
