-- +goose Up
-- A webhook's batch window is now read off its pending changes (the first one opens it), so
-- ingestion no longer updates one shared row per webhook: concurrent posts for the same webhook
-- used to wait on each other's commit there.
DROP TABLE webhook_batches;
DROP INDEX changes_pending_idx;
CREATE INDEX changes_pending_idx ON changes (webhook_id, created_at) WHERE state = 'pending';

-- +goose Down
DROP INDEX changes_pending_idx;
CREATE INDEX changes_pending_idx ON changes (webhook_id, id) WHERE state = 'pending';
CREATE TABLE webhook_batches (
    webhook_id text PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    due_at     timestamptz NOT NULL
);
INSERT INTO webhook_batches (webhook_id, due_at)
SELECT webhook_id, min(created_at) FROM changes WHERE state = 'pending' GROUP BY webhook_id;
