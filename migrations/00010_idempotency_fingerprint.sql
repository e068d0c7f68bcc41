-- +goose Up
-- What each idempotency key was used for (the product and quantity of the
-- add; the key itself names the cart), recorded by the statement that
-- records the key, so that the key reused for another request is refused
-- instead of silently answered as a retry. Keys recorded before this column
-- existed stay NULL and count as the same request until they expire.
ALTER TABLE idempotency_keys ADD COLUMN fingerprint text;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN fingerprint;
