package views_test

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/order"
	"github.com/the-shop/shop/static"
	"github.com/the-shop/shop/views"
)

// The types below mirror handlers.Page and friends field for field (views
// must not import handlers). If a template uses a field these lack, rendering
// fails here first.

type page struct {
	Title     string
	Name      string
	CSRFToken string
	User      *userView
	CartCount int
	// SessionExpiresAt mirrors handlers.Page (the idle-timeout warning).
	SessionExpiresAt string
	Flashes          []flash
	Replica          string
	StoreKind        string
	ShowServedBy     bool
	Zone             string
	Form             *form
	Data             any
}

type userView struct{ Email string }

type flash struct{ Kind, Message string }

type form struct {
	Values map[string]string
	Errors map[string]string
}

func (f *form) Value(field string) string {
	if f == nil {
		return ""
	}
	return f.Values[field]
}

func (f *form) Error(field string) string {
	if f == nil {
		return ""
	}
	return f.Errors[field]
}

type errorData struct {
	Status    int
	Message   string
	RequestID string
}

type catalogData struct {
	Products []catalog.Product
	Query    string
}

type productData struct{ Product catalog.Product }

type cartData struct{ Cart cart.View }

type ordersData struct{ Orders []order.Summary }

type orderData struct{ Order order.Order }

// checkoutData mirrors handlers.CheckoutData.
type checkoutData struct {
	Cart     cart.View
	Address  order.Address
	Options  []shippingChoice
	Shipping string
	Quote    order.Quote
	TaxRate  string
	Payments []struct{ Code, Name string }
	Payment  string
}

type shippingChoice struct {
	order.ShippingOption
	PriceCents int64
}

const token = "tok-3f9a_Zx+/="

var (
	mug = catalog.Product{ID: 1, SKU: "MUG-001", Name: "Stoneware Mug", Description: "A heavy, hand-glazed mug that keeps coffee warm.", PriceCents: 1800, Stock: 12, Image: "img/products/mug.svg"}
	// lamp's price checks the thousands separator; its stock is low.
	lamp = catalog.Product{ID: 9, SKU: "LMP-009", Name: "Brass Desk Lamp", PriceCents: 129900, Stock: 3, Image: "img/products/desk-lamp.svg"}
	// pen is sold out and its name needs escaping.
	pen = catalog.Product{ID: 6, SKU: "PEN-006", Name: `Fountain Pen <script>alert("x")</script> & Ink`, PriceCents: 4500, Stock: 0, Image: "img/products/fountain-pen.svg"}

	fullCart = cart.View{
		Items: []cart.Item{
			{ProductID: 1, SKU: "MUG-001", Name: "Stoneware Mug", Image: "img/products/mug.svg", Quantity: 2, UnitPriceCents: 1800, LineTotalCents: 3600, Stock: 12},
			{ProductID: 9, SKU: "LMP-009", Name: "Brass Desk Lamp", Image: "img/products/desk-lamp.svg", Quantity: 1, UnitPriceCents: 129900, LineTotalCents: 129900, Stock: 3},
		},
		Count:      3,
		TotalCents: 133500,
		Generation: 1700000000123,
	}

	placed = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	// anOrder's first line was named and priced differently from the
	// catalog today: the order shows what was paid.
	anOrder = order.Order{
		ID: 42, CreatedAt: placed, Count: 3, TotalCents: 135900, GrandTotalCents: 135900, Status: "placed", PaymentMethod: "on_delivery",
		Items: []order.Line{
			{ProductID: 1, SKU: "MUG-001", Name: `Mug <b>"old name"</b>`, Quantity: 2, UnitPriceCents: 3000, LineTotalCents: 6000, Image: "img/products/mug.svg"},
			{ProductID: 9, SKU: "LMP-009", Name: "Brass Desk Lamp", Quantity: 1, UnitPriceCents: 129900, LineTotalCents: 129900},
		},
	}
	paidAt, shippedAt = placed.Add(24 * time.Hour), placed.Add(48 * time.Hour)
	// shippedOrder went all the way, to an address, with shipping and tax.
	shippedOrder = order.Order{
		ID: 44, CreatedAt: placed, Count: 1, TotalCents: 1800, ShippingCents: 495, TaxCents: 184, GrandTotalCents: 2479,
		Status: "shipped", PaidAt: &paidAt, ShippedAt: &shippedAt, PaymentMethod: "invoice", ShippingOption: "standard",
		ShipTo: &order.Address{Name: "Ada Lovelace", Line1: "12 St James's Square", PostalCode: "SW1Y 4JH", City: "London", Country: "United Kingdom"},
		Items:  []order.Line{{ProductID: 1, SKU: "MUG-001", Name: "Stoneware Mug", Quantity: 1, UnitPriceCents: 1800, LineTotalCents: 1800, Image: "img/products/mug.svg"}},
	}
)

