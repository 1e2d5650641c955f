-- +goose Up
-- Every message is inserted once and updated at least twice (claimed, recorded), and each
-- update of its state writes an entry in every index whose predicate the new row meets; each
-- event is written once. Indexes that another one already serves only cost writes on that path.
-- messages (webhook_id, next_attempt_at) WHERE pending or retrying serves what this one did
-- (the claim, the next due time, the backlog count).
DROP INDEX messages_due_idx;
-- events (received_at DESC, id DESC) serves range scans on received_at in either direction.
DROP INDEX events_received_at_idx;

-- +goose Down
CREATE INDEX events_received_at_idx ON events (received_at);
CREATE INDEX messages_due_idx ON messages (next_attempt_at) WHERE state IN ('pending', 'retrying');
