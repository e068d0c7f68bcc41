package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/testenv"
)

// storeOps reads shop_store_operations_total from the registry: "kind op"
// → count. Each operation of the session and cart stores is one round
// trip to the store (a Redis script or command, or one SQL statement).
func storeOps(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "shop_store_operations_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			var kind, op string
			for _, l := range mt.GetLabel() {
				switch l.GetName() {
				case "kind":
					kind = l.GetValue()
				case "op":
					op = l.GetValue()
				}
			}
			out[kind+" "+op] += mt.GetCounter().GetValue()
		}
	}
	return out
}

// cost is what one request did to the stores.
type cost struct {
	ops    map[string]int
	total  int
	writes int // session commits and touches
}

func (c cost) String() string {
	keys := make([]string, 0, len(c.ops))
	for k := range c.ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, c.ops[k]))
	}
	return fmt.Sprintf("%d round trips (%s), %d session writes", c.total, strings.Join(parts, ", "), c.writes)
}

// measure runs one request and returns what it cost.
func measure(t *testing.T, m *metrics.Metrics, do func()) cost {
	t.Helper()
	before := storeOps(t, m)
	do()
	after := storeOps(t, m)
	c := cost{ops: map[string]int{}}
	for k, v := range after {
		n := int(v - before[k])
		if n == 0 {
			continue
		}
		c.ops[k] = n
		c.total += n
		if k == "session commit" || k == "session touch" {
			c.writes += n
		}
	}
	return c
}

// TestStoreRoundTrips holds the session path to its budget of store round
// trips (session and cart operations, counted by the metrics the shop
// exports; product reads from the catalog are database queries, counted
// apart as shop_db_queries_total, and not part of this budget):
//
//   - a cart page view: at most 2 (the session, the cart) and no write;
//   - an add to cart: at most 3 (session, the add, and the session write
//     for the flash message, or the cart read for the JSON answer);
//   - any request that changes nothing: no session write within the
//     touch interval.
//
// A regression (an extra read, a write on every request) fails here.
func TestStoreRoundTrips(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			b.metrics = metrics.New()
			s := startShop(t, b, "replica-a")
			m := b.metrics

			type check struct {
				name      string
				do        func(t *testing.T, c *client)
				maxTotal  int
				maxWrites int
			}
			// The steps take the subtest that runs them, so a failing step
			// fails that subtest.
			add := func(asJSON bool) func(t *testing.T, c *client) {
				return func(t *testing.T, c *client) {
					t.Helper()
					r := c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"3"}, "idempotency_key": {testenv.RandomName("rt-")}}, c.Token(t, s.URL), asJSON)
					if asJSON {
						wantStatus(t, r, http.StatusOK)
					} else {
						wantStatus(t, r, http.StatusSeeOther)
					}
				}
			}
			get := func(path string, asJSON bool) func(t *testing.T, c *client) {
				return func(t *testing.T, c *client) {
					t.Helper()
					wantStatus(t, c.Get(t, s.URL, path, asJSON), http.StatusOK)
				}
			}
			run := func(t *testing.T, c *client, checks []check) {
				for _, ch := range checks {
					got := measure(t, m, func() { ch.do(t, c) })
					t.Logf("%-44s %v", ch.name, got)
					if got.total > ch.maxTotal {
						t.Errorf("%s: %v; the budget is %d", ch.name, got, ch.maxTotal)
					}
					if got.writes > ch.maxWrites {
						t.Errorf("%s: %d session writes, want at most %d", ch.name, got.writes, ch.maxWrites)
					}
					if got.total == 0 && ch.maxTotal > 0 {
						t.Errorf("%s: no store operation counted: are the metrics wired?", ch.name)
					}
				}
			}

			t.Run("SignedIn", func(t *testing.T) {
				c := newClient(t)
				c.signup(t, s.URL, testenv.RandomName("rt")+"@example.com", "password123")
				c.Get(t, s.URL, "/", false) // shows (and so removes) the welcome flash
				add(true)(t, c)             // the cart has a line
				run(t, c, []check{
					{"GET /cart (page)", get("/cart", false), 2, 0},
					{"GET /cart (JSON)", get("/cart", true), 2, 0},
					{"GET / (catalog page, cart badge)", get("/", false), 2, 0},
					{"GET / (JSON)", get("/", true), 1, 0},
					{"GET /products/3 (page, cart badge)", get("/products/3", false), 2, 0},
					{"GET /session", get("/session", true), 1, 0},
					{"POST /cart/items (JSON)", add(true), 3, 0},
					{"POST /cart/items (form, 303)", add(false), 3, 1},
					// The page after the form shows its flash message and
					// removes it from the session: that one write is the
					// flash's, not the view's.
					{"GET /cart (page with the flash)", get("/cart", false), 3, 1},
					{"GET /cart (page, again)", get("/cart", false), 2, 0},
				})
			})

			t.Run("Guest", func(t *testing.T) {
				c := newClient(t)
				run(t, c, []check{
					// The first page mints the visitor's session token and
					// stores nothing.
					{"GET / (no session yet)", get("/", false), 0, 0},
					// The first write looks the minted token up (a
					// concurrent first write of the same visitor may have
					// stored it: then this one adds to it rather than
					// losing it), then creates the session.
					{"first POST /cart/items (JSON)", add(true), 4, 1},
					{"GET /cart (JSON)", get("/cart", true), 2, 0},
					// A guest's add confirms that the session still
					// stands (a touch): if a login in another tab renewed
					// it meanwhile, the add is moved to the account's
					// cart instead of staying in a guest cart nobody
					// reaches.
					{"POST /cart/items (JSON)", add(true), 4, 1},
				})
			})
		})
	}
}
