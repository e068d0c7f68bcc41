-- +goose Up
-- Full-text search over the catalog: the words of the name (weight A, so a
-- match in the name ranks first) and of the description (weight B), kept
-- by PostgreSQL in a generated column and indexed with GIN, so a search is
-- an index scan however large the catalog grows. 'english' stems words
-- ("mugs" finds "Mug").
ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', description), 'B')
) STORED;
CREATE INDEX products_search_idx ON products USING gin (search);

-- +goose Down
DROP INDEX products_search_idx;
ALTER TABLE products DROP COLUMN search;
