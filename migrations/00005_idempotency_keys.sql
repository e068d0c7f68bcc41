-- +goose Up
-- Keys of requests already applied (SESSION_STORE=postgres), so that a
-- request retried after a replica died mid-way is applied exactly once.
-- A key is recorded by the same statement that applies the change.
CREATE TABLE idempotency_keys (
    key        text        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
