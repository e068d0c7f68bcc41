-- +goose Up
-- Carts for SESSION_STORE=postgres. A cart's key is "g:<random id>" for a
-- guest (the id lives in the session) or "u:<user id>" for an account, so the
-- browser and the API share one cart per account.
CREATE TABLE carts (
    key        text        PRIMARY KEY,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX carts_updated_at_idx ON carts (updated_at);

-- One row per product in a cart; changed only by single-statement upserts so
-- that concurrent requests never lose a line.
CREATE TABLE cart_items (
    cart_key   text    NOT NULL REFERENCES carts (key) ON DELETE CASCADE,
    product_id bigint  NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    PRIMARY KEY (cart_key, product_id)
);

-- +goose Down
DROP TABLE cart_items;
DROP TABLE carts;