// parsePages parses the templates exactly as the renderer does: one clone of
// base + partials per page, executed through "base". missingkey=error makes a
// partial that reads a key its caller forgot fail loudly.
func parsePages(t *testing.T) map[string]*template.Template {
	t.Helper()
	asset := func(name string) string {
		if _, err := fs.Stat(static.FS, name); err != nil {
			t.Errorf("asset %q: not in static.FS: %v", name, err)
		}
		return "/static/" + name
	}
	base, err := template.New("").Funcs(views.Funcs(asset)).Option("missingkey=error").
		ParseFS(views.FS, "layouts/*.html", "partials/*.html")
	if err != nil {
		t.Fatalf("parse layouts: %v", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"catalog", "product", "cart", "login", "signup", "error", "orders", "order", "checkout", "review"} {
		clone, err := base.Clone()
		if err != nil {
			t.Fatal(err)
		}
		if pages[name], err = clone.ParseFS(views.FS, "pages/"+name+".html"); err != nil {
			t.Fatalf("parse page %s: %v", name, err)
		}
	}
	return pages
}

func render(t *testing.T, pages map[string]*template.Template, p page) (string, *html.Node) {
	t.Helper()
	var buf bytes.Buffer
	if err := pages[p.Name].ExecuteTemplate(&buf, "base", p); err != nil {
		t.Fatalf("render %s: %v", p.Name, err)
	}
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("parse output: %v", err)
	}
	return buf.String(), doc
}

// signedIn is the user of the pages that show one.
var signedIn = &userView{Email: "ada@example.com"}

// pageTest renders one page and checks it: first for what every page must
// get right (pageProblems), then with check.
type pageTest struct {
	name  string
	page  page
	check func(t *testing.T, raw string, doc *html.Node)
}

// runPageTests runs each pageTest as a subtest named after it.
func runPageTests(t *testing.T, tests []pageTest) {
	t.Helper()
	pages := parsePages(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, doc := render(t, pages, tt.page)
			for _, problem := range pageProblems(tt.page, raw, doc) {
				t.Error(problem)
			}
			tt.check(t, raw, doc)
		})
	}
}

// TestCatalogPages: the catalog and product pages: prices, stock, add-to-cart forms,
// escaping, the header for guests and users, and the served-by badge.
func TestCatalogPages(t *testing.T) {
	runPageTests(t, []pageTest{
		{
			name: "CatalogGuest",
			page: page{Title: "Catalog", Name: "catalog", CSRFToken: token, Data: catalogData{Products: []catalog.Product{mug, lamp, pen}}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "$18.00", "$1,299.00", "$45.00", "Only 3 left", "Out of stock")
				forms := all(doc, isForm("/cart/items"))
				if len(forms) != 2 {
					t.Fatalf("got %d add-to-cart forms, want 2 (the sold-out pen has none)", len(forms))
				}
				for i, want := range []string{"1", "9"} {
					checkAddToCart(t, forms[i], want, "1")
				}
				disabled := all(doc, func(n *html.Node) bool { return n.Data == "button" && has(n, "disabled") })
				if len(disabled) != 1 {
					t.Errorf("got %d disabled buttons, want 1 for the sold-out product", len(disabled))
				}
				if strings.Contains(raw, `<script>alert`) {
					t.Error("product name is not escaped")
				}
				wantText(t, doc, `Fountain Pen <script>alert("x")</script> & Ink`)
				if n := find(doc, byAttr("href", "/login")); n == nil {
					t.Error("guest sees no Log in link")
				}
				if n := find(doc, byAttr("href", "/signup")); n == nil {
					t.Error("guest sees no Sign up link")
				}
			},
		},
		{
			name: "CatalogUserWithFlashesAndServedBy",
			page: page{
				Title: "Catalog", Name: "catalog", CSRFToken: token, User: signedIn, CartCount: 7,
				Flashes:      []flash{{"success", "Welcome back!"}, {"error", "That did not work."}, {"info", "Carts now merge at login."}},
				Replica:      "shop-2",
				StoreKind:    "redis",
				ShowServedBy: true,
				Data:         catalogData{Products: []catalog.Product{mug}},
			},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "ada@example.com", "Welcome back!", "That did not work.", "Carts now merge at login.")
				if find(doc, isForm("/logout")) == nil {
					t.Error("signed-in user has no logout form")
				}
				if find(doc, byAttr("href", "/login")) != nil {
					t.Error("signed-in user still sees a Log in link")
				}
				served := find(doc, func(n *html.Node) bool { return has(n, "data-served-by") })
				if served == nil {
					t.Fatal("no data-served-by badge")
				}
				if got, want := squash(text(served)), "Served by shop-2 · sessions in redis"; got != want {
					t.Errorf("served-by badge = %q, want %q", got, want)
				}
			},
		},
		{
			name: "CatalogEmpty",
			page: page{Title: "Catalog", Name: "catalog", CSRFToken: token, Data: catalogData{}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "No products yet")
			},
		},
		{
			name: "ProductWithQuantityError",
			page: page{
				Title: mug.Name, Name: "product", CSRFToken: token, CartCount: 2,
				Form: &form{Values: map[string]string{"quantity": "500"}, Errors: map[string]string{"quantity": "Choose between 1 and 99."}},
				Data: productData{Product: mug},
			},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Stoneware Mug", "MUG-001", "A heavy, hand-glazed mug", "$18.00", "12 in stock")
				f := find(doc, isForm("/cart/items"))
				if f == nil {
					t.Fatal("no add-to-cart form")
				}
				checkAddToCart(t, f, "1", "500")
				checkFieldError(t, doc, "quantity", "Choose between 1 and 99.")
				img := find(doc, func(n *html.Node) bool { return n.Data == "img" && attr(n, "src") == "/static/img/products/mug.svg" })
				if img == nil || attr(img, "alt") != "Stoneware Mug" {
					t.Errorf("product image missing or without a meaningful alt")
				}
			},
		},
		{
			name: "ProductSoldOut",
			page: page{Title: "Fountain Pen", Name: "product", CSRFToken: token, Data: productData{Product: pen}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Out of stock")
				if find(doc, isForm("/cart/items")) != nil {
					t.Error("sold-out product has an add-to-cart form")
				}
				if find(doc, func(n *html.Node) bool { return n.Data == "button" && has(n, "disabled") }) == nil {
					t.Error("sold-out product has no disabled button")
				}
			},
		},
	})
}

