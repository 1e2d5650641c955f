-- +goose Up
-- Every running instance and when it last said it was alive (the database's clock). A message
-- claimed by an instance that stopped saying so goes back in the queue within seconds, instead
-- of waiting for its lease, which must outlast the slowest request a live instance may make.
CREATE TABLE instances (
    id         text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);
-- Who holds a delivering message. Not a foreign key: an instance's row may go before its claims.
ALTER TABLE messages ADD COLUMN claimed_by text;

-- +goose Down
ALTER TABLE messages DROP COLUMN claimed_by;
DROP TABLE instances;
