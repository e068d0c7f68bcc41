package order_test

import (
	"context"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
)

// TestCheckoutIgnoresAStaleCatalogCache: the cart shows prices and stock
// from each replica's memory (catalog.Cache), which may lag a change by the
// time a notification takes, or longer when one is lost. Checkout must
// charge the price and take the stock of the moment, read in its own
// transaction, whatever the cache says.
func TestCheckoutIgnoresAStaleCatalogCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "Postgres")
	ctx := context.Background()
	// The products go in before the cache listens, so that no
	// notification of theirs arrives late and refreshes it.
	kettle, lamp := e.product(t, "Kettle", 1000, 5), e.product(t, "Lamp", 5000, 3)
	cache := catalog.NewCache(e.db, time.Hour, nil)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go cache.Listen(lctx)
	for deadline := time.Now().Add(5 * time.Second); !cache.Listening(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("cache not listening after 5s")
		}
	}
	carts := cart.NewService(e.store, cache)
	// quietly changes products without telling the caches: the
	// notification is lost, and the cache stays stale until its TTL.
	quietly := func(t *testing.T, sql string, args ...any) {
		t.Helper()
		tx, err := e.db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		if _, err := tx.Exec(ctx, `ALTER TABLE products DISABLE TRIGGER products_changed`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE products ENABLE TRIGGER products_changed`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	view := func(t *testing.T, key cart.Key) cart.View {
		t.Helper()
		v, err := carts.View(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// A refused checkout commits nothing, so it sends no notification
	// that could refresh the cache before the next subtest: it goes first.
	t.Run("RefusesStockThatIsGone", func(t *testing.T) {
		uid, key := e.user(t)
		id := lamp
		if _, _, err := carts.Add(ctx, key, id, 2); err != nil {
			t.Fatal(err)
		}
		quietly(t, `UPDATE products SET stock = 1 WHERE id = $1`, id)
		if v := view(t, key); v.Items[0].Stock != 3 {
			t.Fatalf("cached stock = %d: the cache is not stale, the test proves nothing", v.Items[0].Stock)
		}
		_, err := e.svc.Checkout(ctx, uid, key, 0)
		if !apperr.IsKind(err, apperr.KindConflict) {
			t.Fatalf("checkout of 2 with 1 in stock: err = %v, want an out-of-stock conflict", err)
		}
		if got := e.stock(t, id); got != 1 {
			t.Errorf("stock = %d after a refused checkout, want 1", got)
		}
		if n := e.orders(t, uid); n != 0 {
			t.Errorf("%d orders placed, want none", n)
		}
	})
	t.Run("ChargesThePriceOfTheMoment", func(t *testing.T) {
		uid, key := e.user(t)
		id := kettle
		if _, _, err := carts.Add(ctx, key, id, 2); err != nil {
			t.Fatal(err)
		}
		quietly(t, `UPDATE products SET price_cents = 1500 WHERE id = $1`, id)
		if got := view(t, key).TotalCents; got != 2000 {
			t.Fatalf("cart total = %d: the cache is not stale, the test proves nothing", got)
		}
		res := e.checkout(t, uid, key, 0)
		if res.Order.TotalCents != 3000 || len(res.Order.Items) != 1 || res.Order.Items[0].UnitPriceCents != 1500 {
			t.Errorf("order = %+v, want 2 × 1500 = 3000 (the price in the database, not the cached 1000)", res.Order)
		}
	})

}
