-- +goose Up
-- Verification works per endpoint URL: finding the webhooks that share one, and disabling
-- them, should not read every webhook.
CREATE INDEX webhooks_url_idx ON webhooks (url);

-- +goose Down
DROP INDEX webhooks_url_idx;
