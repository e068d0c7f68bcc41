package cart_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/testenv"
)

func TestParseQuantity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		def, min int
		want     int
		wantErr  bool
	}{
		{"EmptyGivesDefault", "", 1, 1, 1, false},
		{"BlankGivesDefault", "   ", 3, 1, 3, false},
		{"AcceptsOne", "1", 1, 1, 1, false},
		{"AcceptsMax", "99", 1, 1, 99, false},
		{"TrimsSpaces", " 5 ", 1, 1, 5, false},
		{"AcceptsZeroWhereMinIsZero", "0", 1, 0, 0, false},
		{"RejectsZeroWhereMinIsOne", "0", 1, 1, 0, true},
		{"RejectsQuantityAbove99", "100", 1, 1, 0, true},
		{"RejectsQuantityAbove99WhereMinIsZero", "100", 1, 0, 0, true},
		{"RejectsLetters", "abc", 1, 1, 0, true},
		{"RejectsNegative", "-1", 1, 0, 0, true},
		{"RejectsFraction", "1.5", 1, 1, 0, true},
		{"RejectsHugeNumber", "99999999999999999999", 1, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := cart.ParseQuantity(tt.in, tt.def, tt.min)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseQuantity(%q, %d, %d) = %d, want an error", tt.in, tt.def, tt.min, got)
				}
				e := apperr.As(err)
				if e == nil || e.Kind != apperr.KindInvalid {
					t.Fatalf("ParseQuantity(%q) error = %v, want an apperr of KindInvalid", tt.in, err)
				}
				if e.Fields["quantity"] == "" {
					t.Errorf("ParseQuantity(%q) error has no quantity field message: %#v", tt.in, e.Fields)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseQuantity(%q, %d, %d): %v", tt.in, tt.def, tt.min, err)
			}
			if got != tt.want {
				t.Errorf("ParseQuantity(%q, %d, %d) = %d, want %d", tt.in, tt.def, tt.min, got, tt.want)
			}
		})
	}
}

func TestParseProductID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"AcceptsID", "7", 7, false},
		{"TrimsSpaces", " 5 ", 5, false},
		{"AcceptsLargeID", "9223372036854775807", 9223372036854775807, false},
		{"RejectsEmpty", "", 0, true},
		{"RejectsLetters", "abc", 0, true},
		{"RejectsZero", "0", 0, true},
		{"RejectsNegative", "-1", 0, true},
		{"RejectsOverflow", "9223372036854775808", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := cart.ParseProductID(tt.in)
			if tt.wantErr {
				if !errors.Is(err, cart.ErrUnknownProduct) {
					t.Errorf("ParseProductID(%q) = %d, %v; want ErrUnknownProduct", tt.in, got, err)
				}
				if !apperr.IsKind(err, apperr.KindInvalid) {
					t.Errorf("ParseProductID(%q) error kind is not KindInvalid: %v", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseProductID(%q) = %d, %v; want %d, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

// serviceFixture is a cart service over a real catalog.
type serviceFixture struct {
	db    *pgxpool.Pool
	store cart.Store
	svc   *cart.Service
}

func newServiceFixture(t *testing.T, redisStore bool) serviceFixture {
	t.Helper()
	db := testenv.MustDatabase(t)
	var store cart.Store = cart.NewPostgresStore(db)
	if redisStore {
		pool, prefix := testenv.MustRedis(t)
		store = cart.NewRedisStore(pool, prefix, time.Hour)
	}
	return serviceFixture{db: db, store: store, svc: cart.NewService(store, catalog.NewStore(db))}
}

func TestServiceAdd(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, false)
	ctx := context.Background()

	t.Run("AddsAndReturnsProduct", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		p, n, err := f.svc.Add(ctx, key, 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		var wantName string
		if err := f.db.QueryRow(ctx, `SELECT name FROM products WHERE id = 2`).Scan(&wantName); err != nil {
			t.Fatal(err)
		}
		if p.ID != 2 || p.Name != wantName || n != 3 {
			t.Errorf("Add = product %d %q, quantity %d; want product 2 %q, quantity 3", p.ID, p.Name, n, wantName)
		}
		wantLines(t, f.store, key, map[int64]int{2: 3})
	})

	t.Run("RejectsUnknownProductAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, f.store, key, 1, 2)
		var unknown int64
		if err := f.db.QueryRow(ctx, `SELECT max(id) + 1 FROM products`).Scan(&unknown); err != nil {
			t.Fatal(err)
		}
		_, _, err := f.svc.Add(ctx, key, unknown, 1)
		if !errors.Is(err, cart.ErrUnknownProduct) {
			t.Errorf("Add(unknown product %d) error = %v, want ErrUnknownProduct", unknown, err)
		}
		if !apperr.IsKind(err, apperr.KindInvalid) {
			t.Errorf("Add(unknown product) error kind is not KindInvalid: %v", err)
		}
		wantLines(t, f.store, key, map[int64]int{1: 2})
	})

	t.Run("RejectsOutOfStockProductAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, f.store, key, 1, 2)
		if _, err := f.db.Exec(ctx, `UPDATE products SET stock = 0 WHERE id = 3`); err != nil {
			t.Fatal(err)
		}
		_, _, err := f.svc.Add(ctx, key, 3, 1)
		e := apperr.As(err)
		if e == nil || e.Kind != apperr.KindInvalid {
			t.Fatalf("Add(out-of-stock product) error = %v, want an apperr of KindInvalid", err)
		}
		if e.Code != "out_of_stock" {
			t.Errorf("error code = %q, want out_of_stock", e.Code)
		}
		wantLines(t, f.store, key, map[int64]int{1: 2})
	})

	t.Run("SetOfUnknownProductChangesNothing", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, f.store, key, 4, 1)
		_, _, err := f.svc.Set(ctx, key, 100000, 5)
		if !errors.Is(err, cart.ErrUnknownProduct) {
			t.Errorf("Set(unknown product) error = %v, want ErrUnknownProduct", err)
		}
		wantLines(t, f.store, key, map[int64]int{4: 1})
	})

	t.Run("CountSumsQuantities", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, f.store, key, 5, 2)
		mustAdd(t, f.store, key, 6, 7)
		got, err := f.svc.Count(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if got != 9 {
			t.Errorf("Count = %d, want 9", got)
		}
	})
}

