-- +goose Up
-- Replicas keep the catalog in memory (internal/catalog.Cache); this tells
-- them when the products table changes, so that every replica drops its
-- copy at once. One notification per statement, not per row: a cache
-- reloads the whole (small) table anyway, and a checkout that takes the
-- stock of five products then costs each replica one reload, not five.
-- PostgreSQL delivers it only when the transaction commits, and folds
-- identical notifications of one transaction into one.
--
-- Prices and stock that checkout charges are read inside its transaction,
-- never from a cache: a replica that misses a notification shows a stale
-- price for a moment but cannot sell at it.
-- +goose StatementBegin
CREATE FUNCTION notify_products_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('products_changed', '*');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER products_changed
    AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION notify_products_changed();

CREATE TRIGGER products_truncated
    AFTER TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION notify_products_changed();

-- +goose Down
DROP TRIGGER products_truncated ON products;
DROP TRIGGER products_changed ON products;
DROP FUNCTION notify_products_changed();
