-- +goose Up
-- Deliveries per hour, kept as attempts are recorded, so the dashboard never scans attempts.
CREATE TABLE delivery_hours (
    hour      timestamptz PRIMARY KEY,
    succeeded bigint NOT NULL DEFAULT 0,
    failed    bigint NOT NULL DEFAULT 0
);

-- One row per distinct endpoint URL of the webhooks: its verification schedule and streak.
CREATE TABLE endpoints (
    url              text PRIMARY KEY,
    next_verify_at   timestamptz NOT NULL,
    failures         integer NOT NULL DEFAULT 0,
    first_failure_at timestamptz,
    last_verified_at timestamptz,
    last_result      text NOT NULL DEFAULT ''
);
CREATE INDEX endpoints_due_idx ON endpoints (next_verify_at);

-- Background work that runs on a schedule on one instance at a time (retention).
CREATE TABLE schedules (
    name        text PRIMARY KEY,
    next_run_at timestamptz NOT NULL
);

CREATE INDEX messages_failing_idx ON messages (last_attempt_at DESC) WHERE state IN ('retrying', 'failed') AND kind = 'changes';
CREATE INDEX messages_finished_idx ON messages (created_at) WHERE state IN ('succeeded', 'failed');
CREATE INDEX events_received_at_idx ON events (received_at);

ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN ('changes', 'test', 'verification'));

-- +goose Down
DROP INDEX events_received_at_idx, messages_finished_idx, messages_failing_idx;
DROP TABLE schedules, endpoints, delivery_hours;
