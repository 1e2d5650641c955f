-- +goose Up
-- Sessions live on the server: the cookie carries the session's id, and signing out deletes the
-- row, so a copied cookie stops working too. Rows older than the longest session are pruned
-- whenever one is made.
CREATE TABLE sessions (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_created_at_idx ON sessions (created_at);

-- A password someone else chose (the first admin's, an admin's for a new user, a reset) must be
-- changed at the next sign-in.
ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- Sign-in throttling, per email and per client address: keyed by a SHA-256 of either, so that
-- whatever a caller types the key stays 32 bytes; rows idle past the window are pruned.
DROP TABLE sign_in_failures;
CREATE TABLE sign_in_failures (
    key          bytea PRIMARY KEY CHECK (octet_length(key) = 32),
    failures     integer NOT NULL,
    last_failure timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_last_failure_idx ON sign_in_failures (last_failure);

-- +goose Down
DROP TABLE sign_in_failures;
CREATE TABLE sign_in_failures (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    last_failure timestamptz NOT NULL
);
ALTER TABLE users DROP COLUMN must_change_password;
DROP TABLE sessions;
