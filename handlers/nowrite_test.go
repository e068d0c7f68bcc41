package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/testenv"
)

// TestUnchangedViewsWriteNothing: within the touch interval, pages and
// JSON views that change nothing write nothing to the store at all, carts
// included. Redis writes are counted by the server itself (a redis-server
// of the test's own: INFO persistence counts the writes inside scripts,
// not the commands); PostgreSQL writes are the INSERT, UPDATE and DELETE
// statements the shop sends. Before issue 12 every cart view wrote in
// Redis (the generation key's PEXPIRE): measured on that code, 60 writes
// per 150 views (the 60 that show the cart); PostgreSQL wrote nothing.
func TestUnchangedViewsWriteNothing(t *testing.T) {
	views := []struct {
		path   string
		asJSON bool
	}{{"/cart", true}, {"/cart", false}, {"/", false}, {"/products/2", false}, {"/session", true}}
	browse := func(t *testing.T, c *client, base string) {
		for range 30 {
			for _, v := range views {
				wantStatus(t, c.Get(t, base, v.path, v.asJSON), http.StatusOK)
			}
		}
	}
	// shoppers: a guest with a cart, and a signed-in shopper with one;
	// each view once first, so that flashes are shown and gone.
	shoppers := func(t *testing.T, s *shop) []*client {
		guest := newClient(t)
		wantStatus(t, guest.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"1"}}, guest.Token(t, s.URL), false), http.StatusSeeOther)
		member := newClient(t)
		member.signup(t, s.URL, testenv.RandomName("nw")+"@example.com", "password123")
		wantStatus(t, member.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"3"}}, member.Token(t, s.URL), false), http.StatusSeeOther)
		for _, c := range []*client{guest, member} {
			for _, v := range views {
				wantStatus(t, c.Get(t, s.URL, v.path, v.asJSON), http.StatusOK)
			}
		}
		return []*client{guest, member}
	}

	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		srv := testenv.MustRedisServer(t)
		b := &backend{kind: config.StoreRedis, db: testenv.MustDatabase(t), redis: srv.Pool, prefix: "shop:"}
		s := startShop(t, b, "replica-a")
		all := shoppers(t, s)
		if srv.Writes(t) == 0 {
			t.Fatal("no Redis write counted while adding to carts: the count sees nothing")
		}
		for i, c := range all {
			before := srv.Writes(t)
			browse(t, c, s.URL)
			if got := srv.Writes(t) - before; got != 0 {
				t.Errorf("shopper %d: %d Redis writes for %d unchanged views, want 0", i, got, 30*len(views))
			}
		}
	})

	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t, config.StorePostgres)
		b.metrics = metrics.New()
		// The shop's pool traces its statements into the metrics, as
		// app.Open wires it.
		traced, err := postgres.Open(t.Context(), b.db.Config().ConnString(), func(c *pgxpool.Config) {
			c.ConnConfig.Tracer = b.metrics.DBTracer()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(traced.Close)
		b.db = traced
		s := startShop(t, b, "replica-a")
		all := shoppers(t, s)
		if sqlWrites(t, b.metrics) == 0 {
			t.Fatal("no SQL write counted while signing up and adding: the count sees nothing")
		}
		for i, c := range all {
			before := sqlWrites(t, b.metrics)
			browse(t, c, s.URL)
			if got := sqlWrites(t, b.metrics) - before; got != 0 {
				t.Errorf("shopper %d: %d SQL writes for %d unchanged views, want 0", i, got, 30*len(views))
			}
		}
	})
}

// sqlWrites counts the INSERT, UPDATE and DELETE statements the shop sent
// (shop_db_queries_total, named by their main statement).
func sqlWrites(t *testing.T, m *metrics.Metrics) int {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fams {
		if f.GetName() != "shop_db_queries_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "query" {
					verb, _, _ := strings.Cut(l.GetValue(), " ")
					if verb == "insert" || verb == "update" || verb == "delete" {
						n += int(mt.GetCounter().GetValue())
					}
				}
			}
		}
	}
	return n
}
