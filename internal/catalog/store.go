package catalog

import (
	"context"
	"fmt"

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
