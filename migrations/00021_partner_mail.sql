-- +goose Up
-- Mail to partner contacts (SPEC "What people do in the browser"): each partner's addresses, and
-- an outbox of mails about its webhooks being disabled or enabled again. A mail is queued in the
-- transaction that changes the webhook's state, so it is never lost, and sent by any instance's
-- mail loop; a claim names its instance like a message's, so a dead instance's claims go back
-- to the queue.
ALTER TABLE partners ADD COLUMN contact_emails text[] NOT NULL DEFAULT '{}';

CREATE TABLE mails (
    id              bigserial PRIMARY KEY,
    -- What happened: 'webhook.disabled' or 'webhook.enabled'; the facts are copied at the time,
    -- so the mail says what was true then even if the webhook changes or goes before it is sent.
    kind            text NOT NULL CHECK (kind IN ('webhook.disabled', 'webhook.enabled')),
    partner_id      text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    webhook_id      text NOT NULL,
    webhook_name    text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    since           timestamptz NOT NULL,
    recipient       text NOT NULL,
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_by      text,
    lease_until     timestamptz,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX mails_due_idx ON mails (next_attempt_at) WHERE state = 'queued';
CREATE INDEX mails_sending_idx ON mails (claimed_by) WHERE state = 'sending';
CREATE INDEX mails_webhook_idx ON mails (webhook_id, created_at);

-- +goose Down
DROP TABLE mails;
ALTER TABLE partners DROP COLUMN contact_emails;