// TestCartPages: the cart page: lines with their forms, the checkout form for a
// signed-in user, the way to log in for a guest, a checkout error, and an
// empty cart.
func TestCartPages(t *testing.T) {
	runPageTests(t, []pageTest{
		{
			name: "CartFull",
			page: page{Title: "Your cart", Name: "cart", CSRFToken: token, User: signedIn, CartCount: 3, Data: cartData{Cart: fullCart}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Stoneware Mug", "Brass Desk Lamp", "$36.00", "$1,299.00", "$1,335.00", "3 items", "Set to 0 to remove the item.")
				for _, it := range fullCart.Items {
					id := strconv.FormatInt(it.ProductID, 10)
					if find(doc, byAttr("href", "/products/"+id)) == nil {
						t.Errorf("no link to product %s", id)
					}
					upd := find(doc, isForm("/cart/items/"+id))
					if upd == nil {
						t.Fatalf("no quantity form for product %s", id)
					}
					q := find(upd, byAttr("name", "quantity"))
					if q == nil {
						t.Fatalf("quantity form of %s has no quantity input", id)
					}
					for k, want := range map[string]string{"type": "number", "min": "0", "max": "99", "value": strconv.Itoa(it.Quantity)} {
						if got := attr(q, k); got != want {
							t.Errorf("product %s quantity %s = %q, want %q", id, k, got, want)
						}
					}
					if find(doc, isForm("/cart/items/"+id+"/delete")) == nil {
						t.Errorf("no remove form for product %s", id)
					}
				}
				// Checking out starts with the shipping step, a GET.
				if a := find(doc, byAttr("href", "/checkout")); a == nil || !strings.Contains(text(a), "Check out") {
					t.Error("signed-in user has no Check out link to /checkout")
				}
				if find(doc, byAttr("href", "/login?next=/cart")) != nil {
					t.Error("signed-in user is asked to log in to check out")
				}
			},
		},
		{
			name: "CartGuestLogsInToCheckOut",
			page: page{Title: "Your cart", Name: "cart", CSRFToken: token, CartCount: 3, Data: cartData{Cart: fullCart}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				if find(doc, isForm("/checkout")) != nil {
					t.Error("a guest has a checkout form")
				}
				a := find(doc, byAttr("href", "/login?next=/cart"))
				if a == nil || !strings.Contains(text(a), "Log in to check out") {
					t.Error("a guest has no \"Log in to check out\" link back to the cart")
				}
			},
		},
		{
			name: "CartWithCheckoutError",
			page: page{
				Title: "Your cart", Name: "cart", CSRFToken: token, User: signedIn, CartCount: 3, Data: cartData{Cart: fullCart},
				Form: &form{Errors: map[string]string{"": "Sorry: Brass Desk Lamp has only 0 left."}},
			},
			check: func(t *testing.T, raw string, doc *html.Node) {
				alert := find(doc, byAttr("role", "alert"))
				if alert == nil || !strings.Contains(text(alert), "Brass Desk Lamp has only 0 left.") || !strings.Contains(text(alert), "There is a problem") {
					t.Fatal("the checkout error is not shown as an alert")
				}
				if table := find(doc, func(n *html.Node) bool { return n.Data == "table" }); !precedes(doc, alert, table) {
					t.Error("the error is not above the cart")
				}
			},
		},
		{
			name: "CartEmpty",
			page: page{Title: "Your cart", Name: "cart", CSRFToken: token, Data: cartData{}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Your cart is empty")
				if find(doc, func(n *html.Node) bool { return n.Data == "table" }) != nil {
					t.Error("empty cart still renders a table")
				}
				if len(all(doc, byAttr("href", "/"))) < 2 { // logo + "browse the catalog"
					t.Error("empty cart has no link back to the catalog")
				}
			},
		},
	})
}

