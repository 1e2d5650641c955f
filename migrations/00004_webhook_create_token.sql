-- +goose Up
-- The create form carries a one-time token: a second submit of the same form finds the webhook
-- the first one made instead of making another.
ALTER TABLE webhooks ADD COLUMN create_token text;
CREATE UNIQUE INDEX webhooks_create_token_key ON webhooks (create_token) WHERE create_token IS NOT NULL;

-- +goose Down
ALTER TABLE webhooks DROP COLUMN create_token;
