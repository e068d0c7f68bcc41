package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/the-shop/shop/internal/testenv"
)

// The browser tests: a person in headless Chromium uses the shop through
// nginx in front of three replicas, with sessions in Redis.

// addButton is the "Add to cart" button of a product's card in the catalog.
func addButton(productID int) string {
	return fmt.Sprintf(`.product-card form:has(input[name=product_id][value="%d"]) button[type=submit]`, productID)
}

// signUp creates an account through the form and lands on the catalog,
// signed in.
func signUp(tb *tab, email, password string) {
	tb.t.Helper()
	tb.click(`.account a[href="/signup"]`)
	tb.fill("#email", email)
	tb.fill("#password", password)
	tb.click(`form[action="/signup"] button[type=submit]`)
	if got := tb.text(".account-email"); got != email {
		tb.fatalf("after signing up the header shows %q, want %s", got, email)
	}
}

// logIn signs in through the form (the page's "Log in" link first, unless
// the login form shows already).
func logIn(tb *tab, email, password string) {
	tb.t.Helper()
	if !strings.HasPrefix(tb.path(), "/login") {
		tb.click(`.account a[href="/login"]`)
	}
	tb.fill("#email", email)
	tb.fill("#password", password)
	tb.click(`form[action="/login"] button[type=submit]`)
	if got := tb.text(".account-email"); got != email {
		tb.fatalf("after logging in the header shows %q, want %s", got, email)
	}
}

// checkOut goes through the checkout's steps from the cart page: the
// shipping address (typed when none is saved), the review, "Place order";
// each, when not nil, is called on each step's page ("checkout-shipping",
// "checkout-review") before it is left: to picture it, or to check it.
func checkOut(tb *tab, each func(step string)) {
	tb.t.Helper()
	tb.click(`a.checkout-start`)
	if p := tb.path(); p != "/checkout" {
		tb.fatalf("Check out led to %s, want /checkout", p)
	}
	if run(tb, "read the saved name", chromedp.Evaluate[string](`document.querySelector('#name').value`)) == "" {
		for sel, v := range map[string]string{"#name": "Ann Shopper", "#line1": "1 Test Street", "#postal_code": "10115", "#city": "Berlin", "#country": "Germany"} {
			tb.fill(sel, v)
		}
	}
	if each != nil {
		each("checkout-shipping")
	}
	tb.click(`form[action="/checkout/shipping"] button[type=submit]`)
	if p := tb.path(); !strings.HasPrefix(p, "/checkout/review") {
		tb.fatalf("the shipping step led to %s, want the review", p)
	}
	if each != nil {
		each("checkout-review")
	}
	tb.click(`.checkout-form button[type=submit]`)
}