// TestOrderPages: the order list and one order, with what was paid.
func TestOrderPages(t *testing.T) {
	runPageTests(t, []pageTest{
		{
			name: "OrdersList",
			page: page{Title: "Your orders", Name: "orders", CSRFToken: token, User: signedIn, Data: ordersData{Orders: []order.Summary{
				{ID: 43, CreatedAt: placed.Add(time.Hour), Count: 1, TotalCents: 1800, GrandTotalCents: 1800, Status: "placed"},
				{ID: 42, CreatedAt: placed, Count: 3, TotalCents: 135900, GrandTotalCents: 135900, Status: "shipped"},
			}}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Order #43", "Order #42", "14 Mar 2026 at 09:26 UTC", "1 item", "3 items", "$18.00", "$1,359.00", "Shipped", "Placed")
				links := all(doc, func(n *html.Node) bool { return n.Data == "a" && strings.HasPrefix(attr(n, "href"), "/orders/") })
				if len(links) != 2 || attr(links[0], "href") != "/orders/43" || attr(links[1], "href") != "/orders/42" {
					t.Errorf("order links are not /orders/43 then /orders/42")
				}
				if tm := find(doc, byAttr("datetime", "2026-03-14T09:26:53Z")); tm == nil || tm.Data != "time" {
					t.Error("no machine-readable <time> for the order date")
				}
			},
		},
		{
			name: "OrdersEmpty",
			page: page{Title: "Your orders", Name: "orders", CSRFToken: token, User: signedIn, Data: ordersData{}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "No orders yet")
				if find(doc, func(n *html.Node) bool { return n.Data == "table" }) != nil {
					t.Error("the empty order list renders a table")
				}
				if len(all(doc, byAttr("href", "/"))) < 2 {
					t.Error("the empty order list has no link to the catalog")
				}
			},
		},
		{
			name: "OrderAfterCheckout",
			page: page{
				Title: "Order #42", Name: "order", CSRFToken: token, User: signedIn,
				Flashes: []flash{{"success", "Thank you! Your order #42 is placed."}, {"info", "Prices changed since your cart was shown."}},
				Data:    orderData{Order: anOrder},
			},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Thank you! Your order #42 is placed.", "Prices changed", `Mug <b>"old name"</b>`, "MUG-001",
					"$30.00", "$60.00", "$1,299.00", "$1,359.00", "3 items", "14 Mar 2026 at 09:26 UTC")
				if strings.Contains(raw, "<b>") {
					t.Error("the product name in the order is not escaped")
				}
				if find(doc, byAttr("href", "/orders")) == nil {
					t.Error("no link back to the order list")
				}
				if rows := all(doc, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "class") == "order-line" }); len(rows) != 2 {
					t.Errorf("%d order lines, want 2", len(rows))
				}
			},
		},
	})
}

