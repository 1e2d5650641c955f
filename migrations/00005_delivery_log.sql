-- +goose Up
-- A message put back in the queue by a person (resend) gets one attempt, outside the schedule.
ALTER TABLE messages ADD COLUMN resend_requested boolean NOT NULL DEFAULT false;
-- Filters of the delivery log.
CREATE INDEX messages_event_types_idx ON messages USING gin (event_types);
CREATE INDEX messages_object_ids_idx ON messages USING gin (object_ids);
CREATE INDEX messages_webhook_state_idx ON messages (webhook_id, state, created_at DESC, id DESC);
CREATE INDEX changes_superseded_by_idx ON changes (superseded_by) WHERE superseded_by IS NOT NULL;

-- +goose Down
DROP INDEX changes_superseded_by_idx, messages_webhook_state_idx, messages_object_ids_idx, messages_event_types_idx;
ALTER TABLE messages DROP COLUMN resend_requested;
