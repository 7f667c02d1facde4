-- identsphere/mfa schema version 6 for MySQL and MariaDB: a short row ID
-- for recovery codes. The joined UPDATE that uses a code and clears the
-- user's failure count keeps the IDs of the code rows it changes in a
-- temporary table; with the 1,088-byte (user_id, code_hash) primary key
-- that table is written to disk, which doubled the statement's time. The
-- pair stays unique. The rebuild holds writes to the table until it ends.
-- +goose Up
ALTER TABLE mfa_recovery_codes
    DROP PRIMARY KEY,
    ADD COLUMN id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY FIRST,
    ADD UNIQUE KEY mfa_recovery_codes_code (user_id, code_hash);
