-- +goose Up
-- The webhook search compares lowercased name and URL; index exactly those expressions.
DROP INDEX webhooks_name_trgm_idx, webhooks_url_trgm_idx;
CREATE INDEX webhooks_name_trgm_idx ON webhooks USING gin (lower(name) gin_trgm_ops);
CREATE INDEX webhooks_url_trgm_idx ON webhooks USING gin (lower(url) gin_trgm_ops);
CREATE INDEX webhooks_partner_created_idx ON webhooks (partner_id, created_at DESC, id DESC);

-- +goose Down
DROP INDEX webhooks_partner_created_idx, webhooks_url_trgm_idx, webhooks_name_trgm_idx;
CREATE INDEX webhooks_name_trgm_idx ON webhooks USING gin (name gin_trgm_ops);
CREATE INDEX webhooks_url_trgm_idx ON webhooks USING gin (url gin_trgm_ops);
