-- +goose Up
-- Every account gets a random public id and a session epoch.
--
-- public_id keys what lives outside this database (account carts and
-- session indexes in Redis): a serial id comes back when the database is
-- recreated or restored while Redis keeps its keys, and a new account must
-- never inherit an old one's cart, session list or live sessions.
--
-- session_epoch is copied into every session and API token the account is
-- issued and compared on every request: a password change, a reset or
-- "sign out everywhere" increments it, so every session issued before
-- stops working, even a copy that a stale write or a restored backup put
-- back into the session store.
ALTER TABLE users
    ADD COLUMN public_id     uuid   NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN session_epoch bigint NOT NULL DEFAULT 1;

CREATE UNIQUE INDEX users_public_id_key ON users (public_id);

-- Account carts (SESSION_STORE=postgres) move from "u:<id>" to
-- "a:<public id>". cart_items follow their cart: the new cart row first,
-- then the lines, then the old row.
INSERT INTO carts (key, updated_at)
SELECT 'a:' || u.public_id, c.updated_at
FROM carts c JOIN users u ON c.key = 'u:' || u.id;
UPDATE cart_items i SET cart_key = 'a:' || u.public_id
FROM users u WHERE i.cart_key = 'u:' || u.id;
DELETE FROM carts WHERE key LIKE 'u:%';

-- Replicas cache each account's public id and epoch; this tells them when
-- one changes, so that a revocation is seen at once on every replica.
-- +goose StatementBegin
CREATE FUNCTION notify_account_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('account_changed', '*');
    ELSE
        PERFORM pg_notify('account_changed', OLD.id::text);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_account_changed
    AFTER UPDATE OF public_id, session_epoch OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_account_changed();

CREATE TRIGGER users_truncated
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_account_changed();

-- +goose Down
DROP TRIGGER users_truncated ON users;
DROP TRIGGER users_account_changed ON users;
DROP FUNCTION notify_account_changed();
INSERT INTO carts (key, updated_at)
SELECT 'u:' || u.id, c.updated_at
FROM carts c JOIN users u ON c.key = 'a:' || u.public_id;
UPDATE cart_items i SET cart_key = 'u:' || u.id
FROM users u WHERE i.cart_key = 'a:' || u.public_id;
DELETE FROM carts WHERE key LIKE 'a:%';
DROP INDEX users_public_id_key;
ALTER TABLE users DROP COLUMN public_id, DROP COLUMN session_epoch;
