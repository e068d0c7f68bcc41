package cart_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/testenv"
)

// BenchmarkCartStore measures the cart operations of a request on each
// store: add (AddOnce with an idempotency key, as the add form and the
// load test send), snapshot (lines and generation, what GET /cart reads),
// lines (the header badge), on a cart of six lines; and view, the whole
// GET /cart: the snapshot plus the product rows from PostgreSQL.
func BenchmarkCartStore(b *testing.B) {
	pool, prefix := testenv.MustRedis(b)
	db := testenv.MustDatabase(b)
	products := catalog.NewStore(db)
	stores := []struct {
		name  string
		store cart.Store
	}{
		{"memory", cart.NewMemoryStore(time.Hour)},
		{"redis", cart.NewRedisStore(pool, prefix, time.Hour)},
		{"postgres", cart.NewPostgresStore(db)},
	}
	ctx := context.Background()
	for _, s := range stores {
		key := cart.Key(testenv.RandomName("u:"))
		for id := int64(1); id <= 6; id++ {
			if _, err := s.store.Add(ctx, key, id, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(s.name+"/add", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				// Always the same line, which caps at MaxQuantity: the
				// cost is the round trip, not the number.
				if _, _, err := s.store.AddOnce(ctx, key, 6, 1, fmt.Sprintf("bench-%s-%d", s.name, i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(s.name+"/snapshot", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if l, _, err := s.store.Snapshot(ctx, key); err != nil || len(l) != 6 {
					b.Fatalf("%d lines, %v", len(l), err)
				}
			}
		})
		b.Run(s.name+"/lines", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.store.Lines(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
		svc := cart.NewService(s.store, products)
		b.Run(s.name+"/view", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v, err := svc.View(ctx, key); err != nil || len(v.Items) != 6 {
					b.Fatalf("%d items, %v", len(v.Items), err)
				}
			}
		})
	}
}