// checkPage checks the page at the tab's current width, as shoot does at
// every width: its layout, and its accessibility with axe-core.
func checkPage(tb *tab, name string) {
	tb.t.Helper()
	tb.do("load every image", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('img[loading=lazy]').forEach(function (i) { i.loading = 'eager'; })`))
	tb.waitFor("every image loaded", `Array.from(document.images).every(function (i) { return i.complete; })`)
	if problems := run(tb, "check the layout", chromedp.Evaluate[[]string](layoutProblems)); len(problems) > 0 {
		tb.errorf("%s: %s", name, strings.Join(problems, "; "))
	}
	checkAccessibility(tb, name)
}

// wantCart checks the cart page's lines and the badge.
func wantCart(tb *tab, want map[string]int) {
	tb.t.Helper()
	got := tb.cartLines()
	total := 0
	for _, n := range want {
		total += n
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		tb.fatalf("cart lines = %v, want %v", got, want)
	}
	if b := tb.badge(); b != total {
		tb.fatalf("cart badge shows %d, want %d", b, total)
	}
}

const (
	mug     = "Stoneware Mug"
	dripper = "Pour-Over Coffee Dripper"
)

// TestBrowser runs a shopper's whole journey, a second browser revoking a
// session, and the shop without JavaScript, against one cluster.
func TestBrowser(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{Store: "redis", LB: "rr", Replicas: 3})
	ch := startChrome(t)

	t.Run("Journey", func(t *testing.T) {
		tb := ch.newTab(t, "shopper", c.URL)

		// Browse.
		tb.open("/")
		if n := run(tb, "count the products", chromedp.Evaluate[int](`document.querySelectorAll('.product-card').length`)); n < 10 {
			tb.fatalf("the catalog shows %d products, want the 14 of the seed", n)
		}
		if tb.badge() != 0 {
			tb.fatalf("a new visitor's cart badge shows %d", tb.badge())
		}
		if tb.footerServedBy() != tb.lastServedBy {
			tb.fatalf("footer names %q, X-Served-By %q", tb.footerServedBy(), tb.lastServedBy)
		}

		// Add from the catalog: JavaScript adds without a reload.
		tb.do("add a mug from the catalog", chromedp.Click(chromedp.CSS(addButton(1)), chromedp.NodeVisible))
		tb.waitBadge(1)
		tb.waitFor("the form's status confirms", `/added to your cart/.test((document.querySelector('.add-status-success') || {}).textContent || '')`)
		// The focus is back on the button that was pressed, and the
		// status's "View cart" link is the next Tab stop.
		if got := run(tb, "read the focused element", chromedp.Evaluate[string](`(function () {
			var b = document.activeElement; var f = b && b.closest('form');
			return b.tagName + ' ' + (f ? f.querySelector('[name=product_id]').value : '');
		})()`)); got != "BUTTON 1" {
			tb.fatalf("after adding, the focus is on %q, want the mug's Add to cart button", got)
		}
		if next := run(tb, "find the status link", chromedp.Evaluate[string](`(function () {
			var s = document.activeElement.closest('form').querySelector('[data-add-status]');
			return s.getAttribute('role') + ' ' + (s.querySelector('a') || {}).textContent;
		})()`)); next != "status View cart" {
			tb.fatalf("the add's status reads %q, want a status region with a View cart link", next)
		}
		if tb.path() != "/" {
			tb.fatalf("adding with JavaScript left the catalog for %s", tb.path())
		}

		// Add from the product page, two at once.
		tb.click(`.card-title a[href="/products/2"]`)
		if got := tb.text(".product-title"); got != dripper {
			tb.fatalf("product page shows %q, want %s", got, dripper)
		}
		tb.fill("#qty-2", "2")
		tb.do("add two drippers", chromedp.Click(chromedp.CSS(`.product form.add-to-cart button[type=submit]`), chromedp.NodeVisible))
		tb.waitBadge(3)

		// The cart.
		tb.click(`a.nav-cart`)
		wantCart(tb, map[string]int{mug: 1, dripper: 2})

		// Kill the replica that served this page: the next click (a POST)
		// is retried by nginx on another replica, and the cart is whole.
		killed := tb.lastServedBy
		n := replicaNumber(t, killed)
		c.Kill(t, n)
		t.Logf("killed %s, which served the cart page", killed)
		tb.fill("#line-qty-2", "3")
		tb.click(`form.qty-form[action="/cart/items/2"] button[type=submit]`)
		if tb.lastServedBy == killed || tb.lastServedBy == "" {
			tb.fatalf("the page after the kill was served by %q", tb.lastServedBy)
		}
		wantCart(tb, map[string]int{mug: 1, dripper: 3})
		c.MustScript(t, "start", fmt.Sprint(n))

		// Remove a line.
		tb.click(`form.remove-form[action="/cart/items/1/delete"] button[type=submit]`)
		wantCart(tb, map[string]int{dripper: 3})

		// Sign up: the guest cart becomes the account's.
		email := testenv.RandomName("journey") + "@example.com"
		const password = "browser journey"
		signUp(tb, email, password)
		if tb.badge() != 3 {
			tb.fatalf("after signing up the badge shows %d, want the guest cart's 3", tb.badge())
		}

		// Log out: a fresh, empty guest session.
		tb.click(`.logout-form button[type=submit]`)
		if !tb.has(`.account a[href="/login"]`) || tb.badge() != 0 {
			tb.fatalf("after logging out: login link %v, badge %d; want a guest with an empty cart", tb.has(`.account a[href="/login"]`), tb.badge())
		}

		// As a guest again, add, then log in: the carts merge.
		tb.do("add a mug as a guest", chromedp.Click(chromedp.CSS(addButton(1)), chromedp.NodeVisible))
		tb.waitBadge(1)
		tb.do("add a dripper as a guest", chromedp.Click(chromedp.CSS(addButton(2)), chromedp.NodeVisible))
		tb.waitBadge(2)
		logIn(tb, email, password)
		tb.click(`a.nav-cart`)
		wantCart(tb, map[string]int{mug: 1, dripper: 4})

		// Check out through the steps and see the order.
		checkOut(tb, nil)
		if !strings.HasPrefix(tb.path(), "/orders/") {
			tb.fatalf("checkout led to %s, want /orders/:id", tb.path())
		}
		if got := tb.text(".cart-total dd"); got != "$144.72" {
			tb.fatalf("order total shows %q, want $144.72 (1 × $18.00 + 4 × $29.00, free shipping, 8%% tax)", got)
		}
		if got := tb.text(".order-status h2"); got != "Status: Placed" {
			tb.fatalf("order status reads %q", got)
		}
		if got := tb.text(".flash-success"); !strings.Contains(got, "Order") && !strings.Contains(got, "order") {
			tb.fatalf("after checkout the flash says %q", got)
		}
		if tb.badge() != 0 {
			tb.fatalf("after checkout the badge shows %d, want 0", tb.badge())
		}
		order := tb.path()
		tb.click(`.site-nav a[href="/orders"]`)
		if !tb.has(fmt.Sprintf(`.orders-table a[href=%q]`, order)) {
			tb.fatalf("the orders page does not list %s", order)
		}
	})

	t.Run("RevokeAnotherSession", func(t *testing.T) {
		laptop := ch.newTab(t, "laptop", c.URL)
		phone := ch.newTab(t, "phone", c.URL)
		email := testenv.RandomName("revoke") + "@example.com"
		const password = "two browsers"
		laptop.open("/")
		signUp(laptop, email, password)
		phone.open("/")
		logIn(phone, email, password)

		laptop.click(".account-email")
		if n := run(laptop, "count the sessions", chromedp.Evaluate[int](`document.querySelectorAll('.session-item').length`)); n != 2 {
			laptop.fatalf("the sessions page lists %d sessions, want 2", n)
		}
		laptop.click(`.session-item:not(.session-current) .session-revoke button[type=submit]`)
		if n := run(laptop, "count the sessions", chromedp.Evaluate[int](`document.querySelectorAll('.session-item').length`)); n != 1 {
			laptop.fatalf("after revoking, the sessions page lists %d sessions, want 1", n)
		}

		// The phone's page still shows it signed in; its next click finds
		// it signed out, whichever replica answers.
		phone.click(`.site-nav a[href="/orders"]`)
		if p := phone.path(); !strings.HasPrefix(p, "/login") {
			phone.fatalf("the revoked session opened %s, want the login page", p)
		}
		if !phone.has(`.account a[href="/login"]`) {
			phone.fatalf("the revoked session still shows a signed-in header")
		}
		// The laptop is still signed in.
		laptop.click(`.site-nav a[href="/orders"]`)
		if laptop.path() != "/orders" {
			laptop.fatalf("the laptop, which revoked the other session, opened %s", laptop.path())
		}
	})

	t.Run("WithoutJavaScript", func(t *testing.T) {
		tb := ch.newTab(t, "no-js", c.URL)
		tb.do("turn JavaScript off", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
		tb.open("/")
		// A plain form post: the shop answers 303 to the cart page.
		tb.click(addButton(4))
		if tb.path() != "/cart" {
			tb.fatalf("adding without JavaScript led to %s, want /cart", tb.path())
		}
		wantCart(tb, map[string]int{"Gooseneck Kettle": 1})
		if tb.has(".add-status:not(:empty)") || tb.has(".password-toggle") {
			tb.fatalf("script-made content shows although JavaScript is off")
		}
		tb.click(`.cart-product a[href="/products/4"]`)
		tb.fill("#qty-4", "2")
		tb.click(`.product form.add-to-cart button[type=submit]`)
		wantCart(tb, map[string]int{"Gooseneck Kettle": 3})
	})

	t.Run("CheckoutAtEachWidth", func(t *testing.T) {
		// The checkout's steps as a shopper on a phone and on a desktop
		// goes through them, clicking at that width: address, a shipping
		// option other than the first, the review, "Place order", the
		// order page; each page checked for its layout and with axe-core
		// at that width.
		for _, vp := range viewports {
			t.Run(vp.name, func(t *testing.T) {
				tb := ch.newTab(t, "checkout-"+vp.name, c.URL)
				opts := []chromedp.EmulateViewportOption{}
				if vp.mobile {
					opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
				}
				tb.do("resize to "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
				tb.open("/signup")
				email := testenv.RandomName("checkout-"+vp.name) + "@example.com"
				tb.fill("#email", email)
				tb.fill("#password", "checkout at "+vp.name)
				tb.click(`form[action="/signup"] button[type=submit]`)
				if got := tb.text(".account-email-text"); got != email {
					tb.fatalf("after signing up the header shows %q, want %s", got, email)
				}
				tb.open("/products/3")
				tb.do("add the coffee beans", chromedp.Click(chromedp.CSS(`.product form.add-to-cart button[type=submit]`), chromedp.NodeVisible))
				tb.waitBadge(1)
				tb.click(`a.nav-cart`)
				checkPage(tb, "cart-"+vp.name)

				var shipping, shippingCost string
				checkOut(tb, func(step string) {
					if step == "checkout-shipping" {
						// Choose the last shipping option, by its label.
						tb.do("choose the last shipping option", chromedp.Click(chromedp.CSS(`.shipping-options .option:last-child label`), chromedp.NodeVisible))
						shipping = run(tb, "read the chosen shipping", chromedp.Evaluate[string](`document.querySelector('.shipping-options input:checked + label').textContent.split(':')[0].trim()`))
						if !tb.has(`#shipping-express:checked`) {
							tb.fatalf("choosing the last shipping option checked %q, want express", shipping)
						}
					}
					if step == "checkout-review" {
						if got := tb.text(".cart-summary .hint"); !strings.Contains(got, shipping) {
							tb.fatalf("the review says %q, want the chosen shipping %q", got, shipping)
						}
						if !strings.Contains(tb.text(".cart-summary address"), "1 Test Street") {
							tb.fatalf("the review does not show the address: %q", tb.text(".cart-summary address"))
						}
						shippingCost = tb.text(".cart-summary dl div:nth-child(2) dd")
					}
					checkPage(tb, step+"-"+vp.name)
				})
				if !strings.HasPrefix(tb.path(), "/orders/") {
					tb.fatalf("Place order led to %s, want /orders/:id", tb.path())
				}
				if got := tb.text(".order-status h2"); got != "Status: Placed" {
					tb.fatalf("order status reads %q", got)
				}
				if got := tb.text(".cart-summary dl div:nth-child(2) dd"); got != shippingCost {
					tb.fatalf("the order's shipping is %q, the review's %q", got, shippingCost)
				}
				if !strings.Contains(tb.text(".cart-summary address"), "1 Test Street") {
					tb.fatalf("the order page does not show the address: %q", tb.text(".cart-summary address"))
				}
				checkPage(tb, "order-"+vp.name)
			})
		}
	})

	t.Run("StockCapAtEachWidth", func(t *testing.T) {
		// More headphones than are in stock (8 in the seed): typed on the
		// product page (added by JavaScript), then on the cart page (a
		// plain form post); each time the page names the product and what
		// is left, and the cart holds the 8.
		const headphones = "Wireless Headphones"
		for _, vp := range viewports {
			t.Run(vp.name, func(t *testing.T) {
				tb := newTabAt(t, ch, "stock-"+vp.name, c.URL, vp.name)
				tb.open("/products/14")
				tb.fill("#qty-14", "50")
				tb.do("add 50 headphones", chromedp.Click(chromedp.CSS(`.product form.add-to-cart button[type=submit]`), chromedp.NodeVisible))
				tb.waitBadge(8)
				want := "Only 8 left of " + headphones
				if got := tb.text(".product .add-status"); !strings.Contains(got, want) {
					tb.fatalf("after adding 50 the product page says %q, want %q", got, want)
				}
				checkPage(tb, "stock-product-"+vp.name)
				tb.click(`a.nav-cart`)
				wantCart(tb, map[string]int{headphones: 8})
				tb.fill("#line-qty-14", "20")
				tb.click(`form.qty-form[action="/cart/items/14"] button[type=submit]`)
				if got := tb.text(".flashes"); !strings.Contains(got, want) {
					tb.fatalf("after setting 20 the cart says %q, want %q", got, want)
				}
				wantCart(tb, map[string]int{headphones: 8})
				checkPage(tb, "stock-cart-"+vp.name)
			})
		}
	})

	t.Run("SignUpFromCheckoutAtEachWidth", func(t *testing.T) {
		// A guest with a cart presses "Log in to check out", is asked to log in,
		// follows "Create an account", signs up and is back at the cart,
		// whole, and goes on to the checkout.
		for _, vp := range viewports {
			t.Run(vp.name, func(t *testing.T) {
				tb := newTabAt(t, ch, "signup-checkout-"+vp.name, c.URL, vp.name)
				tb.open("/products/5")
				tb.fill("#qty-5", "2")
				tb.do("add two notebooks", chromedp.Click(chromedp.CSS(`.product form.add-to-cart button[type=submit]`), chromedp.NodeVisible))
				tb.waitBadge(2)
				tb.click(`a.nav-cart`)
				// A guest's cart offers "Log in to check out".
				tb.click(`a.checkout-login`)
				if p := tb.path(); p != "/login?next=/cart" {
					tb.fatalf("a guest's Check out led to %s, want the login page with next=/cart", p)
				}
				tb.click(`.auth-switch a`)
				// The link's next is escaped (%2f); it is the same /cart.
				if p, _ := url.QueryUnescape(tb.path()); p != "/signup?next=/cart" {
					tb.fatalf("Create an account led to %s, want the signup page with next=/cart", p)
				}
				checkPage(tb, "signup-next-"+vp.name)
				email := testenv.RandomName("signup-checkout-"+vp.name) + "@example.com"
				tb.fill("#email", email)
				tb.fill("#password", "signup at "+vp.name)
				tb.click(`form[action="/signup"] button[type=submit]`)
				if got := tb.text(".account-email-text"); got != email {
					tb.fatalf("after signing up the header shows %q, want %s", got, email)
				}
				if p := tb.path(); p != "/cart" {
					tb.fatalf("signing up from the checkout led to %s, want /cart", p)
				}
				wantCart(tb, map[string]int{"Dot-Grid Notebook": 2})
				tb.click(`a.checkout-start`)
				if p := tb.path(); p != "/checkout" {
					tb.fatalf("Check out after signing up led to %s, want /checkout", p)
				}
			})
		}
	})

	t.Run("SearchAtEachWidth", func(t *testing.T) {
		// A search typed into the catalog's box and sent with Enter shows
		// the matching products and the query.
		for _, vp := range viewports {
			t.Run(vp.name, func(t *testing.T) {
				tb := newTabAt(t, ch, "search-"+vp.name, c.URL, vp.name)
				tb.open("/")
				tb.fill("#catalog-q", "coffee")
				tb.load("press Enter in the search box", chromedp.SendKeys(chromedp.CSS("#catalog-q"), kb.Enter))
				if p := tb.path(); p != "/?q=coffee" {
					tb.fatalf("the search led to %s, want /?q=coffee", p)
				}
				if got := tb.text("#search-summary"); !strings.Contains(got, "“coffee”") {
					tb.fatalf("the results say %q, want the query", got)
				}
				names := run(tb, "read the results", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.product-card .card-title')).map(function (e) { return e.textContent.trim(); }).sort()`))
				if want := []string{dripper, "Single-Origin Coffee Beans, 250 g"}; fmt.Sprint(names) != fmt.Sprint(want) {
					tb.fatalf("searching coffee shows %q, want %q", names, want)
				}
				if got := run(tb, "read the search box", chromedp.Evaluate[string](`document.querySelector('#catalog-q').value`)); got != "coffee" {
					tb.fatalf("the search box holds %q after the search, want coffee", got)
				}
				checkPage(tb, "search-results-"+vp.name)
			})
		}
	})

	t.Run("AxeFindsProblems", func(t *testing.T) {
		// The accessibility check is not a check that passes everything:
		// a picture without a text alternative and an unlabelled field
		// are found.
		tb := ch.newTab(t, "axe", c.URL)
		tb.open("/")
		if bad, _ := axeViolations(tb, "the catalog"); len(bad) > 0 {
			tb.fatalf("the catalog has problems before any were made: %v", bad)
		}
		tb.do("break the page", chromedp.Evaluate[chromedp.Void](`(function () {
			document.querySelector('.product-card img').removeAttribute('alt');
			document.querySelector('label[for="catalog-q"]').remove();
		})()`))
		bad, _ := axeViolations(tb, "the broken catalog")
		got := strings.Join(bad, "\n")
		for _, want := range []string{"image-alt", "label"} {
			if !strings.Contains(got, want) {
				t.Errorf("axe does not report %s on the broken page; it reports:\n%s", want, got)
			}
		}
	})

	t.Run("FailureArtifacts", func(t *testing.T) {
		// What a failing step leaves behind: a screenshot and the HTML of
		// the page, under test-artifacts/, named in the message.
		tb := ch.newTab(t, "artifacts", c.URL)
		tb.open("/products/3")
		saved := tb.saveArtifacts("check")
		paths := strings.Split(saved, " and ")
		if len(paths) != 2 || !strings.HasSuffix(paths[0], ".png") || !strings.HasSuffix(paths[1], ".html") {
			t.Fatalf("saveArtifacts = %q, want a .png and an .html", saved)
		}
		png, err := os.ReadFile(filepath.Join(repoRoot, paths[0]))
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("%s: %v, %d bytes; want a PNG", paths[0], err, len(png))
		}
		html, err := os.ReadFile(filepath.Join(repoRoot, paths[1]))
		if err != nil || !strings.Contains(string(html), "Single-Origin Coffee Beans") {
			t.Errorf("%s: %v; want the product page's HTML", paths[1], err)
		}
		if !strings.HasPrefix(paths[0], filepath.Join("test-artifacts", "browser")+string(filepath.Separator)) {
			t.Errorf("artifacts saved under %s, want test-artifacts/browser/ (git-ignored)", paths[0])
		}
		for _, p := range paths {
			os.Remove(filepath.Join(repoRoot, p))
		}
	})

	t.Run("Pages", func(t *testing.T) {
		// Every page, at phone and desktop widths: laid out within the
		// screen, images loaded, the header's cart badge, a heading.
		ann := ch.newTab(t, "ann", c.URL)
		const email, password = "ann@example.com", "correct horse"
		ann.open("/cart")
		shoot(ann, "cart-empty")

		ann.open("/products/2")
		ann.fill("#qty-2", "2")
		ann.do("add two drippers", chromedp.Click(chromedp.CSS(`.product form.add-to-cart button[type=submit]`), chromedp.NodeVisible))
		ann.waitBadge(2)
		shoot(ann, "product")
		ann.open("/")
		shoot(ann, "catalog")
		ann.do("add a mug", chromedp.Click(chromedp.CSS(addButton(1)), chromedp.NodeVisible))
		ann.waitBadge(3)
		ann.open("/?q=coffee")
		shoot(ann, "search")
		ann.open("/cart")
		shoot(ann, "cart")

		ann.open("/login")
		shoot(ann, "login")
		ann.fill("#email", email)
		ann.fill("#password", "not the password")
		if got := ann.load("log in with a wrong password", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`))); got != 401 {
			ann.fatalf("a wrong password answered %d, want 401", got)
		}
		shoot(ann, "login-error")
		ann.open("/signup")
		shoot(ann, "signup")
		signUp(ann, email, password)
		ann.open("/orders")
		shoot(ann, "orders-empty")
		ann.click("a.nav-cart")
		checkOut(ann, func(step string) { shoot(ann, step) })
		shoot(ann, "order")
		ann.open("/orders")
		shoot(ann, "orders")

		phone := ch.newTab(t, "ann's phone", c.URL)
		phone.open("/login")
		logIn(phone, email, password)
		ann.open("/account/sessions")
		shoot(ann, "sessions")
		ann.open("/account/password")
		shoot(ann, "password")
		ann.openStatus("/products/9999", 404)
		shoot(ann, "error-404")
	})
}

// TestBrowserIdleTimeout: with a short idle timeout the page warns before
// the session ends, "Stay logged in" extends it, and once idle past the
// timeout the next click asks to log in again.
func TestBrowserIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 6 * time.Second
	c := startCluster(t, clusterOptions{Store: "redis", Env: map[string]string{
		"SESSION_IDLE_TIMEOUT":   idle.String(),
		"SESSION_TOUCH_INTERVAL": "1s",
	}})
	ch := startChrome(t)
	tb := ch.newTab(t, "idle", c.URL)
	tb.open("/")
	signUp(tb, testenv.RandomName("idle")+"@example.com", "idle timeout")
	loaded := time.Now()

	// The warning comes at half the idle time before the end.
	tb.do("wait for the expiry warning", chromedp.WaitVisible(chromedp.CSS("[data-expiry-warning]")))
	if got := tb.text("[data-expiry-warning] p"); !strings.Contains(got, "logged out in") {
		tb.fatalf("expiry warning says %q", got)
	}
	tb.do("stay signed in", chromedp.Click(chromedp.CSS("[data-expiry-warning] button"), chromedp.NodeVisible))
	tb.do("the warning goes", chromedp.WaitNotPresent(chromedp.CSS("[data-expiry-warning]")))

	// Past the first expiry: still signed in, thanks to "Stay logged in".
	time.Sleep(time.Until(loaded.Add(idle + time.Second)))
	tb.click(`.site-nav a[href="/orders"]`)
	if tb.path() != "/orders" {
		tb.fatalf("after \"Stay logged in\" and %v, /orders led to %s", time.Since(loaded).Round(time.Second), tb.path())
	}

	// Idle past the timeout: the page says so, and the next click asks to
	// log in.
	tb.waitFor("the page says the session ended", `/logged out because you were inactive/.test((document.querySelector('[data-expiry-warning]') || {}).textContent || '')`)
	time.Sleep(500 * time.Millisecond) // the server's clock, not the page's, decides
	tb.click(`.site-nav a[href="/orders"]`)
	if p := tb.path(); !strings.HasPrefix(p, "/login") {
		tb.fatalf("idle past %v, /orders led to %s, want the login page", idle, p)
	}
	if got := tb.text(".flash"); !strings.Contains(got, "log in") {
		tb.fatalf("the login page's message is %q", got)
	}
}

// newTabAt opens a tab at a viewport's width (a phone's with mobile and
// touch emulation).
func newTabAt(t *testing.T, ch *chrome, name, base, viewport string) *tab {
	t.Helper()
	tb := ch.newTab(t, name, base)
	for _, vp := range viewports {
		if vp.name == viewport {
			opts := []chromedp.EmulateViewportOption{}
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
			}
			tb.do("resize to "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
			return tb
		}
	}
	t.Fatalf("no viewport %q", viewport)
	return nil
}

// viewports are the widths every page is checked and pictured at.
var viewports = []struct {
	name          string
	width, height int64
	mobile        bool
}{
	{"desktop", 1280, 900, false},
	{"phone", 390, 844, true},
}

// docScreenshots are the pictures `make screenshots` copies into
// docs/screenshots (SHOP_SCREENSHOTS_DIR); the others stay in
// test-artifacts/screenshots.
var docScreenshots = map[string]bool{
	"catalog-desktop": true, "catalog-phone": true, "product-desktop": true,
	"cart-desktop": true, "cart-phone": true, "login-error-desktop": true,
	"order-desktop": true, "sessions-desktop": true, "error-404-phone": true,
	"checkout-shipping-desktop": true, "checkout-shipping-phone": true, "checkout-review-desktop": true,
	"checkout-review-phone": true, "order-phone": true, "search-desktop": true,
	// The pages of the mail flows, pictured by TestBrowserMail.
	"password-forgot-desktop": true, "password-forgot-phone": true, "password-reset-desktop": true,
	"password-reset-phone": true, "account-delete-desktop": true, "account-delete-phone": true,
}

// layoutProblems lists what is visibly wrong with the page at the current
// width: content wider than the screen, images that did not load, a header
// without the cart badge, no heading.
const layoutProblems = `(function () {
	var p = [];
	var over = document.documentElement.scrollWidth - window.innerWidth;
	if (over > 0) {
		var wide = Array.from(document.querySelectorAll('body *')).filter(function (el) {
			return el.getBoundingClientRect().right > window.innerWidth + 1;
		}).slice(0, 3).map(function (el) { return el.tagName.toLowerCase() + '.' + el.className; });
		p.push('content is ' + over + 'px wider than the screen: ' + wide.join(', '));
	}
	Array.from(document.images).forEach(function (img) {
		if (!img.complete || img.naturalWidth === 0) p.push('image not loaded: ' + img.getAttribute('src'));
	});
	if (!/^\d+$/.test((document.querySelector('.site-header [data-cart-count]') || {}).textContent || '')) p.push('no cart badge with a count in the header');
	if (!document.querySelector('main h1')) p.push('no h1 in main');
	if (!document.querySelector('[data-served-by]')) p.push('no served-by badge in the footer');
	return p;
})()`

// shoot checks the page at every width (its layout, and its accessibility
// with axe-core) and saves a full-page screenshot of
// each under test-artifacts/screenshots, and for the pictures the docs
// show, the first screen under SHOP_SCREENSHOTS_DIR.
func shoot(tb *tab, page string) {
	tb.t.Helper()
	dir := filepath.Join(repoRoot, "test-artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	docs := os.Getenv("SHOP_SCREENSHOTS_DIR")
	if docs != "" && !filepath.IsAbs(docs) {
		docs = filepath.Join(repoRoot, docs)
	}
	for _, vp := range viewports {
		opts := []chromedp.EmulateViewportOption{}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		tb.do("resize to "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
		// Lazy images below the fold load now, for the check and the
		// full-page picture.
		tb.do("load every image", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('img[loading=lazy]').forEach(function (i) { i.loading = 'eager'; })`))
		tb.waitFor("every image loaded", `Array.from(document.images).every(function (i) { return i.complete; })`)
		tb.do("let the layout settle", chromedp.Sleep(100*time.Millisecond))
		name := page + "-" + vp.name
		if problems := run(tb, "check the layout", chromedp.Evaluate[[]string](layoutProblems)); len(problems) > 0 {
			tb.errorf("%s at %dpx: %s", page, vp.width, strings.Join(problems, "; "))
		}
		checkAccessibility(tb, name)
		png := run(tb, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
		if docs != "" && docScreenshots[name] {
			// The docs show the first screen, as a person sees it.
			tb.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
			first := run(tb, "screenshot the first screen of "+name, chromedp.CaptureScreenshot())
			if err := os.WriteFile(filepath.Join(docs, name+".png"), first, 0o644); err != nil {
				tb.t.Fatal(err)
			}
		}
	}
	tb.do("back to the desktop size", chromedp.EmulateViewport(1280, 900))
}
