-- +goose Up
-- The checkout's steps: a shipping address kept on the account for next
-- time, and on each order the address it ships to, the shipping option,
-- the tax, the payment method and the order's status. Orders placed before
-- this migration read as placed, paid on delivery, with no address.
CREATE TABLE shipping_addresses (
    user_id     bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    line1       text        NOT NULL,
    line2       text        NOT NULL DEFAULT '',
    postal_code text        NOT NULL,
    city        text        NOT NULL,
    country     text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE orders
    ADD COLUMN status          text   NOT NULL DEFAULT 'placed'
        CHECK (status IN ('placed', 'paid', 'shipped')),
    ADD COLUMN paid_at         timestamptz,
    ADD COLUMN shipped_at      timestamptz,
    ADD COLUMN payment_method  text   NOT NULL DEFAULT 'on_delivery'
        CHECK (payment_method IN ('on_delivery', 'invoice')),
    ADD COLUMN shipping_option text   NOT NULL DEFAULT 'standard',
    ADD COLUMN shipping_cents  bigint NOT NULL DEFAULT 0 CHECK (shipping_cents >= 0),
    ADD COLUMN tax_cents       bigint NOT NULL DEFAULT 0 CHECK (tax_cents >= 0),
    -- The address as it was when the order was placed (a copy: changing
    -- the saved address later does not move a placed order).
    ADD COLUMN ship_to         jsonb;

-- The picture of each line, as the product had it when ordered.
ALTER TABLE order_lines ADD COLUMN image text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE order_lines DROP COLUMN image;
ALTER TABLE orders
    DROP COLUMN ship_to,
    DROP COLUMN tax_cents,
    DROP COLUMN shipping_cents,
    DROP COLUMN shipping_option,
    DROP COLUMN payment_method,
    DROP COLUMN shipped_at,
    DROP COLUMN paid_at,
    DROP COLUMN status;
DROP TABLE shipping_addresses;