// TestCheckoutPages: the shipping step, the review, and an order with its
// status, address and times in the shopper's zone.
func TestCheckoutPages(t *testing.T) {
	rules := order.DefaultRules()
	q, err := rules.Quote(fullCart.TotalCents, "standard")
	if err != nil {
		t.Fatal(err)
	}
	addr := order.Address{Name: "Ada Lovelace", Line1: "12 St James's Square", PostalCode: "SW1Y 4JH", City: "London", Country: "United Kingdom"}
	var options []shippingChoice
	for _, o := range rules.Shipping {
		options = append(options, shippingChoice{ShippingOption: o, PriceCents: o.PriceFor(fullCart.TotalCents)})
	}
	runPageTests(t, []pageTest{
		{
			name: "ShippingStepWithErrors",
			page: page{Title: "Shipping", Name: "checkout", CSRFToken: token, User: signedIn,
				Form: &form{Errors: map[string]string{"": "Please check the shipping address.", "city": "Enter the city."}},
				Data: checkoutData{Cart: fullCart, Address: order.Address{Name: "Ada"}, Options: options, Shipping: "express"}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Shipping address", "Full name", "Enter the city.", "Express, next working day", "free")
				f := find(doc, isForm("/checkout/shipping"))
				if f == nil {
					t.Fatal("no address form")
				}
				if in := find(f, byAttr("id", "city")); in == nil || attr(in, "aria-invalid") != "true" || attr(in, "aria-describedby") != "city-error" {
					t.Error("the city field does not point at its error")
				}
				if in := find(f, byAttr("id", "shipping-express")); in == nil || !has(in, "checked") {
					t.Error("the chosen shipping option is not checked")
				}
				if in := find(f, byAttr("id", "name")); in == nil || attr(in, "value") != "Ada" {
					t.Error("the typed name is lost")
				}
			},
		},
		{
			name: "Review",
			page: page{Title: "Review your order", Name: "review", CSRFToken: token, User: signedIn,
				Data: checkoutData{Cart: fullCart, Address: addr, Options: options, Shipping: "standard", Quote: q,
					TaxRate: rules.TaxPercent(), Payments: order.PaymentMethods, Payment: order.PayOnDelivery}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Stoneware Mug", "Brass Desk Lamp", "Ada Lovelace", "SW1Y 4JH London", "Tax (8%)", "Free",
					"Pay on delivery", "Pay by invoice", "Place order · "+views.Money(q.GrandTotalCents))
				f := find(doc, isForm("/checkout"))
				if f == nil {
					t.Fatal("no Place order form")
				}
				for name, want := range map[string]string{"expected_total_cents": "133500", "cart_generation": "1700000000123", "shipping": "standard"} {
					if in := find(f, byAttr("name", name)); in == nil || attr(in, "type") != "hidden" || attr(in, "value") != want {
						t.Errorf("review form: %s is not hidden %q", name, want)
					}
				}
			},
		},
		{
			name: "ShippedOrderInTheShoppersZone",
			page: page{Title: "Order #44", Name: "order", CSRFToken: token, User: signedIn, Zone: "Europe/Berlin", Data: orderData{Order: shippedOrder}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "Status: Shipped", "14 Mar 2026 at 10:26 CET", "15 Mar 2026 at 10:26 CET", "16 Mar 2026 at 10:26 CET",
					"Ada Lovelace", "United Kingdom", "$4.95", "$1.84", "$24.79")
				if img := find(doc, func(n *html.Node) bool { return n.Data == "img" && strings.Contains(attr(n, "src"), "mug.svg") }); img == nil {
					t.Error("the order line has no picture")
				}
			},
		},
	})
}

// TestAuthPages: the login and sign-up forms, empty and with errors next to
// their fields.
func TestAuthPages(t *testing.T) {
	runPageTests(t, []pageTest{
		{
			name: "LoginWithNext",
			page: page{Title: "Log in", Name: "login", CSRFToken: token, Form: &form{Values: map[string]string{"next": "/cart"}}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				f := find(doc, isForm("/login"))
				next := find(f, byAttr("name", "next"))
				if next == nil || attr(next, "type") != "hidden" || attr(next, "value") != "/cart" {
					t.Error("the login form does not carry next=/cart")
				}
			},
		},
		{
			name: "LoginNilForm",
			page: page{Title: "Log in", Name: "login", CSRFToken: token},
			check: func(t *testing.T, raw string, doc *html.Node) {
				f := find(doc, isForm("/login"))
				if f == nil {
					t.Fatal("no login form")
				}
				wantInput(t, f, "email", map[string]string{"type": "email", "autocomplete": "username", "value": ""})
				wantInput(t, f, "password", map[string]string{"type": "password", "autocomplete": "current-password"})
				wantInput(t, f, "remember_me", map[string]string{"type": "checkbox", "value": "on"})
				wantText(t, doc, "Remember me")
				if find(doc, byAttr("aria-invalid", "true")) != nil {
					t.Error("aria-invalid set without errors")
				}
				if len(all(doc, byAttr("href", "/signup"))) < 2 { // header + "create an account"
					t.Error("no link to sign up")
				}
			},
		},
		{
			name: "LoginWithErrors",
			page: page{
				Title: "Log in", Name: "login", CSRFToken: token,
				Form: &form{
					Values: map[string]string{"email": `ada"@example.com`},
					Errors: map[string]string{"": "Email or password is wrong.", "email": "Enter a valid email address."},
				},
			},
			check: func(t *testing.T, raw string, doc *html.Node) {
				f := find(doc, isForm("/login"))
				wantInput(t, f, "email", map[string]string{"value": `ada"@example.com`})
				checkFieldError(t, doc, "email", "Enter a valid email address.")
				general := find(doc, byAttr("role", "alert"))
				if general == nil || !strings.Contains(text(general), "Email or password is wrong.") {
					t.Fatal("general form error missing or not role=alert")
				}
				if !precedes(doc, general, f) {
					t.Error("general error is not above the form")
				}
				if pw := find(f, byAttr("name", "password")); has(pw, "aria-invalid") {
					t.Error("password marked invalid without an error")
				}
			},
		},
		{
			name: "SignupWithErrors",
			page: page{
				Title: "Sign up", Name: "signup", CSRFToken: token,
				Form: &form{
					Values: map[string]string{"email": "ada@example.com"},
					Errors: map[string]string{"password": "Use at least 8 characters."},
				},
			},
			check: func(t *testing.T, raw string, doc *html.Node) {
				f := find(doc, isForm("/signup"))
				if f == nil {
					t.Fatal("no signup form")
				}
				wantInput(t, f, "email", map[string]string{"type": "email", "value": "ada@example.com"})
				wantInput(t, f, "password", map[string]string{"type": "password", "autocomplete": "new-password"})
				checkFieldError(t, doc, "password", "Use at least 8 characters.")
				pw := find(f, byAttr("name", "password"))
				if !slices.Contains(strings.Fields(attr(pw, "aria-describedby")), "password-hint") {
					t.Error("password is not described by its hint")
				}
				if !strings.Contains(strings.ToLower(text(doc)), "at least 8 characters") {
					t.Error("no password length hint")
				}
				if find(doc, byAttr("href", "/login")) == nil {
					t.Error("no link to log in")
				}
			},
		},
		{
			name: "SignupNilForm",
			page: page{Title: "Sign up", Name: "signup", CSRFToken: token, User: nil},
			check: func(t *testing.T, raw string, doc *html.Node) {
				if find(doc, byAttr("aria-invalid", "true")) != nil {
					t.Error("aria-invalid set without errors")
				}
			},
		},
	})
}

