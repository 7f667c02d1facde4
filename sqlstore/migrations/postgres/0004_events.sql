-- identsphere/mfa schema version 4 for PostgreSQL: the audit outbox. Each
-- event of a state change is written in the transaction of the change and
-- waits here until a relay has delivered it to the host's sink.
-- Event IDs are random (130 bits) and sinks tell repeats apart by them;
-- no index is kept on them.
-- +goose Up
CREATE TABLE mfa_events (
    seq      BIGINT       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id VARCHAR(32)  NOT NULL,
    user_id  VARCHAR(255) NOT NULL,
    payload  TEXT         NOT NULL,
    attempts INTEGER      NOT NULL DEFAULT 0,
    next_at  BIGINT       NOT NULL DEFAULT 0,
    dead     SMALLINT     NOT NULL DEFAULT 0
);

CREATE INDEX mfa_events_user ON mfa_events (user_id, dead, seq);
