-- +goose Up
-- Sessions for SESSION_STORE=postgres. token is the SHA-256 of the cookie value
-- (scs HashTokenInStore), so a copy of this table does not hand out logins.
CREATE TABLE sessions (
    token   text        PRIMARY KEY,
    user_id bigint      REFERENCES users (id) ON DELETE CASCADE,
    data    bytea       NOT NULL,
    expiry  timestamptz NOT NULL
);

-- The cleanup job deletes by expiry; the session list and revocation look up
-- by user.
CREATE INDEX sessions_expiry_idx ON sessions (expiry);
CREATE INDEX sessions_user_id_idx ON sessions (user_id) WHERE user_id IS NOT NULL;

-- +goose Down
DROP TABLE sessions;
