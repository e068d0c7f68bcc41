-- +goose Up
-- Mail: a durable outbox, single-use account tokens (password reset, email
-- verification), the verification state, and orders that outlive their
-- account.

-- NULL until the owner follows the link of a verification mail (or of a
-- password reset, which proves the same).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- A token is stored as its SHA-256 only: a copy of this table lets nobody
-- reset a password. One live token per account and purpose: issuing a new
-- one replaces the old (UNIQUE (user_id, purpose)), and using one deletes
-- it.
CREATE TABLE account_tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('reset', 'verify')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, purpose)
);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);

-- Mails wait here until a replica's sender hands them to the SMTP server:
-- a request only inserts a row, so a slow or down mail server never fails
-- or slows it. A sent mail's row is deleted (its body may hold a live
-- link); one that failed for good keeps failed_at and its last error until
-- the cleanup job removes it.
CREATE TABLE mail_outbox (
    id              bigserial   PRIMARY KEY,
    kind            text        NOT NULL,
    to_addr         text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    failed_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;

-- A deleted account's orders stay (the shop's books need them), without
-- the account: user_id becomes NULL instead of the orders going with it.
ALTER TABLE orders ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey,
    ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL;

-- +goose Down
DELETE FROM orders WHERE user_id IS NULL;
ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey,
    ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE orders ALTER COLUMN user_id SET NOT NULL;
DROP TABLE mail_outbox;
DROP TABLE account_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