// TestErrorPages: the error page, with and without a request id.
func TestErrorPages(t *testing.T) {
	runPageTests(t, []pageTest{
		{
			name: "ErrorWithRequestID",
			page: page{Title: "Page not found", Name: "error", CSRFToken: token, Data: errorData{Status: 404, Message: "We could not find that page.", RequestID: "req-7f3c"}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "404", "We could not find that page.", "req-7f3c")
				if len(all(doc, byAttr("href", "/"))) < 2 {
					t.Error("error page has no link back to the catalog")
				}
			},
		},
		{
			name: "ErrorWithoutRequestID",
			page: page{Title: "Something went wrong", Name: "error", CSRFToken: token, User: signedIn, Data: errorData{Status: 500, Message: "Please try again."}},
			check: func(t *testing.T, raw string, doc *html.Node) {
				wantText(t, doc, "500", "Please try again.")
				if strings.Contains(text(doc), "Request ID") {
					t.Error("request id label shown without an id")
				}
			},
		},
	})
}

// pageProblems checks what every page must get right and returns what it
// finds wrong; TestPageProblemsCatchesMistakes proves it can find something.
func pageProblems(p page, raw string, doc *html.Node) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	meta := find(doc, func(n *html.Node) bool { return n.Data == "meta" && attr(n, "name") == "csrf-token" })
	if meta == nil || attr(meta, "content") != p.CSRFToken {
		add("no <meta name=csrf-token content=%q>", p.CSRFToken)
	}
	if find(doc, func(n *html.Node) bool { return n.Data == "meta" && attr(n, "name") == "viewport" }) == nil {
		add("no viewport meta")
	}
	// A page with a form's errors says so first in its title, and shows
	// an error summary that links each field with a problem.
	wantTitle := p.Title + " · The Shop"
	if p.Form.Error("") != "" {
		wantTitle = "Error: " + wantTitle
		summary := find(doc, func(n *html.Node) bool { return has(n, "data-error-summary") })
		if summary == nil || attr(summary, "role") != "alert" || attr(summary, "tabindex") != "-1" {
			add("no focusable error summary with role=alert")
		} else {
			for field, msg := range p.Form.Errors {
				if field == "" {
					continue
				}
				link := find(summary, func(n *html.Node) bool { return n.Data == "a" && text(n) == msg })
				if link == nil || find(doc, byAttr("id", strings.TrimPrefix(attr(link, "href"), "#"))) == nil {
					add("the error summary does not link the %s field", field)
				}
			}
		}
		if find(doc, func(n *html.Node) bool { return has(n, "autofocus") }) != nil {
			add("an input takes the focus from the error summary (autofocus)")
		}
	}
	if title := find(doc, func(n *html.Node) bool { return n.Data == "title" }); title == nil || text(title) != wantTitle {
		add("title is not %q", wantTitle)
	}

	for _, f := range all(doc, func(n *html.Node) bool { return n.Data == "form" }) {
		if !strings.EqualFold(attr(f, "method"), "post") {
			// A GET form changes nothing and needs no token: only a
			// search may be one.
			if !strings.EqualFold(attr(f, "method"), "get") || attr(f, "role") != "search" {
				add("form %q is not a POST form", attr(f, "action"))
			}
			continue
		}
		tok := find(f, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "csrf_token" })
		if tok == nil || attr(tok, "type") != "hidden" || attr(tok, "value") != p.CSRFToken {
			add("POST form %q lacks the hidden csrf_token", attr(f, "action"))
		}
	}

	for _, s := range all(doc, func(n *html.Node) bool { return n.Data == "script" }) {
		if strings.TrimSpace(text(s)) != "" || attr(s, "src") == "" {
			add("inline <script> found")
		}
	}
	if find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "style" }) != nil {
		add("<style> element found")
	}
	for _, n := range all(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		for _, a := range n.Attr {
			if a.Key == "style" {
				add("style attribute on <%s>", n.Data)
			}
			if strings.HasPrefix(a.Key, "on") {
				add("inline handler %s on <%s>", a.Key, n.Data)
			}
			if (a.Key == "src" || a.Key == "href") && (strings.HasPrefix(a.Val, "//") || strings.HasPrefix(a.Val, "http:") || strings.HasPrefix(a.Val, "https:")) {
				add("external resource %s=%q", a.Key, a.Val)
			}
		}
	}

	ids := map[string]bool{}
	for _, n := range all(doc, func(n *html.Node) bool { return has(n, "id") }) {
		id := attr(n, "id")
		if ids[id] {
			add("duplicate id %q", id)
		}
		ids[id] = true
	}
	for _, n := range all(doc, func(n *html.Node) bool { return has(n, "aria-describedby") }) {
		for _, id := range strings.Fields(attr(n, "aria-describedby")) {
			if !ids[id] {
				add("aria-describedby points at missing id %q", id)
			}
		}
	}
	labels := map[string]bool{}
	for _, l := range all(doc, func(n *html.Node) bool { return n.Data == "label" }) {
		labels[attr(l, "for")] = true
	}
	for _, in := range all(doc, func(n *html.Node) bool { return n.Data == "input" || n.Data == "select" || n.Data == "textarea" }) {
		if attr(in, "type") == "hidden" {
			continue
		}
		if !labels[attr(in, "id")] && attr(in, "aria-label") == "" {
			add("<%s name=%q> has no label", in.Data, attr(in, "name"))
		}
	}
	for _, img := range all(doc, func(n *html.Node) bool { return n.Data == "img" }) {
		for _, k := range []string{"alt", "width", "height"} {
			if !has(img, k) {
				add("<img src=%q> lacks %s", attr(img, "src"), k)
			}
		}
	}

	badges := all(doc, func(n *html.Node) bool { return has(n, "data-cart-count") })
	if len(badges) == 0 {
		add("no [data-cart-count] badge")
	}
	for _, b := range badges {
		if got := text(b); got != strconv.Itoa(p.CartCount) {
			add("cart badge shows %q, want %d", got, p.CartCount)
		}
		// An empty cart shows no "0": the badge is there for the script,
		// hidden.
		if hidden := has(b, "hidden"); hidden != (p.CartCount == 0) {
			add("cart badge hidden = %v with %d items", hidden, p.CartCount)
		}
	}

	for _, tag := range []string{"header", "nav", "main", "footer"} {
		if find(doc, func(n *html.Node) bool { return n.Data == tag }) == nil {
			add("no <%s> landmark", tag)
		}
	}
	if find(doc, func(n *html.Node) bool { return n.Data == "main" && attr(n, "id") == "main" }) == nil ||
		find(doc, byAttr("href", "#main")) == nil {
		add("no skip link to <main id=main>")
	}
	if h1 := all(doc, func(n *html.Node) bool { return n.Data == "h1" }); len(h1) != 1 {
		add("%d <h1> elements, want 1", len(h1))
	}

	current := all(doc, func(n *html.Node) bool {
		return n.Data == "a" && attr(n, "aria-current") == "page" && strings.Contains(attr(n, "class"), "nav-link")
	})
	wantCurrent := map[string]string{"catalog": "/", "cart": "/cart", "login": "/login", "orders": "/orders", "order": "/orders"}[p.Name]
	switch {
	case wantCurrent == "" && len(current) > 0:
		add("nav marks %q current on page %s", attr(current[0], "href"), p.Name)
	case wantCurrent != "" && (len(current) != 1 || attr(current[0], "href") != wantCurrent):
		add("nav does not mark %s as the current page", wantCurrent)
	}

	if shown := find(doc, isForm("/logout")) != nil; shown != (p.User != nil) {
		add("logout form shown = %v, want %v", shown, p.User != nil)
	}
	if served := find(doc, func(n *html.Node) bool { return has(n, "data-served-by") }); (served != nil) != p.ShowServedBy {
		add("served-by badge shown = %v, want %v", served != nil, p.ShowServedBy)
	}

	flashes := all(doc, func(n *html.Node) bool { return slices.Contains(strings.Fields(attr(n, "class")), "flash") })
	if len(flashes) != len(p.Flashes) {
		add("%d flashes shown, want %d", len(flashes), len(p.Flashes))
	}
	for i, f := range flashes {
		if i >= len(p.Flashes) {
			break
		}
		want := "status"
		if p.Flashes[i].Kind == "error" {
			want = "alert"
		}
		if attr(f, "role") != want {
			add("flash %d (%s) has role %q, want %q", i, p.Flashes[i].Kind, attr(f, "role"), want)
		}
	}
	return out
}

