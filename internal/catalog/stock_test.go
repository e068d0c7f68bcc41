package catalog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/testenv"
)

func TestStock(t *testing.T) {
	t.Parallel()
	db := testenv.MustDatabase(t)
	ctx := context.Background()
	stock := func(t *testing.T, id int64) int {
		t.Helper()
		p, err := catalog.NewStore(db).Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return p.Stock
	}

	t.Run("LockForOrderReturnsExistingProductsInIDOrderAndLocksThem", func(t *testing.T) {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		got, err := catalog.LockForOrder(ctx, tx, []int64{3, 999999, 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 || got[0].Name == "" || got[0].PriceCents <= 0 || got[0].Stock <= 0 {
			t.Fatalf("LockForOrder = %+v, want products 1 and 3 with name, price and stock", got)
		}
		// Another transaction cannot take the rows while tx holds them.
		other, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Rollback(ctx) //nolint:errcheck
		if _, err := other.Exec(ctx, `SELECT 1 FROM products WHERE id = 3 FOR UPDATE NOWAIT`); err == nil {
			t.Error("product 3 is not locked")
		}
	})

	t.Run("TakeStockLowersTheStock", func(t *testing.T) {
		before1, before2 := stock(t, 5), stock(t, 6)
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		if err := catalog.TakeStock(ctx, tx, []catalog.Take{{ProductID: 5, Quantity: 2}, {ProductID: 6, Quantity: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if got1, got2 := stock(t, 5), stock(t, 6); got1 != before1-2 || got2 != before2-1 {
			t.Errorf("stock = %d, %d; want %d, %d", got1, got2, before1-2, before2-1)
		}
	})

	t.Run("TakeStockRefusesMoreThanThereIs", func(t *testing.T) {
		before1, before2 := stock(t, 7), stock(t, 8)
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		err = catalog.TakeStock(ctx, tx, []catalog.Take{{ProductID: 7, Quantity: 1}, {ProductID: 8, Quantity: before2 + 1}})
		if !errors.Is(err, catalog.ErrStockChanged) {
			t.Fatalf("err = %v, want ErrStockChanged", err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if got1, got2 := stock(t, 7), stock(t, 8); got1 != before1 || got2 != before2 {
			t.Errorf("stock after rollback = %d, %d; want %d, %d", got1, got2, before1, before2)
		}
	})
}
