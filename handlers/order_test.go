package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/testenv"
)

// orderJSON is an order as GET /orders/:id and POST /checkout show it.
type orderJSON struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Items     []struct {
		ProductID      string `json:"product_id"`
		SKU            string `json:"sku"`
		Name           string `json:"name"`
		Quantity       int    `json:"quantity"`
		UnitPriceCents int64  `json:"unit_price_cents"`
		LineTotalCents int64  `json:"line_total_cents"`
	} `json:"items"`
	Count      int   `json:"count"`
	TotalCents int64 `json:"total_cents"`
	// POST /checkout only.
	Repeat        bool   `json:"repeat"`
	PricesChanged bool   `json:"prices_changed"`
	Message       string `json:"message"`
}

// newProduct adds a product of the test's own, so that tests changing
// stock and prices do not meet, and returns its id.
func newProduct(t *testing.T, b *backend, name string, priceCents int64, stock int) string {
	t.Helper()
	var id int64
	err := b.db.QueryRow(context.Background(), `INSERT INTO products (sku, name, description, price_cents, stock, image)
		VALUES ($1, $2, 'A product made by a test.', $3, $4, 'img/products/mug.svg') RETURNING id`,
		testenv.RandomName("T-"), name, priceCents, stock).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(id, 10)
}