// TestPageProblemsCatchesMistakes feeds pageProblems a page with the mistakes
// it exists to catch, so a check that silently passes everything fails here.
func TestPageProblemsCatchesMistakes(t *testing.T) {
	bad := `<!doctype html><html><head><title>x</title><script>alert(1)</script></head><body>
<main><h1>A</h1><h1>B</h1>
<p style="color:red" onclick="x()">hi</p>
<form method="post" action="/cart/items"><input type="number" name="quantity" id="q" aria-describedby="nope"><p id="q"></p></form>
<img src="/a.svg"><img src="https://cdn.example.com/x.png" alt="" width="1" height="1"><span data-cart-count>9</span></main></body></html>`
	doc, err := html.Parse(strings.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(pageProblems(page{Title: "Catalog", Name: "catalog", CSRFToken: token, CartCount: 1, User: &userView{}, ShowServedBy: true, Flashes: []flash{{"info", "x"}}}, bad, doc), "\n")
	for _, want := range []string{
		"csrf-token", "viewport", "title is not", "lacks the hidden csrf_token", "inline <script>", "style attribute",
		"inline handler onclick", "external resource", "duplicate id", "missing id \"nope\"", "has no label", "lacks alt",
		"cart badge shows \"9\"", "no <header>", "skip link", "2 <h1>", "nav does not mark", "logout form",
		"served-by", "flashes shown",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("pageProblems did not report %q; got:\n%s", want, problems)
		}
	}
}

