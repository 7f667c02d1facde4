-- identsphere/mfa schema version 4 for MySQL and MariaDB: the audit
-- outbox. Each event of a state change is written in the transaction of
-- the change and waits here until a relay has delivered it to the host's
-- sink.
-- Event IDs are random (130 bits) and sinks tell repeats apart by them;
-- no index is kept on them.
-- +goose Up
CREATE TABLE mfa_events (
    seq      BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    payload  MEDIUMTEXT   CHARACTER SET utf8mb4 NOT NULL,
    attempts INT          NOT NULL DEFAULT 0,
    next_at  BIGINT       NOT NULL DEFAULT 0,
    dead     SMALLINT     NOT NULL DEFAULT 0,
    INDEX mfa_events_user (user_id, dead, seq)
) ENGINE=InnoDB;
