-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE partners (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX partners_name_key ON partners (lower(name));

CREATE TABLE users (
    id              text PRIMARY KEY,
    email           text NOT NULL,
    name            text NOT NULL DEFAULT '',
    role            text NOT NULL CHECK (role IN ('admin', 'staff', 'partner')),
    partner_id      text REFERENCES partners (id) ON DELETE RESTRICT,
    password_hash   text NOT NULL,
    -- Bumped on password change and disabling so that every older session cookie stops working.
    session_version integer NOT NULL DEFAULT 1,
    disabled_at     timestamptz,
    last_sign_in_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'partner') = (partner_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_partner_id_idx ON users (partner_id);

-- Failed sign-ins per email, shared by every instance so that throttling holds across them.
CREATE TABLE sign_in_failures (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    last_failure timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    scope        text NOT NULL CHECK (scope IN ('ingest', 'admin')),
    prefix       text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_by   text REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE event_types (
    name          text PRIMARY KEY,
    description   text NOT NULL DEFAULT '',
    sample        jsonb NOT NULL DEFAULT '{}',
    deprecated_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE courses (
    id          text PRIMARY KEY,
    title       text NOT NULL,
    archived_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX courses_title_trgm_idx ON courses USING gin (title gin_trgm_ops);
CREATE INDEX courses_id_trgm_idx ON courses USING gin (id gin_trgm_ops);

CREATE TABLE webhooks (
    id                         text PRIMARY KEY,
    partner_id                 text NOT NULL REFERENCES partners (id) ON DELETE RESTRICT,
    name                       text NOT NULL,
    url                        text NOT NULL,
    description                text NOT NULL DEFAULT '',
    -- Secrets are AES-GCM sealed with the instance key: the database alone does not reveal them.
    secret_enc                 bytea NOT NULL,
    previous_secret_enc        bytea,
    previous_secret_expires_at timestamptz,
    method                     text NOT NULL DEFAULT 'POST' CHECK (method IN ('POST', 'PUT')),
    basic_auth_user            text NOT NULL DEFAULT '',
    basic_auth_password_enc    bytea,
    append_event_type          boolean NOT NULL DEFAULT false,
    format                     text NOT NULL DEFAULT 'batch' CHECK (format IN ('batch', 'event')),
    batch_window_seconds       integer NOT NULL DEFAULT 10 CHECK (batch_window_seconds BETWEEN 0 AND 3600),
    max_changes                integer NOT NULL DEFAULT 100 CHECK (max_changes BETWEEN 1 AND 1000),
    all_event_types            boolean NOT NULL DEFAULT false,
    all_courses                boolean NOT NULL DEFAULT true,
    state                      text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'disabled')),
    state_reason               text NOT NULL DEFAULT '',
    state_changed_at           timestamptz NOT NULL DEFAULT now(),
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT append_event_type OR format = 'event')
);
CREATE UNIQUE INDEX webhooks_partner_name_key ON webhooks (partner_id, lower(name));
CREATE INDEX webhooks_created_idx ON webhooks (created_at DESC, id DESC);
CREATE INDEX webhooks_name_trgm_idx ON webhooks USING gin (name gin_trgm_ops);
CREATE INDEX webhooks_url_trgm_idx ON webhooks USING gin (url gin_trgm_ops);

CREATE TABLE webhook_event_types (
    webhook_id text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type text NOT NULL REFERENCES event_types (name) ON DELETE RESTRICT,
    PRIMARY KEY (webhook_id, event_type)
);
CREATE INDEX webhook_event_types_type_idx ON webhook_event_types (event_type);

CREATE TABLE webhook_courses (
    webhook_id text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    course_id  text NOT NULL REFERENCES courses (id) ON DELETE RESTRICT,
    PRIMARY KEY (webhook_id, course_id)
);
CREATE INDEX webhook_courses_course_idx ON webhook_courses (course_id);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    text,
    actor_email text NOT NULL DEFAULT '',
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL DEFAULT '',
    summary     text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id);

-- +goose Down
DROP TABLE audit_log, webhook_courses, webhook_event_types, webhooks, courses, event_types,
    api_keys, sign_in_failures, users, partners;
