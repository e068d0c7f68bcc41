-- +goose Up
-- What an account's session list shows, kept beside each session so that the
-- list is one index lookup and a touch is one UPDATE, never a decode of the
-- session data.
ALTER TABLE sessions
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_seen  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN ip         text        NOT NULL DEFAULT '',
    ADD COLUMN user_agent text        NOT NULL DEFAULT '',
    ADD COLUMN replica    text        NOT NULL DEFAULT '';

-- Failed logins per account and per client address (SESSION_STORE=postgres),
-- shared by every replica; a row lives until its window ends.
CREATE TABLE login_failures (
    key        text        PRIMARY KEY,
    failures   integer     NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX login_failures_expires_at_idx ON login_failures (expires_at);

-- +goose Down
DROP TABLE login_failures;
ALTER TABLE sessions
    DROP COLUMN created_at,
    DROP COLUMN last_seen,
    DROP COLUMN ip,
    DROP COLUMN user_agent,
    DROP COLUMN replica;
