-- +goose Up
-- Verification calls are made per URL and partner: webhooks of different partners that share a
-- URL never share a call, so no partner's log shows another partner's message id or signature.
-- Each partner's schedule and streak start from the URL's.
CREATE TABLE endpoints_per_partner (
    partner_id       text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    url              text NOT NULL,
    next_verify_at   timestamptz NOT NULL,
    failures         integer NOT NULL DEFAULT 0,
    first_failure_at timestamptz,
    last_verified_at timestamptz,
    last_result      text NOT NULL DEFAULT '',
    PRIMARY KEY (partner_id, url)
);
INSERT INTO endpoints_per_partner (partner_id, url, next_verify_at, failures, first_failure_at, last_verified_at, last_result)
SELECT DISTINCT w.partner_id, e.url, e.next_verify_at, e.failures, e.first_failure_at, e.last_verified_at, e.last_result
FROM endpoints e JOIN webhooks w ON w.url = e.url;
DROP TABLE endpoints;
ALTER TABLE endpoints_per_partner RENAME TO endpoints;
CREATE INDEX endpoints_due_idx ON endpoints (next_verify_at);

-- +goose Down
DROP TABLE endpoints;
CREATE TABLE endpoints (
    url              text PRIMARY KEY,
    next_verify_at   timestamptz NOT NULL,
    failures         integer NOT NULL DEFAULT 0,
    first_failure_at timestamptz,
    last_verified_at timestamptz,
    last_result      text NOT NULL DEFAULT ''
);
CREATE INDEX endpoints_due_idx ON endpoints (next_verify_at);
