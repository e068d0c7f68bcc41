package order_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/order"
	"github.com/the-shop/shop/internal/testenv"
)

// env is one checkout setup: a database for products and orders, and a
// cart store of one kind.
type env struct {
	db    *pgxpool.Pool
	store cart.Store
	svc   *order.Service
}

func storeKinds() []string { return []string{"Redis", "Postgres", "Memory"} }

func newEnv(t *testing.T, kind string) *env {
	t.Helper()
	e := &env{db: testenv.MustDatabase(t)}
	switch kind {
	case "Redis":
		pool, prefix := testenv.MustRedis(t)
		e.store = cart.NewRedisStore(pool, prefix, time.Hour)
	case "Postgres":
		e.store = cart.NewPostgresStore(e.db)
	default:
		e.store = cart.NewMemoryStore(time.Hour)
	}
	e.svc = order.NewService(e.db, e.store)
	return e
}

// user inserts an account and returns its id and cart key.
func (e *env) user(t *testing.T) (int64, cart.Key) {
	t.Helper()
	var id int64
	var publicID string
	err := e.db.QueryRow(context.Background(), `INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id, public_id::text`,
		testenv.RandomName("u")+"@example.com").Scan(&id, &publicID)
	if err != nil {
		t.Fatal(err)
	}
	return id, cart.AccountKey(publicID)
}

