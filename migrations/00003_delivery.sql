-- +goose Up
CREATE TABLE events (
    id              text PRIMARY KEY,
    -- Order of receipt: breaks ties between changes with the same occurred_at.
    seq             bigserial NOT NULL UNIQUE,
    type            text NOT NULL REFERENCES event_types (name) ON DELETE RESTRICT,
    object          text,
    object_id       text,
    action          text NOT NULL,
    course_id       text,
    url             text,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    data            jsonb NOT NULL DEFAULT '{}',
    idempotency_key text,
    -- SHA-256 of the event as posted, to tell a true repeat from a clash of idempotency keys.
    content_hash    bytea
);
CREATE INDEX events_received_idx ON events (received_at DESC, id DESC);
CREATE INDEX events_type_idx ON events (type, received_at DESC);
CREATE INDEX events_object_idx ON events (object_id, received_at DESC);
CREATE INDEX events_course_idx ON events (course_id, received_at DESC);
CREATE INDEX events_idempotency_idx ON events (idempotency_key, received_at DESC) WHERE idempotency_key IS NOT NULL;

-- A webhook's pending changes wait here until its batch window closes. The row exists exactly
-- while a flush is scheduled for the webhook.
CREATE TABLE webhook_batches (
    webhook_id text PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    due_at     timestamptz NOT NULL
);

CREATE TABLE messages (
    id              text PRIMARY KEY,
    webhook_id      text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    kind            text NOT NULL DEFAULT 'changes' CHECK (kind IN ('changes', 'test', 'verification')),
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivering', 'succeeded', 'retrying', 'failed')),
    -- The frozen request body: every attempt and resend sends exactly these bytes.
    payload         bytea NOT NULL,
    -- For the "event" format with the event type appended to the URL.
    url_suffix      text NOT NULL DEFAULT '',
    event_types     text[] NOT NULL DEFAULT '{}',
    object_ids      text[] NOT NULL DEFAULT '{}',
    change_count    integer NOT NULL DEFAULT 0,
    attempt_count   integer NOT NULL DEFAULT 0,
    -- Attempts of the automatic schedule (resends do not use it up).
    scheduled_attempts integer NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text NOT NULL DEFAULT '',
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    -- While delivering: when another instance may assume this one died and take the message over.
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX messages_webhook_idx ON messages (webhook_id, created_at DESC, id DESC);
CREATE INDEX messages_created_idx ON messages (created_at DESC, id DESC);
CREATE INDEX messages_due_idx ON messages (next_attempt_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX messages_webhook_due_idx ON messages (webhook_id, next_attempt_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX messages_lease_idx ON messages (lease_until) WHERE state = 'delivering';
CREATE INDEX messages_delivering_idx ON messages (webhook_id) WHERE state = 'delivering';

CREATE TABLE changes (
    id            bigserial PRIMARY KEY,
    webhook_id    text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id      text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'superseded', 'dropped')),
    message_id    text REFERENCES messages (id) ON DELETE SET NULL,
    superseded_by text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX changes_pending_idx ON changes (webhook_id, id) WHERE state = 'pending';
CREATE INDEX changes_message_idx ON changes (message_id);

CREATE TABLE attempts (
    id                 bigserial PRIMARY KEY,
    message_id         text NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    webhook_id         text NOT NULL,
    trigger            text NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'resend', 'test')),
    started_at         timestamptz NOT NULL,
    url                text NOT NULL,
    method             text NOT NULL,
    request_headers    jsonb NOT NULL DEFAULT '{}',
    response_status    integer,
    response_headers   jsonb,
    response_body      bytea,
    response_truncated boolean NOT NULL DEFAULT false,
    duration_ms        integer NOT NULL,
    error              text NOT NULL DEFAULT '',
    success            boolean NOT NULL
);
CREATE INDEX attempts_message_idx ON attempts (message_id, id);
CREATE INDEX attempts_started_idx ON attempts (started_at);

-- +goose Down
DROP TABLE attempts, changes, messages, webhook_batches, events;