func TestServiceView(t *testing.T) {
	t.Parallel()
	// Redis keeps the lines: deleting a product from PostgreSQL cannot
	// cascade into them, so View must skip the orphaned line itself.
	f := newServiceFixture(t, true)
	ctx := context.Background()

	t.Run("JoinsProductsSortsAndTotals", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		quantities := map[int64]int{9: 2, 1: 3, 14: 1}
		for id, q := range quantities {
			mustAdd(t, f.store, key, id, q)
		}
		got, err := f.svc.View(ctx, key)
		if err != nil {
			t.Fatal(err)
		}

		want := cart.View{Items: []cart.Item{}}
		for _, id := range []int64{1, 9, 14} {
			var it cart.Item
			err := f.db.QueryRow(ctx, `SELECT id, sku, name, image, price_cents, stock FROM products WHERE id = $1`, id).
				Scan(&it.ProductID, &it.SKU, &it.Name, &it.Image, &it.UnitPriceCents, &it.Stock)
			if err != nil {
				t.Fatal(err)
			}
			it.Quantity = quantities[id]
			it.LineTotalCents = it.UnitPriceCents * int64(it.Quantity)
			want.Items = append(want.Items, it)
			want.Count += it.Quantity
			want.TotalCents += it.LineTotalCents
		}
		if !viewsEqual(got, want) {
			t.Errorf("View =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("SkipsLinesOfDeletedProducts", func(t *testing.T) {
		t.Parallel()
		// A product of its own, so deleting it cannot disturb other subtests.
		mustAddProducts(t, f.db, []int64{500})
		key := newKey()
		mustAdd(t, f.store, key, 500, 4)
		mustAdd(t, f.store, key, 2, 1)
		if _, err := f.db.Exec(ctx, `DELETE FROM products WHERE id = 500`); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.View(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var price int64
		if err := f.db.QueryRow(ctx, `SELECT price_cents FROM products WHERE id = 2`).Scan(&price); err != nil {
			t.Fatal(err)
		}
		if len(got.Items) != 1 || got.Items[0].ProductID != 2 || got.Count != 1 || got.TotalCents != price {
			t.Errorf("View = %+v, want only product 2 (count 1, total %d)", got, price)
		}
	})

	t.Run("EmptyCartHasEmptyItems", func(t *testing.T) {
		t.Parallel()
		got, err := f.svc.View(ctx, newKey())
		if err != nil {
			t.Fatal(err)
		}
		// Items must be an empty slice, not nil: JSON clients get [] not null.
		if got.Items == nil || len(got.Items) != 0 || got.Count != 0 || got.TotalCents != 0 {
			t.Errorf("View of an empty cart = %#v, want empty non-nil Items and zero totals", got)
		}
	})
}

func viewsEqual(a, b cart.View) bool {
	return a.Count == b.Count && a.TotalCents == b.TotalCents && slices.Equal(a.Items, b.Items)
}