// product inserts a product of the test's own and returns its id.
func (e *env) product(t *testing.T, name string, priceCents int64, stock int) int64 {
	t.Helper()
	var id int64
	err := e.db.QueryRow(context.Background(), `INSERT INTO products (sku, name, price_cents, stock)
		VALUES ($1, $2, $3, $4) RETURNING id`, testenv.RandomName("SKU-"), name, priceCents, stock).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) stock(t *testing.T, id int64) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT stock FROM products WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) orders(t *testing.T, uid int64) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE user_id = $1`, uid).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) add(t *testing.T, key cart.Key, id int64, qty int) {
	t.Helper()
	if _, err := e.store.Add(context.Background(), key, id, qty); err != nil {
		t.Fatal(err)
	}
}

func (e *env) lines(t *testing.T, key cart.Key) map[int64]int {
	t.Helper()
	ls, err := e.store.Lines(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for _, l := range ls {
		out[l.ProductID] = l.Quantity
	}
	return out
}

func (e *env) checkout(t *testing.T, uid int64, key cart.Key, seenGen int64) order.Result {
	t.Helper()
	res, err := e.svc.Checkout(context.Background(), uid, key, seenGen)
	if err != nil {
		t.Fatalf("Checkout(%d, %s): %v", uid, key, err)
	}
	return res
}

func TestCheckout(t *testing.T) {
	t.Parallel()
	for _, kind := range storeKinds() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			testCheckout(t, newEnv(t, kind))
		})
	}
}

func testCheckout(t *testing.T, e *env) {
	ctx := context.Background()

	t.Run("PlacesOrderTakesStockAndEmptiesCart", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		mug := e.product(t, "Mug", 1800, 5)
		lamp := e.product(t, "Lamp", 129900, 1)
		e.add(t, key, mug, 2)
		e.add(t, key, lamp, 1)
		res := e.checkout(t, uid, key, 0)
		o := res.Order
		if res.Repeat || o.ID == 0 || o.UserID != uid {
			t.Fatalf("result = %+v, want a new order of user %d", res, uid)
		}
		if o.Count != 3 || o.TotalCents != 2*1800+129900 || len(o.Items) != 2 {
			t.Errorf("order count %d total %d items %d; want 3, %d, 2", o.Count, o.TotalCents, len(o.Items), 2*1800+129900)
		}
		for _, l := range o.Items {
			if l.LineTotalCents != l.UnitPriceCents*int64(l.Quantity) || l.Name == "" || l.SKU == "" {
				t.Errorf("line %+v is incomplete or adds up wrong", l)
			}
		}
		if got := e.stock(t, mug); got != 3 {
			t.Errorf("mug stock = %d, want 3", got)
		}
		if got := e.stock(t, lamp); got != 0 {
			t.Errorf("lamp stock = %d, want 0", got)
		}
		if got := e.lines(t, key); len(got) != 0 {
			t.Errorf("cart after checkout = %v, want empty", got)
		}
		stored, err := e.svc.Get(ctx, uid, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(stored.Items) != fmt.Sprint(o.Items) || stored.TotalCents != o.TotalCents || stored.Count != o.Count {
			t.Errorf("stored order %+v differs from the placed one %+v", stored, o)
		}
	})

	t.Run("EmptyCartIsRefused", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		_, err := e.svc.Checkout(ctx, uid, key, 0)
		if !errors.Is(err, order.ErrCartEmpty) {
			t.Errorf("Checkout of an empty cart: %v, want ErrCartEmpty", err)
		}
		if n := e.orders(t, uid); n != 0 {
			t.Errorf("%d orders written", n)
		}
	})

	t.Run("NotEnoughStockNamesProductsAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		plenty := e.product(t, "Tote Bag", 2200, 50)
		few := e.product(t, "Brass Desk Lamp", 7900, 2)
		none := e.product(t, "Wireless Headphones", 12900, 1)
		e.add(t, key, plenty, 3)
		e.add(t, key, few, 3)
		e.add(t, key, none, 1)
		if _, err := e.db.Exec(ctx, `UPDATE products SET stock = 0 WHERE id = $1`, none); err != nil {
			t.Fatal(err) // it sold out after it went into the cart
		}
		before := e.lines(t, key)
		_, err := e.svc.Checkout(ctx, uid, key, 0)
		ae := apperr.As(err)
		if ae == nil || ae.Kind != apperr.KindConflict || ae.Code != "out_of_stock" {
			t.Fatalf("err = %v, want an out_of_stock conflict", err)
		}
		for _, want := range []string{"Brass Desk Lamp has only 2 left", "Wireless Headphones is sold out", "Nothing was ordered"} {
			if !strings.Contains(ae.Message, want) {
				t.Errorf("message %q does not say %q", ae.Message, want)
			}
		}
		if strings.Contains(ae.Message, "Tote Bag") {
			t.Errorf("message %q names a product that is in stock", ae.Message)
		}
		for id, want := range map[int64]int{plenty: 50, few: 2, none: 0} {
			if got := e.stock(t, id); got != want {
				t.Errorf("stock of %d = %d, want %d unchanged", id, got, want)
			}
		}
		if n := e.orders(t, uid); n != 0 {
			t.Errorf("%d orders written", n)
		}
		if after := e.lines(t, key); !maps.Equal(after, before) {
			t.Errorf("cart changed: %v → %v", before, after)
		}
	})

	t.Run("OrderKeepsTheCheckoutPrice", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		kettle := e.product(t, "Kettle", 5900, 10)
		e.add(t, key, kettle, 2)
		if _, err := e.db.Exec(ctx, `UPDATE products SET price_cents = 6400 WHERE id = $1`, kettle); err != nil {
			t.Fatal(err)
		}
		o := e.checkout(t, uid, key, 0).Order
		if o.TotalCents != 2*6400 || o.Items[0].UnitPriceCents != 6400 {
			t.Errorf("order total %d unit %d, want the price at checkout (6400 each)", o.TotalCents, o.Items[0].UnitPriceCents)
		}
		// A later change in the catalog does not rewrite the order.
		if _, err := e.db.Exec(ctx, `UPDATE products SET price_cents = 100, name = 'Renamed' WHERE id = $1`, kettle); err != nil {
			t.Fatal(err)
		}
		stored, err := e.svc.Get(ctx, uid, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Items[0].UnitPriceCents != 6400 || stored.Items[0].Name != "Kettle" || stored.TotalCents != 12800 {
			t.Errorf("stored order changed with the catalog: %+v", stored)
		}
	})

	t.Run("LinesOfRemovedProductsAreLeftOut", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		keep := e.product(t, "Candle", 2400, 5)
		gone := e.product(t, "Discontinued", 999, 5)
		e.add(t, key, keep, 1)
		e.add(t, key, gone, 1)
		if _, err := e.db.Exec(ctx, `DELETE FROM products WHERE id = $1`, gone); err != nil {
			t.Fatal(err)
		}
		o := e.checkout(t, uid, key, 0).Order
		if len(o.Items) != 1 || o.Items[0].ProductID != keep {
			t.Errorf("order items = %+v, want only the candle", o.Items)
		}
		if got := e.lines(t, key); len(got) != 0 {
			t.Errorf("cart after checkout = %v, want empty", got)
		}
	})

	t.Run("ConcurrentDoubleSubmitWritesOneOrder", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		socks := e.product(t, "Socks", 1900, 20)
		e.add(t, key, socks, 4)
		const submits = 8
		results := make([]order.Result, submits)
		errs := make([]error, submits)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range submits {
			wg.Go(func() {
				<-start
				results[i], errs[i] = e.svc.Checkout(ctx, uid, key, 0)
			})
		}
		close(start)
		wg.Wait()
		ids, fresh := map[int64]bool{}, 0
		for i, err := range errs {
			switch {
			case err == nil:
				ids[results[i].Order.ID] = true
				if !results[i].Repeat {
					fresh++
				}
			case errors.Is(err, order.ErrCartEmpty):
				// It read the cart after the first one emptied it.
			default:
				t.Errorf("submit %d: %v", i, err)
			}
		}
		if len(ids) != 1 || fresh != 1 {
			t.Errorf("orders returned %v, new ones %d; want one order, placed once", ids, fresh)
		}
		if n := e.orders(t, uid); n != 1 {
			t.Errorf("%d orders written, want 1", n)
		}
		if got := e.stock(t, socks); got != 16 {
			t.Errorf("stock = %d, want 16 (taken once)", got)
		}
	})

	t.Run("ResubmitOfACompletedCheckoutReturnsItsOrder", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		pen := e.product(t, "Pen", 3400, 10)
		e.add(t, key, pen, 1)
		_, gen, err := e.store.Snapshot(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		first := e.checkout(t, uid, key, gen) // the form carries the generation it showed
		// Something new goes into the cart; then the old form is sent again.
		e.add(t, key, pen, 2)
		again := e.checkout(t, uid, key, gen)
		if !again.Repeat || again.Order.ID != first.Order.ID {
			t.Errorf("resubmit = order %d (repeat %v), want order %d again", again.Order.ID, again.Repeat, first.Order.ID)
		}
		if got := e.lines(t, key); got[pen] != 2 {
			t.Errorf("cart after the resubmit = %v, want the 2 new pens kept", got)
		}
		if got := e.stock(t, pen); got != 9 {
			t.Errorf("stock = %d, want 9", got)
		}
	})

	t.Run("RetryAfterTheCartStoreFailedFindsTheOrder", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		pot := e.product(t, "Plant Pot", 1600, 10)
		e.add(t, key, pot, 3)
		failing := &failOnce{Store: e.store}
		svc := order.NewService(e.db, failing)
		_, err := svc.Checkout(ctx, uid, key, 0)
		if err == nil || !strings.Contains(err.Error(), "placed") {
			t.Fatalf("first attempt: err = %v, want the cart store failure", err)
		}
		if got := e.lines(t, key); got[pot] != 3 {
			t.Fatalf("cart after the failed completion = %v, want it untouched", got)
		}
		res, err := svc.Checkout(ctx, uid, key, 0) // the retry, on a healthy store
		if err != nil {
			t.Fatal(err)
		}
		if !res.Repeat || res.Order.Count != 3 {
			t.Errorf("retry = %+v, want the first order again", res)
		}
		if n := e.orders(t, uid); n != 1 {
			t.Errorf("%d orders, want 1", n)
		}
		if got := e.stock(t, pot); got != 7 {
			t.Errorf("stock = %d, want 7 (taken once)", got)
		}
		if got := e.lines(t, key); len(got) != 0 {
			t.Errorf("cart after the retry = %v, want empty", got)
		}
	})

	t.Run("AnotherAccountsOrderIsNotFound", func(t *testing.T) {
		t.Parallel()
		owner, key := e.user(t)
		other, _ := e.user(t)
		p := e.product(t, "Notebook", 1200, 5)
		e.add(t, key, p, 1)
		o := e.checkout(t, owner, key, 0).Order
		if _, err := e.svc.Get(ctx, other, o.ID); !errors.Is(err, order.ErrNotFound) {
			t.Errorf("Get of another account's order: %v, want ErrNotFound", err)
		}
		if _, err := e.svc.Get(ctx, owner, o.ID+100000); !errors.Is(err, order.ErrNotFound) {
			t.Errorf("Get of a missing order: %v, want ErrNotFound", err)
		}
		if list, err := e.svc.List(ctx, other); err != nil || len(list) != 0 {
			t.Errorf("List of another account = %v, %v; want empty", list, err)
		}
	})

	t.Run("ListIsNewestFirstWithCounts", func(t *testing.T) {
		t.Parallel()
		uid, key := e.user(t)
		p := e.product(t, "Bottle", 2800, 50)
		var want []int64
		for _, qty := range []int{1, 3, 2} {
			e.add(t, key, p, qty)
			want = append([]int64{e.checkout(t, uid, key, 0).Order.ID}, want...)
		}
		list, err := e.svc.List(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 {
			t.Fatalf("List = %+v, want 3 orders", list)
		}
		for i, s := range list {
			if s.ID != want[i] {
				t.Errorf("List[%d] = order %d, want %d (newest first)", i, s.ID, want[i])
			}
		}
		if list[0].Count != 2 || list[0].TotalCents != 5600 || list[1].Count != 3 {
			t.Errorf("summaries = %+v, want counts 2, 3, 1", list)
		}
	})
}

// failOnce is a cart store whose first CompleteCheckout fails, as when the
// replica loses Redis (or dies) right after the order committed.
type failOnce struct {
	cart.Store
	failed atomic.Bool
}

func (f *failOnce) CompleteCheckout(ctx context.Context, key cart.Key, gen int64, ordered []cart.Line) error {
	if f.failed.CompareAndSwap(false, true) {
		return apperr.Unavailable("complete checkout", errors.New("connection refused"))
	}
	return f.Store.CompleteCheckout(ctx, key, gen, ordered)
}

// TestLastUnits has 50 customers check out at the same moment, each with
// one unit of a product that has 10 left: exactly 10 orders are written and
// the stock ends at 0, never below.
func TestLastUnits(t *testing.T) {
	t.Parallel()
	for _, kind := range storeKinds() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			const customers, units = 50, 10
			lamp := e.product(t, "Brass Desk Lamp", 7900, units)
			type customer struct {
				id  int64
				key cart.Key
			}
			cs := make([]customer, customers)
			for i := range cs {
				cs[i].id, cs[i].key = e.user(t)
				e.add(t, cs[i].key, lamp, 1)
			}
			var placed, refused atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			began := time.Now()
			for _, c := range cs {
				wg.Go(func() {
					<-start
					_, err := e.svc.Checkout(context.Background(), c.id, c.key, 0)
					switch {
					case err == nil:
						placed.Add(1)
					case apperr.As(err) != nil && apperr.As(err).Code == "out_of_stock":
						refused.Add(1)
					default:
						t.Errorf("customer %d: %v", c.id, err)
					}
				})
			}
			close(start)
			wg.Wait()
			took := time.Since(began)
			var orders, sold int
			if err := e.db.QueryRow(context.Background(), `SELECT count(DISTINCT o.id), COALESCE(sum(l.quantity), 0)
				FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE l.product_id = $1`, lamp).Scan(&orders, &sold); err != nil {
				t.Fatal(err)
			}
			stock := e.stock(t, lamp)
			t.Logf("%s: %d checkouts for %d units in %v: %d placed, %d refused, %d orders, %d sold, stock %d",
				kind, customers, units, took.Round(time.Millisecond), placed.Load(), refused.Load(), orders, sold, stock)
			if placed.Load() != units || refused.Load() != customers-units {
				t.Errorf("placed %d, refused %d; want %d and %d", placed.Load(), refused.Load(), units, customers-units)
			}
			if orders != units || sold != units || stock != 0 {
				t.Errorf("orders %d, units sold %d, stock %d; want %d, %d, 0", orders, sold, stock, units, units)
			}
		})
	}
}
