-- +goose Up
-- A cart's generation names one version of it for checkout: an order is
-- written for (cart_key, generation) at most once, and completing the
-- checkout moves the cart to the next generation. A new cart row starts at
-- the clock's milliseconds rather than at 0, so that a cart deleted and made
-- again never reuses a generation that already has an order.
ALTER TABLE carts
    ADD COLUMN generation bigint NOT NULL
        DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint;

CREATE TABLE orders (
    id              bigserial   PRIMARY KEY,
    user_id         bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cart_key        text        NOT NULL,
    cart_generation bigint      NOT NULL,
    total_cents     bigint      NOT NULL CHECK (total_cents >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- One order per version of a cart: a double submit or a retry through
    -- nginx finds the order the first attempt wrote.
    UNIQUE (cart_key, cart_generation)
);

-- The account's order list, newest first.
CREATE INDEX orders_user_id_idx ON orders (user_id, id DESC);

-- The lines keep the name, SKU and price the customer paid, so an order
-- reads the same after the catalog changes; product_id is therefore a plain
-- reference, not a foreign key that would stop a product from being removed.
CREATE TABLE order_lines (
    order_id         bigint  NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       bigint  NOT NULL,
    name             text    NOT NULL,
    sku              text    NOT NULL,
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents >= 0),
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    line_total_cents bigint  NOT NULL CHECK (line_total_cents = unit_price_cents * quantity),
    PRIMARY KEY (order_id, product_id)
);

-- +goose Down
DROP TABLE order_lines;
DROP TABLE orders;
ALTER TABLE carts DROP COLUMN generation;
