package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/testenv"
)

// productQueries counts the statements that read or write the products
// table, whoever sends them.
type productQueries struct{ n atomic.Int64 }

func (q *productQueries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(strings.ToLower(d.SQL), "products") {
		q.n.Add(1)
	}
	return ctx
}

func (q *productQueries) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestNoProductQueriesOnHotPath holds the hot path to no product query at
// all (issue 12): the cart view, the add and the catalog and product pages
// read products from each replica's memory (catalog.Cache). It counts
// statements on the database pool itself, so a product read that bypasses
// the cache fails here too. The store round trips are TestStoreRoundTrips'.
func TestNoProductQueriesOnHotPath(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			// The same database through a pool that counts product queries.
			cfg, err := pgxpool.ParseConfig(b.db.Config().ConnString())
			if err != nil {
				t.Fatal(err)
			}
			q := &productQueries{}
			cfg.ConnConfig.Tracer = q
			if b.db, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.db.Close)
			s := startShop(t, b, "replica-a")
			deadline := time.Now().Add(5 * time.Second)
			for !s.App.Products.Listening() {
				if time.Now().After(deadline) {
					t.Fatal("the product cache is not listening after 5s")
				}
				time.Sleep(5 * time.Millisecond)
			}

			c := newClient(t)
			c.signup(t, s.URL, testenv.RandomName("pq")+"@example.com", "password123")
			add := func(asJSON bool) {
				r := c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"3"}, "idempotency_key": {testenv.RandomName("pq-")}}, c.Token(t, s.URL), asJSON)
				if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusSeeOther {
					t.Fatalf("add: status %d", r.StatusCode)
				}
			}
			add(true) // the cart has a line, and the cache is warm
			if q.n.Load() == 0 {
				t.Fatal("no product query counted while the cache filled: is the counter wired?")
			}
			for _, ch := range []struct {
				name string
				do   func()
			}{
				{"GET /cart (page)", func() { wantStatus(t, c.Get(t, s.URL, "/cart", false), http.StatusOK) }},
				{"GET /cart (JSON)", func() { wantStatus(t, c.Get(t, s.URL, "/cart", true), http.StatusOK) }},
				{"POST /cart/items (JSON)", func() { add(true) }},
				{"POST /cart/items (form, 303)", func() { add(false) }},
				{"GET / (catalog page)", func() { wantStatus(t, c.Get(t, s.URL, "/", false), http.StatusOK) }},
				{"GET / (JSON)", func() { wantStatus(t, c.Get(t, s.URL, "/", true), http.StatusOK) }},
				{"GET /products/3 (page)", func() { wantStatus(t, c.Get(t, s.URL, "/products/3", false), http.StatusOK) }},
			} {
				before := q.n.Load()
				ch.do()
				if got := q.n.Load() - before; got != 0 {
					t.Errorf("%s: %d product queries, want 0", ch.name, got)
				} else {
					t.Logf("%-30s 0 product queries", ch.name)
				}
			}
		})
	}
}
