-- +goose Up
-- SPEC: data "is delivered as it came". jsonb reorders keys and rewrites numbers; json keeps
-- the text as posted (validated all the same), and it is only ever stored and read back.
ALTER TABLE events ALTER COLUMN data DROP DEFAULT;
ALTER TABLE events ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE events ALTER COLUMN data SET DEFAULT '{}';

-- +goose Down
ALTER TABLE events ALTER COLUMN data DROP DEFAULT;
ALTER TABLE events ALTER COLUMN data TYPE jsonb USING data::jsonb;
ALTER TABLE events ALTER COLUMN data SET DEFAULT '{}';