// checkAddToCart asserts the shape of one add-to-cart form.
func checkAddToCart(t *testing.T, f *html.Node, productID, quantity string) {
	t.Helper()
	if attr(f, "data-enhance") != "add-to-cart" {
		t.Errorf("add-to-cart form for %s lacks data-enhance", productID)
	}
	id := find(f, byAttr("name", "product_id"))
	if id == nil || attr(id, "type") != "hidden" || attr(id, "value") != productID {
		t.Errorf("add-to-cart form: product_id is not hidden %q", productID)
	}
	wantInput(t, f, "quantity", map[string]string{"type": "number", "min": "1", "max": "99", "value": quantity})
}

// checkFieldError asserts that the input named field is marked invalid and
// described by an element that holds msg and sits right next to it.
func checkFieldError(t *testing.T, doc *html.Node, field, msg string) {
	t.Helper()
	in := find(doc, byAttr("name", field))
	if in == nil {
		t.Fatalf("no input %q", field)
	}
	if attr(in, "aria-invalid") != "true" {
		t.Errorf("input %q lacks aria-invalid=true", field)
	}
	var errEl *html.Node
	for _, id := range strings.Fields(attr(in, "aria-describedby")) {
		if el := find(doc, byAttr("id", id)); el != nil && strings.Contains(text(el), msg) {
			errEl = el
		}
	}
	if errEl == nil {
		t.Fatalf("input %q is not described by an element saying %q", field, msg)
	}
	if !strings.Contains(text(errEl), "Error:") {
		t.Errorf("error of %q does not say \"Error:\" (colour alone is not enough)", field)
	}
	if errEl.Parent != in.Parent && errEl.Parent != in.Parent.Parent {
		t.Errorf("error of %q is not next to its input", field)
	}
}

func wantInput(t *testing.T, scope *html.Node, name string, want map[string]string) {
	t.Helper()
	if scope == nil {
		t.Fatalf("no form to look for input %q in", name)
	}
	in := find(scope, byAttr("name", name))
	if in == nil {
		t.Fatalf("no input %q", name)
	}
	for k, v := range want {
		if got := attr(in, k); got != v {
			t.Errorf("input %q: %s = %q, want %q", name, k, got, v)
		}
	}
}

func wantText(t *testing.T, doc *html.Node, want ...string) {
	t.Helper()
	got := squash(text(doc))
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("page text lacks %q", w)
		}
	}
}

// --- tiny DOM helpers ---

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// precedes reports whether a comes before b in document order.
func precedes(doc, a, b *html.Node) bool {
	order := all(doc, func(*html.Node) bool { return true })
	return slices.Index(order, a) < slices.Index(order, b)
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func has(n *html.Node, key string) bool {
	if n == nil {
		return false
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func byAttr(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { return has(n, key) && attr(n, key) == val }
}

func isForm(action string) func(*html.Node) bool {
	// The add-to-cart form carries its idempotency key in the query string.
	return func(n *html.Node) bool {
		path, _, _ := strings.Cut(attr(n, "action"), "?")
		return n.Data == "form" && path == action
	}
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
