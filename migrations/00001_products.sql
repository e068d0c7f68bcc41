-- +goose Up
CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    sku         text        NOT NULL UNIQUE,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    price_cents bigint      NOT NULL CHECK (price_cents >= 0),
    stock       integer     NOT NULL CHECK (stock >= 0),
    image       text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO products (sku, name, description, price_cents, stock, image) VALUES
 ('MUG-001', 'Stoneware Mug', 'A hand-glazed 350 ml stoneware mug with a generous handle. Dishwasher and microwave safe.', 1800, 40, 'img/products/mug.svg'),
 ('DRP-002', 'Pour-Over Coffee Dripper', 'Ceramic cone dripper for one or two cups. Fits standard #2 paper filters.', 2900, 25, 'img/products/dripper.svg'),
 ('BEAN-003', 'Single-Origin Coffee Beans, 250 g', 'Washed Ethiopian beans, light roast, with notes of jasmine, lemon and honey. Roasted weekly.', 1450, 60, 'img/products/coffee-beans.svg'),
 ('KTL-004', 'Gooseneck Kettle', 'A 1 litre stainless steel kettle with a slender spout for a slow, even pour. Works on every hob.', 5900, 15, 'img/products/kettle.svg'),
 ('NTB-005', 'Dot-Grid Notebook', 'A5, 192 numbered pages of 100 g/m² paper that takes fountain-pen ink without bleeding.', 1200, 80, 'img/products/notebook.svg'),
 ('PEN-006', 'Fountain Pen', 'A balanced aluminium fountain pen with a fine steel nib and a converter for bottled ink.', 3400, 30, 'img/products/fountain-pen.svg'),
 ('TOTE-007', 'Canvas Tote Bag', 'Heavy organic cotton canvas with long handles and an inside pocket. Holds a week of groceries.', 2200, 50, 'img/products/tote-bag.svg'),
 ('BTL-008', 'Insulated Water Bottle', 'Double-walled 750 ml bottle: cold for 24 hours, hot for 12. Leak-proof lid.', 2800, 45, 'img/products/water-bottle.svg'),
 ('LAMP-009', 'Brass Desk Lamp', 'An adjustable brass arm with a warm 2700 K LED and a dimmer in the base.', 7900, 10, 'img/products/desk-lamp.svg'),
 ('POT-010', 'Terracotta Plant Pot', 'Unglazed 15 cm terracotta pot with a drainage hole and a matching saucer.', 1600, 70, 'img/products/plant-pot.svg'),
 ('CNDL-011', 'Cedar & Sage Candle', 'Soy wax candle in a reusable glass jar; about 45 hours of calm, woody scent.', 2400, 35, 'img/products/candle.svg'),
 ('SOCK-012', 'Merino Wool Socks', 'Soft, warm and breathable merino socks with a reinforced heel and toe. One pair.', 1900, 90, 'img/products/wool-socks.svg'),
 ('BRD-013', 'Walnut Cutting Board', 'End-grain American walnut board, 40 × 28 cm, finished with food-safe oil.', 4500, 12, 'img/products/cutting-board.svg'),
 ('HDP-014', 'Wireless Headphones', 'Over-ear headphones with active noise cancelling and 30 hours of battery.', 12900, 8, 'img/products/headphones.svg');

-- +goose Down
DROP TABLE products;
