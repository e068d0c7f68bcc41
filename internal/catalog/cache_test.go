package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/testenv"
)

// notifyBound is how long a change may take to reach another replica's
// cache: a notification is delivered at commit, in milliseconds; the bound
// leaves room for a loaded test machine.
const notifyBound = 2 * time.Second

// eventually polls cond until it holds or notifyBound passes, and returns
// how long it took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > notifyBound {
			t.Fatalf("%s: not within %v", what, notifyBound)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// listening returns a cache over db whose listener runs until the test
// ends, once it is up.
func listening(t *testing.T, db *pgxpool.Pool) *catalog.Cache {
	t.Helper()
	c := catalog.NewCache(db, time.Hour, nil)
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go c.Listen(ctx)
	eventually(t, "listener up", c.Listening)
	return c
}

func TestCache(t *testing.T) {
	t.Parallel()
	db := testenv.MustDatabase(t)
	ctx := context.Background()
	get := func(t *testing.T, c *catalog.Cache, id int64) catalog.Product {
		t.Helper()
		p, err := c.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%d): %v", id, err)
		}
		return p
	}
	exec := func(t *testing.T, sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("MatchesTheStore", func(t *testing.T) {
		c := listening(t, db)
		want, err := catalog.NewStore(db).List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("List: %d products, the store has %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("List[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
		// The caller's slice is its own: changing it changes no other read.
		got[0].Name = "changed"
		if p := get(t, c, want[0].ID); p.Name != want[0].Name {
			t.Errorf("a caller's change reached the cache: %q", p.Name)
		}
		many, err := c.GetMany(ctx, []int64{want[1].ID, 999999, want[1].ID})
		if err != nil || len(many) != 1 || many[want[1].ID] != want[1] {
			t.Errorf("GetMany = %v, %v; want only product %d", many, err, want[1].ID)
		}
		if _, err := c.Get(ctx, 999999); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("Get(999999) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("ReadsNothingWhileListening", func(t *testing.T) {
		c := listening(t, db)
		get(t, c, 1)
		before := c.Reads()
		for range 100 {
			get(t, c, 2)
			if _, err := c.List(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := c.Reads() - before; got != 0 {
			t.Errorf("200 reads of a warm cache read the database %d times, want 0", got)
		}
	})

	t.Run("AnotherReplicasChangeIsSeenWithinBound", func(t *testing.T) {
		// Two caches on one database are two replicas; the change comes
		// from a third connection, as from an admin or a checkout.
		a, b := listening(t, db), listening(t, db)
		before := get(t, b, 4)
		get(t, a, 4)

		exec(t, `UPDATE products SET price_cents = price_cents + 100 WHERE id = 4`)
		took := eventually(t, "new price on replica b", func() bool { return get(t, b, 4).PriceCents == before.PriceCents+100 })
		eventually(t, "new price on replica a", func() bool { return get(t, a, 4).PriceCents == before.PriceCents+100 })
		t.Logf("a price change reached another replica's cache in %v", took)

		var id int64
		if err := db.QueryRow(ctx, `INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, 'New', 500, 3) RETURNING id`,
			testenv.RandomName("SKU-")).Scan(&id); err != nil {
			t.Fatal(err)
		}
		eventually(t, "new product listed", func() bool {
			ps, err := b.List(ctx)
			return err == nil && ps[len(ps)-1].ID == id
		})
		exec(t, `DELETE FROM products WHERE id = $1`, id)
		eventually(t, "deleted product gone", func() bool {
			_, err := b.Get(ctx, id)
			return errors.Is(err, catalog.ErrNotFound)
		})
	})

	t.Run("RefusalsAreCheckedAgainstTheDatabase", func(t *testing.T) {
		c := listening(t, db)
		get(t, c, 7)
		// Changes whose notification has not arrived yet: made with the
		// trigger off, the cache never hears of them.
		quietly := func(sql string, args ...any) {
			t.Helper()
			tx, err := db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck
			for _, q := range []string{`ALTER TABLE products DISABLE TRIGGER products_changed`, "", `ALTER TABLE products ENABLE TRIGGER products_changed`} {
				var err error
				if q == "" {
					_, err = tx.Exec(ctx, sql, args...)
				} else {
					_, err = tx.Exec(ctx, q)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var id int64
		if err := db.QueryRow(ctx, `SELECT coalesce(max(id), 0) + 1000 FROM products`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		quietly(`INSERT INTO products (id, sku, name, price_cents, stock) VALUES ($1, $2, 'Brand new', 700, 2)`, id, testenv.RandomName("SKU-"))
		if p := get(t, c, id); p.Name != "Brand new" {
			t.Errorf("a product added a moment ago = %+v", p)
		}
		exec(t, `UPDATE products SET stock = 0 WHERE id = 7`)
		eventually(t, "sold out in the cache", func() bool { return get(t, c, 7).Stock == 0 })
		quietly(`UPDATE products SET stock = 4 WHERE id = 7`)
		if got := get(t, c, 7).Stock; got != 4 {
			t.Errorf("stock of a product restocked a moment ago = %d, want 4", got)
		}
		get(t, c, 7) // a snapshot from before the next change
		quietly(`INSERT INTO products (id, sku, name, price_cents, stock) VALUES ($1, $2, 'Newer', 800, 2)`, id+1, testenv.RandomName("SKU-"))
		before := c.Reads()
		many, err := c.GetMany(ctx, []int64{7, id + 1, id + 2})
		if err != nil || len(many) != 2 || many[id+1].Name != "Newer" {
			t.Errorf("GetMany with a product added a moment ago = %v, %v", many, err)
		}
		if c.Reads() == before {
			t.Error("GetMany found the new product without reading the database: the test proves nothing")
		}
	})

	t.Run("WithoutListenerReadsThrough", func(t *testing.T) {
		c := catalog.NewCache(db, time.Hour, nil)
		before := c.Reads()
		p := get(t, c, 5)
		get(t, c, 5)
		if got := c.Reads() - before; got != 2 {
			t.Errorf("2 reads without a listener read the database %d times, want 2 (nothing may be cached)", got)
		}
		// And so a change is seen at once.
		exec(t, `UPDATE products SET stock = stock + 1 WHERE id = 5`)
		if got := get(t, c, 5).Stock; got != p.Stock+1 {
			t.Errorf("stock = %d right after the change, want %d", got, p.Stock+1)
		}
	})

	t.Run("LostListenerReadsThroughThenRecovers", func(t *testing.T) {
		c := listening(t, db)
		get(t, c, 6)
		// The database ends the listening connection (a restart, a
		// failover, an idle killer).
		exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN products_changed'`)
		eventually(t, "listener down", func() bool { return !c.Listening() })
		// The listener comes back by itself; whatever happened meanwhile is
		// read from the database, not from the copy from before (which the
		// cache dropped when the connection ended).
		exec(t, `UPDATE products SET name = 'Renamed while deaf' WHERE id = 6`)
		eventually(t, "change made while the listener was down", func() bool { return get(t, c, 6).Name == "Renamed while deaf" })
		eventually(t, "listener back", c.Listening)
		get(t, c, 6)
		before := c.Reads()
		get(t, c, 6)
		if got := c.Reads() - before; got != 0 {
			t.Errorf("the cache reads the database after the listener came back (%d reads)", got)
		}
	})
}
