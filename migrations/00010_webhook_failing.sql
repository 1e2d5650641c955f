-- +goose Up
-- Set when a delivery of the webhook fails, cleared when one succeeds: while set, the webhook
-- gets one request in flight instead of its full share, so receivers that hang cannot take
-- every worker from the others.
ALTER TABLE webhooks ADD COLUMN failing_since timestamptz;

-- +goose Down
ALTER TABLE webhooks DROP COLUMN failing_since;
