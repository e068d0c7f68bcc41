package cart_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/testenv"
)

// TestServiceKnowsTheStock: adds and updates are held to what is in stock,
// on both stores, by the store's atomic operation.
func TestServiceKnowsTheStock(t *testing.T) {
	t.Parallel()
	for _, store := range []struct {
		name  string
		redis bool
	}{{"Postgres", false}, {"Redis", true}} {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			f := newServiceFixture(t, store.redis)
			ctx := context.Background()
			// Products of this test's own, with 8 in stock each.
			mustAddProducts(t, f.db, []int64{601, 602, 603, 604, 605, 606})
			if _, err := f.db.Exec(ctx, `UPDATE products SET stock = 8 WHERE id BETWEEN 601 AND 606`); err != nil {
				t.Fatal(err)
			}

			t.Run("AddBeyondTheStockIsCappedWithANotice", func(t *testing.T) {
				key := newKey()
				p, n, err := f.svc.Add(ctx, key, 601, 50)
				if err != nil {
					t.Fatal(err)
				}
				if n != 8 {
					t.Errorf("Add(50 of 8) = %d, want 8", n)
				}
				got, want := cart.StockNotice(p, n), "Only 8 left of Test product 601"
				if !strings.HasPrefix(got, want) {
					t.Errorf("StockNotice = %q, want it to start with %q", got, want)
				}
				wantLines(t, f.store, key, map[int64]int{601: 8})
			})

			t.Run("AddWithinTheStockHasNoNotice", func(t *testing.T) {
				key := newKey()
				p, n, err := f.svc.Add(ctx, key, 602, 3)
				if err != nil || n != 3 {
					t.Fatalf("Add(3 of 8) = %d, %v; want 3", n, err)
				}
				if got := cart.StockNotice(p, n); got != "" {
					t.Errorf("StockNotice = %q, want none", got)
				}
			})

			t.Run("KeyedAddIsCappedToo", func(t *testing.T) {
				key := newKey()
				mustAdd(t, f.store, key, 603, 5)
				_, n, applied, err := f.svc.AddOnce(ctx, key, 603, 9, testenv.RandomName("k-"))
				if err != nil || !applied || n != 8 {
					t.Fatalf("AddOnce(5 + 9 of 8) = %d, %v, %v; want 8, applied", n, applied, err)
				}
			})

			t.Run("ConcurrentAddsNeverPassTheStock", func(t *testing.T) {
				key := newKey()
				var wg sync.WaitGroup
				for range 20 {
					wg.Go(func() {
						if _, _, err := f.svc.Add(ctx, key, 604, 1); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				wantLines(t, f.store, key, map[int64]int{604: 8})
			})

			t.Run("SetBeyondTheStockIsCapped", func(t *testing.T) {
				key := newKey()
				p, n, err := f.svc.Set(ctx, key, 605, 20)
				if err != nil || n != 8 {
					t.Fatalf("Set(20 of 8) = %d, %v; want 8", n, err)
				}
				if cart.StockNotice(p, n) == "" {
					t.Error("no notice for a capped update")
				}
				wantLines(t, f.store, key, map[int64]int{605: 8})
			})

			t.Run("SoldOutLineCanOnlyBeRemovedAndIsMarkedShort", func(t *testing.T) {
				key := newKey()
				mustAdd(t, f.store, key, 606, 2)
				if _, err := f.db.Exec(ctx, `UPDATE products SET stock = 0 WHERE id = 606`); err != nil {
					t.Fatal(err)
				}
				v, err := f.svc.View(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if short := v.Short(); len(short) != 1 || short[0].ProductID != 606 {
					t.Errorf("Short() = %+v, want the line of product 606", short)
				}
				_, _, err = f.svc.Set(ctx, key, 606, 1)
				if e := apperr.As(err); e == nil || e.Code != "out_of_stock" {
					t.Errorf("Set(sold out) error = %v, want out_of_stock", err)
				}
				if _, _, err := f.svc.Set(ctx, key, 606, 0); err != nil {
					t.Errorf("Set(sold out, 0) = %v, want the line removed", err)
				}
				wantLines(t, f.store, key, map[int64]int{})
			})
		})
	}
}
