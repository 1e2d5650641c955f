-- +goose Up
-- What receivers should use instead of a deprecated event type, shown with it in the catalogue
-- (/event-types) and the API. The seeded deprecated types carried it as the first sentence of
-- their description ("Deprecated: use ... instead. A group member ..."); it moves here, and the
-- description keeps only what the event is.
ALTER TABLE event_types ADD COLUMN replacement text NOT NULL DEFAULT '';
UPDATE event_types
   SET replacement = upper(left(m[1], 1)) || substr(m[1], 2), description = m[2]
  FROM (SELECT name, regexp_match(description, '^Deprecated: (.*?\.)\s+(\S.*)$') AS m FROM event_types) AS d
 WHERE d.name = event_types.name AND d.m IS NOT NULL;

-- +goose Down
UPDATE event_types SET description = 'Deprecated: ' || replacement || ' ' || description WHERE replacement <> '';
ALTER TABLE event_types DROP COLUMN replacement;