func stockOf(t *testing.T, b *backend, id string) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT stock FROM products WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ordersOf counts the orders holding a product.
func ordersOf(t *testing.T, b *backend, productID string) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM order_lines WHERE product_id = $1`, productID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var checkoutField = regexp.MustCompile(`name="(expected_total_cents|cart_generation)" value="(\d+)"`)

// testAddress is a shipping address as the shipping step's form sends it.
func testAddress() url.Values {
	return url.Values{"name": {"Ada Lovelace"}, "line1": {"12 St James's Square"}, "postal_code": {"SW1Y 4JH"},
		"city": {"London"}, "country": {"United Kingdom"}, "shipping": {"standard"}}
}

// checkoutForm goes through the checkout's steps as a browser does (the
// shipping step saves an address, the review shows the order) and reads
// the review's "Place order" form, as a browser submitting it would send
// it.
func (c *client) checkoutForm(t *testing.T, base string) url.Values {
	t.Helper()
	r := c.Post(t, base, "/checkout/shipping", testAddress(), c.Token(t, base), false)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/checkout/review") {
		t.Fatalf("the shipping step answered %d to %q:\n%.3000s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	r = c.Get(t, base, r.Header.Get("Location"), false)
	if !strings.Contains(r.Body, `action="/checkout"`) {
		t.Fatalf("the review page has no checkout form (%d):\n%.3000s", r.StatusCode, r.Body)
	}
	form := url.Values{}
	for _, m := range checkoutField.FindAllStringSubmatch(r.Body, -1) {
		form.Set(m[1], m[2])
	}
	if len(form) != 2 {
		t.Fatalf("checkout form fields = %v, want expected_total_cents and cart_generation", form)
	}
	return form
}

func (c *client) add(t *testing.T, base, productID string, qty int) {
	t.Helper()
	r := c.Post(t, base, "/cart/items", url.Values{"product_id": {productID}, "quantity": {strconv.Itoa(qty)}}, c.Token(t, base), true)
	wantStatus(t, r, http.StatusOK)
}

func TestCheckout(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			s := startShop(t, b, "replica-a")
			testCheckout(t, b, s)
		})
	}
}

func testCheckout(t *testing.T, b *backend, s *shop) {
	t.Run("GuestLogsInAndChecksOutWithTheCartIntact", func(t *testing.T) {
		t.Parallel()
		email := testenv.RandomName("ivy") + "@example.com"
		newClient(t).signup(t, s.URL, email, "ivy's password")
		lamp := newProduct(t, b, "Guest Lamp", 7900, 5)
		c := newClient(t)
		c.add(t, s.URL, lamp, 2)

		// A guest who checks out is sent to log in, and told why.
		wantError(t, c.Post(t, s.URL, "/checkout", nil, c.Token(t, s.URL), true), http.StatusUnauthorized, "login_required")
		r := c.Post(t, s.URL, "/checkout", nil, c.Token(t, s.URL), false)
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/login?next=/cart" {
			t.Fatalf("Location = %q, want /login?next=/cart", loc)
		}
		page := c.Get(t, s.URL, "/login?next=/cart", false)
		if !strings.Contains(page.Body, "Log in to check out") || !strings.Contains(page.Body, `name="next" value="/cart"`) {
			t.Errorf("login page lacks the message or the next field:\n%.3000s", page.Body)
		}
		r = c.Post(t, s.URL, "/login", url.Values{"email": {email}, "password": {"ivy's password"}, "next": {"/cart"}}, c.CSRF(), false)
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/cart" {
			t.Errorf("after login Location = %q, want /cart", loc)
		}
		if got := c.Cart(t, s.URL).Quantities(); got[lamp] != 2 {
			t.Fatalf("cart after login = %v, want the 2 lamps from before", got)
		}

		// Now the cart page has the checkout form; it leads to the order.
		form := c.checkoutForm(t, s.URL)
		if form.Get("expected_total_cents") != "15800" {
			t.Errorf("expected_total_cents = %s, want 15800", form.Get("expected_total_cents"))
		}
		r = c.Post(t, s.URL, "/checkout", form, c.CSRF(), false)
		wantStatus(t, r, http.StatusSeeOther)
		loc := r.Header.Get("Location")
		if !regexp.MustCompile(`^/orders/\d+$`).MatchString(loc) {
			t.Fatalf("Location = %q, want /orders/:id", loc)
		}
		id := strings.TrimPrefix(loc, "/orders/")
		page = c.Get(t, s.URL, loc, false)
		wantStatus(t, page, http.StatusOK)
		for _, want := range []string{"Thank you! Your order #" + id + " is placed.", "Guest Lamp", "$79.00", "$158.00", "Order #" + id} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("order page lacks %q", want)
			}
		}
		if strings.Contains(page.Body, "Prices changed") {
			t.Error("order page says prices changed; they did not")
		}
		if got := c.Cart(t, s.URL); got.Count != 0 {
			t.Errorf("cart after checkout = %v, want empty", got.Quantities())
		}
		if got := stockOf(t, b, lamp); got != 3 {
			t.Errorf("stock = %d, want 3", got)
		}
		var o orderJSON
		c.Get(t, s.URL, loc, true).JSON(t, &o)
		if o.ID != id || o.Count != 2 || o.TotalCents != 15800 || len(o.Items) != 1 || o.Items[0].ProductID != lamp || o.Items[0].UnitPriceCents != 7900 {
			t.Errorf("order JSON = %+v", o)
		}
		list := c.Get(t, s.URL, "/orders", false)
		// The list shows what the shopper pays: the items, free standard
		// shipping (over $50) and 8% tax by default.
		for _, want := range []string{`href="/orders/` + id + `"`, "2 items", "$170.64"} {
			if !strings.Contains(list.Body, want) {
				t.Errorf("orders page lacks %q", want)
			}
		}
	})

	t.Run("CheckoutAsJSON", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		c.signup(t, s.URL, testenv.RandomName("jo")+"@example.com", "jo's password")
		mug := newProduct(t, b, "JSON Mug", 1800, 10)
		c.add(t, s.URL, mug, 3)
		r := c.Post(t, s.URL, "/checkout", url.Values{"expected_total_cents": {"5400"}}, c.CSRF(), true)
		wantStatus(t, r, http.StatusOK)
		var o orderJSON
		r.JSON(t, &o)
		if o.ID == "" || o.Count != 3 || o.TotalCents != 5400 || o.Repeat || o.PricesChanged || !strings.Contains(o.Message, "#"+o.ID) {
			t.Errorf("checkout JSON = %+v", o)
		}
		var list struct {
			Orders []struct {
				ID         string `json:"id"`
				Count      int    `json:"count"`
				TotalCents int64  `json:"total_cents"`
			} `json:"orders"`
		}
		c.Get(t, s.URL, "/orders", true).JSON(t, &list)
		if len(list.Orders) != 1 || list.Orders[0].ID != o.ID || list.Orders[0].Count != 3 || list.Orders[0].TotalCents != 5400 {
			t.Errorf("orders JSON = %+v", list)
		}
	})

	t.Run("PricesChangedBeforeCheckout", func(t *testing.T) {
		t.Parallel()
		kettle := newProduct(t, b, "Price Kettle", 5900, 10)
		for _, asJSON := range []bool{false, true} {
			c := newClient(t)
			c.signup(t, s.URL, testenv.RandomName("kai")+"@example.com", "kai's password")
			if _, err := b.db.Exec(context.Background(), `UPDATE products SET price_cents = 5900 WHERE id = $1`, kettle); err != nil {
				t.Fatal(err)
			}
			c.add(t, s.URL, kettle, 2)
			form := c.checkoutForm(t, s.URL) // the page shows 2 × $59.00
			if _, err := b.db.Exec(context.Background(), `UPDATE products SET price_cents = 6400 WHERE id = $1`, kettle); err != nil {
				t.Fatal(err)
			}
			r := c.Post(t, s.URL, "/checkout", form, c.CSRF(), asJSON)
			if asJSON {
				wantStatus(t, r, http.StatusOK)
				var o orderJSON
				r.JSON(t, &o)
				if !o.PricesChanged || o.TotalCents != 12800 || o.Items[0].UnitPriceCents != 6400 ||
					!strings.Contains(o.Message, "$128.00") || !strings.Contains(o.Message, "$118.00") {
					t.Errorf("checkout JSON = %+v, want the new prices and a message saying so", o)
				}
				continue
			}
			wantStatus(t, r, http.StatusSeeOther)
			page := c.Get(t, s.URL, r.Header.Get("Location"), false)
			for _, want := range []string{"Prices changed", "$128.00, not $118.00", "$64.00"} {
				if !strings.Contains(page.Body, want) {
					t.Errorf("order page lacks %q:\n%.4000s", want, page.Body)
				}
			}
		}
	})

	t.Run("NotEnoughStockNamesTheProductAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		c.signup(t, s.URL, testenv.RandomName("lou")+"@example.com", "lou's password")
		plenty := newProduct(t, b, "Plenty Socks", 1900, 50)
		scarce := newProduct(t, b, "Scarce Headphones", 12900, 3)
		c.add(t, s.URL, plenty, 1)
		c.add(t, s.URL, scarce, 3)
		// The shopper saw the review; someone else buys two of them
		// meanwhile.
		form := c.checkoutForm(t, s.URL)
		if _, err := b.db.Exec(context.Background(), `UPDATE products SET stock = 1 WHERE id = $1`, scarce); err != nil {
			t.Fatal(err)
		}
		before := c.Cart(t, s.URL).Quantities()
		e := wantError(t, c.Post(t, s.URL, "/checkout", nil, c.CSRF(), true), http.StatusConflict, "out_of_stock")
		if !strings.Contains(e.Error.Message, "Scarce Headphones has only 1 left") || strings.Contains(e.Error.Message, "Plenty Socks") {
			t.Errorf("message = %q, want it to name the scarce product only", e.Error.Message)
		}
		// A page is sent back to the cart (no /checkout URL left to
		// reload), which names the product and marks its line.
		r := c.Post(t, s.URL, "/checkout", form, c.CSRF(), false)
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/cart" {
			t.Errorf("failed checkout went to %q, want /cart", loc)
		}
		page := c.Get(t, s.URL, "/cart", false)
		if !strings.Contains(page.Body, "Scarce Headphones has only 1 left") || strings.Count(page.Body, `class="cart-line is-short"`) != 1 {
			t.Errorf("the cart does not show the message and the one marked line:\n%.4000s", page.Body)
		}
		// The review sends the shopper back to the cart too.
		r = c.Get(t, s.URL, "/checkout/review?shipping=standard", false)
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/cart" {
			t.Errorf("review of a short cart = %d to %q, want 303 to /cart", r.StatusCode, loc)
		}
		if after := c.Cart(t, s.URL).Quantities(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("cart changed: %v → %v", before, after)
		}
		if got := stockOf(t, b, plenty); got != 50 {
			t.Errorf("stock of the in-stock product = %d, want 50 unchanged", got)
		}
		if n := ordersOf(t, b, plenty); n != 0 {
			t.Errorf("%d orders written", n)
		}
	})

	t.Run("EmptyCartIsRefused", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		c.signup(t, s.URL, testenv.RandomName("max")+"@example.com", "max's password")
		wantError(t, c.Post(t, s.URL, "/checkout", nil, c.CSRF(), true), http.StatusUnprocessableEntity, "cart_empty")
		r := c.Post(t, s.URL, "/checkout", testAddress(), c.CSRF(), false)
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/cart" {
			t.Errorf("checkout of an empty cart went to %q, want /cart", loc)
		}
		if page := c.Get(t, s.URL, "/cart", false); !strings.Contains(page.Body, "Your cart is empty") {
			t.Error("HTML client did not get the cart page saying the cart is empty")
		}
	})

	t.Run("CheckoutNeedsCSRFToken", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		c.signup(t, s.URL, testenv.RandomName("ned")+"@example.com", "ned's password")
		p := newProduct(t, b, "CSRF Pen", 3400, 5)
		c.add(t, s.URL, p, 1)
		for _, bad := range []string{"", "wrong-token"} {
			wantError(t, c.Post(t, s.URL, "/checkout", nil, bad, true), http.StatusForbidden, "invalid_csrf_token")
		}
		if n := ordersOf(t, b, p); n != 0 || stockOf(t, b, p) != 5 {
			t.Errorf("a refused checkout wrote %d orders", n)
		}
	})

	t.Run("OrdersNeedLogin", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		for _, path := range []string{"/orders", "/orders/1"} {
			wantError(t, c.Get(t, s.URL, path, true), http.StatusUnauthorized, "login_required")
			r := c.Get(t, s.URL, path, false)
			wantStatus(t, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != "/login?next="+url.QueryEscape(path) {
				t.Errorf("GET %s: Location = %q, want the login form coming back here", path, loc)
			}
		}
	})

	t.Run("AnotherAccountsOrderIs404", func(t *testing.T) {
		t.Parallel()
		owner := newClient(t)
		owner.signup(t, s.URL, testenv.RandomName("ola")+"@example.com", "ola's password")
		p := newProduct(t, b, "Private Notebook", 1200, 5)
		owner.add(t, s.URL, p, 1)
		var o orderJSON
		owner.Post(t, s.URL, "/checkout", nil, owner.CSRF(), true).JSON(t, &o)

		other := newClient(t)
		other.signup(t, s.URL, testenv.RandomName("pam")+"@example.com", "pam's password")
		wantError(t, other.Get(t, s.URL, "/orders/"+o.ID, true), http.StatusNotFound, "order_not_found")
		r := other.Get(t, s.URL, "/orders/"+o.ID, false)
		wantStatus(t, r, http.StatusNotFound)
		if strings.Contains(r.Body, "Private Notebook") {
			t.Error("the 404 page shows the other account's order")
		}
		for _, path := range []string{"/orders/999999", "/orders/abc", "/orders/-1"} {
			wantStatus(t, owner.Get(t, s.URL, path, true), http.StatusNotFound)
		}
		list := other.Get(t, s.URL, "/orders", false)
		if !strings.Contains(list.Body, "No orders yet") || strings.Contains(list.Body, "/orders/"+o.ID) {
			t.Error("the other account's order list is not empty")
		}
	})

	t.Run("LoginGoesBackOnlyToLocalPaths", func(t *testing.T) {
		t.Parallel()
		email := testenv.RandomName("quin") + "@example.com"
		newClient(t).signup(t, s.URL, email, "quin's password")
		for _, tc := range []struct{ next, want string }{
			{"/cart", "/cart"},
			{"/orders?page=2", "/orders?page=2"},
			{"", "/"},
			{"//evil.example/", "/"},
			{"/\\evil.example/", "/"},
			{"https://evil.example/", "/"},
			{"javascript:alert(1)", "/"},
			{"cart", "/"},
			{"/cart\r\nSet-Cookie: x=1", "/"},
		} {
			c := newClient(t)
			r := c.Post(t, s.URL, "/login", url.Values{"email": {email}, "password": {"quin's password"}, "next": {tc.next}}, c.Token(t, s.URL), false)
			wantStatus(t, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != tc.want {
				t.Errorf("next=%q: Location = %q, want %q", tc.next, loc, tc.want)
			}
		}
		// The form only carries a local next.
		page := newClient(t).Get(t, s.URL, "/login?next="+url.QueryEscape("//evil.example/"), false)
		if strings.Contains(page.Body, "evil.example") {
			t.Error("the login form carries a foreign next")
		}
	})
}

// TestCheckoutDoubleSubmitThroughTwoInstances submits one cart's checkout
// form many times at once through two shop instances (two tabs, a double
// click, nginx retrying on another replica), then once more afterwards:
// exactly one order is written and every submit is shown that order.
func TestCheckoutDoubleSubmitThroughTwoInstances(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			shops := []*shop{startShop(t, b, "replica-a"), startShop(t, b, "replica-b")}
			c := newClient(t)
			c.signup(t, shops[0].URL, testenv.RandomName("rex")+"@example.com", "rex's password")
			p := newProduct(t, b, "Double Bottle", 2800, 20)
			c.add(t, shops[0].URL, p, 2)
			form := c.checkoutForm(t, shops[1].URL)

			const submits = 10
			locs := make([]string, submits)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range submits {
				wg.Go(func() {
					<-start
					r := c.Post(t, shops[i%2].URL, "/checkout", form, c.CSRF(), false)
					if r.StatusCode != http.StatusSeeOther {
						t.Errorf("submit %d: status %d: %.300s", i, r.StatusCode, r.Body)
					}
					locs[i] = r.Header.Get("Location")
				})
			}
			close(start)
			wg.Wait()
			// Later, a retry of the same form (the browser's back button
			// and submit again).
			r := c.Post(t, shops[1].URL, "/checkout", form, c.CSRF(), false)
			wantStatus(t, r, http.StatusSeeOther)
			locs = append(locs, r.Header.Get("Location"))
			for i, loc := range locs {
				if loc != locs[0] || !strings.HasPrefix(loc, "/orders/") {
					t.Errorf("submit %d went to %q, submit 0 to %q: want one order for all", i, loc, locs[0])
				}
			}
			if n := ordersOf(t, b, p); n != 1 {
				t.Errorf("%d orders written, want 1", n)
			}
			if got := stockOf(t, b, p); got != 18 {
				t.Errorf("stock = %d, want 18 (taken once)", got)
			}
			page := c.Get(t, shops[0].URL, locs[0], false)
			if !strings.Contains(page.Body, "already placed this order") && !strings.Contains(page.Body, "Thank you!") {
				t.Error("the order page after the submits carries no message")
			}
		})
	}
}

// TestLastUnitsThroughTwoInstances has 50 customers check out at the same
// moment through two instances, each with one unit of a lamp that has 10
// left: exactly 10 orders, the stock ends at 0 (the database refuses
// anything below), and the other 40 hear that the lamp sold out.
func TestLastUnitsThroughTwoInstances(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			shops := []*shop{startShop(t, b, "replica-a"), startShop(t, b, "replica-b")}
			const customers, units = 50, 10
			lamp := newProduct(t, b, "Last Lamp", 7900, units)
			cs := make([]*client, customers)
			for i := range cs {
				cs[i] = newClient(t)
				cs[i].signup(t, shops[i%2].URL, testenv.RandomName("cust")+"@example.com", "customer password")
				cs[i].add(t, shops[(i+1)%2].URL, lamp, 1)
			}

			statuses := make([]int, customers)
			bodies := make([]string, customers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, c := range cs {
				wg.Go(func() {
					<-start
					r := c.Post(t, shops[i%2].URL, "/checkout", nil, c.CSRF(), true)
					statuses[i], bodies[i] = r.StatusCode, r.Body
				})
			}
			began := time.Now()
			close(start)
			wg.Wait()
			took := time.Since(began)

			placed, soldOut := 0, 0
			for i, st := range statuses {
				switch {
				case st == http.StatusOK:
					placed++
				case st == http.StatusConflict && strings.Contains(bodies[i], `"out_of_stock"`) && strings.Contains(bodies[i], "Last Lamp is sold out"):
					soldOut++
				default:
					t.Errorf("customer %d: status %d: %.300s", i, st, bodies[i])
				}
			}
			orders, stock := ordersOf(t, b, lamp), stockOf(t, b, lamp)
			t.Logf("%s: %d concurrent checkouts through 2 instances for the last %d units in %v: %d orders placed, %d told it sold out; %d orders in the database, final stock %d",
				kind, customers, units, took.Round(time.Millisecond), placed, soldOut, orders, stock)
			if placed != units || soldOut != customers-units {
				t.Errorf("placed %d, sold out %d; want %d and %d", placed, soldOut, units, customers-units)
			}
			if orders != units || stock != 0 {
				t.Errorf("orders %d, stock %d; want %d and 0", orders, stock, units)
			}
		})
	}
}
