package catalog

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/platform/postgres"
)

// ErrNotFound is returned for a product id that does not exist.
var ErrNotFound = apperr.NotFound("product_not_found", "That product does not exist.")

// Store loads products from PostgreSQL.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const productColumns = `id, sku, name, description, price_cents, stock, image`

func scanProduct(row pgx.Row) (Product, error) {
	var p Product
	err := row.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Stock, &p.Image)
	return p, err
}

// List returns every product, in catalog order.
func (s *Store) List(ctx context.Context) ([]Product, error) {
	rows, err := s.db.Query(ctx, `SELECT `+productColumns+` FROM products ORDER BY id`)
	if err != nil {
		return nil, postgres.Error("list products", err, nil)
	}
	products, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Product, error) { return scanProduct(r) })
	if err != nil {
		return nil, postgres.Error("list products", err, nil)
	}
	return products, nil
}

// MaxQueryLength is the most characters of a search query the catalog
// reads; the rest is ignored.
const MaxQueryLength = 200

// Search returns the products whose name or description holds the words
// of query (PostgreSQL full-text search, English stemming, through the GIN
// index of migration product_search), best matches first: a match in the
// name ranks above one in the description. The query is read as people
// type into a search box ("quoted phrases", or, -excluded). Every word but
// the last must match whole (after stemming); the last also matches as a
// prefix, so "head" finds "Headphones". An empty query lists the catalog.
func (s *Store) Search(ctx context.Context, query string) ([]Product, error) {
	query = strings.TrimSpace(query)
	if r := []rune(query); len(r) > MaxQueryLength {
		query = string(r[:MaxQueryLength])
	}
	if query == "" {
		return s.List(ctx)
	}
	// websearch_to_tsquery never fails on what a person types. A shopper
	// still typing the last word finds it as a prefix: the words before it
	// AND the prefix, built with to_tsquery on a word of letters and digits
	// only, OR-ed with the whole query.
	head, last := splitLastWord(query)
	rows, err := s.db.Query(ctx, `WITH q AS (
			SELECT CASE WHEN $3 = '' THEN websearch_to_tsquery('english', $1)
			            ELSE websearch_to_tsquery('english', $1) ||
			                 (websearch_to_tsquery('english', $2) && to_tsquery('simple', $3 || ':*')) END AS q
		)
		SELECT `+productColumns+` FROM products, q
		WHERE search @@ q.q
		ORDER BY ts_rank(search, q.q) DESC, id`, query, head, last)
	if err != nil {
		return nil, postgres.Error("search products", err, nil)
	}
	products, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Product, error) { return scanProduct(r) })
	if err != nil {
		return nil, postgres.Error("search products", err, nil)
	}
	return products, nil
}

// splitLastWord splits a query into the words before the last and the
// last word, lower case, when that word can be a prefix lexeme: at least 3
// letters or digits and nothing else. Otherwise last is "".
func splitLastWord(query string) (head, last string) {
	f := strings.Fields(query)
	if len(f) == 0 {
		return "", ""
	}
	w := strings.ToLower(f[len(f)-1])
	if len([]rune(w)) < 3 {
		return "", ""
	}
	for _, r := range w {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return "", ""
		}
	}
	return strings.Join(f[:len(f)-1], " "), w
}

// Get returns one product, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (Product, error) {
	p, err := scanProduct(s.db.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
	if err != nil {
		return Product{}, postgres.Error(fmt.Sprintf("get product %d", id), err, ErrNotFound)
	}
	return p, nil
}

// GetMany returns the products with the given ids, keyed by id, without
// their descriptions: it serves every cart view, which shows none, and the
// descriptions were most of the bytes it read and allocated (see
// docs/benchmarks.md). Ids that do not exist are absent from the map.
func (s *Store) GetMany(ctx context.Context, ids []int64) (map[int64]Product, error) {
	out := make(map[int64]Product, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `SELECT id, sku, name, price_cents, stock, image FROM products WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, postgres.Error("get products", err, nil)
	}
	// Straight into the map: no slice of rows in between.
	var p Product
	_, err = pgx.ForEachRow(rows, []any{&p.ID, &p.SKU, &p.Name, &p.PriceCents, &p.Stock, &p.Image}, func() error {
		out[p.ID] = p
		return nil
	})
	if err != nil {
		return nil, postgres.Error("get products", err, nil)
	}
	return out, nil
}
