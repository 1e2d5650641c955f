-- +goose Up
-- Per-webhook delivery controls (SPEC "Delivery"): how many requests may be in flight to the
-- webhook across all instances (NULL: the instance setting HOOKRELAY_WEBHOOK_CONCURRENCY), and
-- whether messages about one object go out one at a time in the order they were made.
ALTER TABLE webhooks ADD COLUMN max_in_flight integer CHECK (max_in_flight BETWEEN 1 AND 100);
ALTER TABLE webhooks ADD COLUMN ordered boolean NOT NULL DEFAULT false;
-- The (object, object_id) pairs a message carries, each as a JSON array ["training","345345"],
-- so that an ordered webhook can hold a message back while an earlier one about the same object
-- is still on its way.
ALTER TABLE messages ADD COLUMN object_keys text[] NOT NULL DEFAULT '{}';
CREATE INDEX messages_open_idx ON messages (webhook_id, created_at) WHERE state IN ('pending', 'retrying', 'delivering');

-- +goose Down
DROP INDEX messages_open_idx;
ALTER TABLE messages DROP COLUMN object_keys;
ALTER TABLE webhooks DROP COLUMN ordered, DROP COLUMN max_in_flight;
