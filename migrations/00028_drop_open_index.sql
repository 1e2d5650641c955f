-- +goose Up
-- messages_open_idx served the ordered-delivery check (an earlier message about the same object
-- still on its way), which messages_webhook_state_idx serves as well, one range per state. Its
-- cost was more than one index entry per message and per claim: with statistics behind a burst
-- of messages, the planner took it for the count of a webhook's requests in flight (state =
-- 'delivering') and read through the whole backlog on every claim and every flush.
DROP INDEX messages_open_idx;

-- +goose Down
CREATE INDEX messages_open_idx ON messages (webhook_id, created_at) WHERE state IN ('pending', 'retrying', 'delivering');
