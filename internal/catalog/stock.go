package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/platform/postgres"
)

// The catalog owns the stock: the checkout transaction changes it only
// through these functions, which run inside the caller's transaction so
// that the stock taken and the order written commit or roll back together.

// ErrStockChanged is returned by TakeStock when a product no longer has the
// quantity asked for: the stock moved between LockForOrder and TakeStock,
// which the lock rules out, so it is a guard, not a user's mistake.
var ErrStockChanged = apperr.Conflict("stock_changed", "The stock of an item in your cart just changed. Please try again.", nil)

// LockForOrder returns the products with the given ids with their price and
// stock of the moment and their pictures (no descriptions), and locks their rows until tx
// ends. The rows are locked in id order, so that transactions sharing
// products queue instead of deadlocking. Ids that do not exist are absent.
func LockForOrder(ctx context.Context, tx pgx.Tx, ids []int64) ([]Product, error) {
	rows, err := tx.Query(ctx, `SELECT id, sku, name, price_cents, stock, image FROM products
		WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, postgres.Error("lock products for an order", err, nil)
	}
	products, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Product, error) {
		var p Product
		err := r.Scan(&p.ID, &p.SKU, &p.Name, &p.PriceCents, &p.Stock, &p.Image)
		return p, err
	})
	if err != nil {
		return nil, postgres.Error("lock products for an order", err, nil)
	}
	return products, nil
}

// Take is a quantity of one product that an order takes from the stock.
type Take struct {
	ProductID int64
	Quantity  int
}

// TakeStock lowers the stock of each product by its quantity, in tx. When
// any of them has too little it fails with ErrStockChanged, and the caller
// must roll tx back (the other products' stock was lowered). Each product
// appears at most once.
func TakeStock(ctx context.Context, tx pgx.Tx, takes []Take) error {
	ids := make([]int64, len(takes))
	qtys := make([]int32, len(takes))
	for i, t := range takes {
		ids[i], qtys[i] = t.ProductID, int32(t.Quantity)
	}
	// The guard repeats the stock check in the statement that takes the
	// stock, so stock can never go below zero even if the caller's lock
	// were ever lost in a refactoring; the CHECK on products is the last
	// line.
	tag, err := tx.Exec(ctx, `UPDATE products p SET stock = p.stock - o.quantity
		FROM unnest($1::bigint[], $2::int[]) AS o (id, quantity)
		WHERE p.id = o.id AND p.stock >= o.quantity`, ids, qtys)
	if err != nil {
		return postgres.Error(fmt.Sprintf("take stock of %d products", len(takes)), err, nil)
	}
	if int(tag.RowsAffected()) != len(takes) {
		return ErrStockChanged
	}
	return nil
}
