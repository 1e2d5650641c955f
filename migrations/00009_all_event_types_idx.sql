-- +goose Up
-- Ingestion looks up the webhooks that want every event type; most webhooks do not.
CREATE INDEX webhooks_all_event_types_idx ON webhooks (id) WHERE all_event_types;

-- +goose Down
DROP INDEX webhooks_all_event_types_idx;
