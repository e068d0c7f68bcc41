package handlers

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/order"
)

// The checkout's steps: the cart, then GET /checkout (the shipping address,
// saved to the account, and the shipping option), then GET
// /checkout/review (every line, the totals, the address, the payment
// method), then POST /checkout places the order. Each step is a GET that
// a reload shows again; the only POSTs are the address form, which
// redirects to the review, and "Place order". A checkout that cannot go
// through sends the shopper back to the cart, where the problem lines are
// marked.

// CheckoutData is the Data of the "checkout" (shipping) and "review"
// pages.
type CheckoutData struct {
	Cart cart.View
	// Address is the address to ship to: the saved one, or what the
	// shopper typed (re-rendered with errors).
	Address order.Address
	// Options are the shipping options with their price for this cart;
	// Shipping is the chosen one's code.
	Options  []ShippingChoice
	Shipping string
	// Quote prices the chosen option and the tax (the review).
	Quote    order.Quote
	TaxRate  string
	Payments []struct{ Code, Name string }
	Payment  string
}

// ShippingChoice is one shipping option as the form offers it.
type ShippingChoice struct {
	order.ShippingOption
	// PriceCents is what it costs this cart (0: free).
	PriceCents int64 `json:"price_cents"`
}

// reviewJSON is GET /checkout/review for JSON clients.
type reviewJSON struct {
	cart.View
	order.Quote
	ShippingOption string           `json:"shipping_option"`
	ShipTo         order.Address    `json:"ship_to"`
	Options        []ShippingChoice `json:"shipping_options"`
}

// shippingChoices prices every option for a cart.
func (h *orderHandler) shippingChoices(v cart.View) []ShippingChoice {
	rules := h.orders.Rules()
	out := make([]ShippingChoice, len(rules.Shipping))
	for i, o := range rules.Shipping {
		out[i] = ShippingChoice{ShippingOption: o, PriceCents: o.PriceFor(v.TotalCents)}
	}
	return out
}

// errNothingToCheckOut sends a shopper whose cart is empty back to it.
var errNothingToCheckOut = order.ErrCartEmpty

// checkoutCart loads the account's cart for a checkout step. An empty cart
// or one with lines above the stock cannot be checked out: the error says
// why, and checkoutError shows it on the cart.
func (h *orderHandler) checkoutCart(c echo.Context) (cart.View, error) {
	v, err := h.cartView(c)
	if err != nil {
		return v, err
	}
	if len(v.Items) == 0 {
		return v, errNothingToCheckOut
	}
	if short := v.Short(); len(short) > 0 {
		problems := make([]string, len(short))
		for i, it := range short {
			if it.Stock == 0 {
				problems[i] = it.Name + " is sold out"
			} else {
				problems[i] = fmt.Sprintf("%s has only %d left", it.Name, it.Stock)
			}
		}
		return v, order.OutOfStock(problems)
	}
	return v, nil
}

// shippingForm answers GET /checkout: step 1, where to ship and how.
func (h *orderHandler) shippingForm(c echo.Context) error {
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	v, err := h.checkoutCart(c)
	if err != nil {
		return h.checkoutError(c, err)
	}
	addr, _, err := h.orders.SavedAddress(c.Request().Context(), uid)
	if err != nil {
		return err
	}
	shipping := c.QueryParam("shipping")
	if _, err := h.orders.Rules().Option(shipping); err != nil || shipping == "" {
		shipping = h.orders.Rules().Shipping[0].Code
	}
	if wantsJSON(c) {
		return h.json(c, http.StatusOK, map[string]any{"ship_to": addr, "shipping_options": h.shippingChoices(v)})
	}
	return h.html(c, http.StatusOK, h.shippingPage(c, v, addr, shipping))
}

func (h *orderHandler) shippingPage(c echo.Context, v cart.View, addr order.Address, shipping string) Page {
	p := h.newPage(c, "checkout", "Shipping")
	p.Data = CheckoutData{Cart: v, Address: addr, Options: h.shippingChoices(v), Shipping: shipping}
	return p
}

// addressForm reads the address fields of a form.
func addressForm(c echo.Context) order.Address {
	return order.Address{
		Name: c.FormValue("name"), Line1: c.FormValue("line1"), Line2: c.FormValue("line2"),
		PostalCode: c.FormValue("postal_code"), City: c.FormValue("city"), Country: c.FormValue("country"),
	}
}

// saveShipping answers POST /checkout/shipping (form name, line1, line2,
// postal_code, city, country, shipping): keeps the address on the account
// and goes on to the review.
func (h *orderHandler) saveShipping(c echo.Context) error {
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	shipping := c.FormValue("shipping")
	addr := addressForm(c)
	_, err = h.orders.Rules().Option(shipping)
	if err == nil {
		addr, err = h.orders.SaveAddress(ctx, uid, addr)
	}
	if err != nil {
		if wantsJSON(c) || !apperr.IsKind(err, apperr.KindInvalid) {
			return err
		}
		v, verr := h.cartView(c)
		if verr != nil {
			return verr
		}
		p := h.shippingPage(c, v, addr, shipping)
		values := map[string]string{"shipping": shipping}
		return h.formError(c, err, p, values)
	}
	target := "/checkout/review?shipping=" + url.QueryEscape(shipping)
	return h.done(c, target, "", func() (any, error) { return h.reviewData(c, uid, shipping) })
}

// reviewData is the review of the account's cart with the saved address
// and a shipping option.
func (h *orderHandler) reviewData(c echo.Context, uid int64, shipping string) (reviewJSON, error) {
	v, err := h.checkoutCart(c)
	if err != nil {
		return reviewJSON{}, err
	}
	addr, ok, err := h.orders.SavedAddress(c.Request().Context(), uid)
	if err != nil {
		return reviewJSON{}, err
	}
	if !ok {
		return reviewJSON{}, errNoAddress
	}
	q, err := h.orders.Rules().Quote(v.TotalCents, shipping)
	if err != nil {
		return reviewJSON{}, err
	}
	return reviewJSON{View: v, Quote: q, ShippingOption: q.Shipping.Code, ShipTo: addr, Options: h.shippingChoices(v)}, nil
}

// errNoAddress answers a review or an HTML checkout before an address was
// given; HTML clients are sent to the shipping step.
var errNoAddress = apperr.Invalid("address_required", "Add a shipping address to check out.",
	map[string]string{"name": "Enter the name to ship to."})

// review answers GET /checkout/review?shipping=CODE: step 2, everything
// the order will be, and "Place order".
func (h *orderHandler) review(c echo.Context) error {
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	shipping := c.QueryParam("shipping")
	r, err := h.reviewData(c, uid, shipping)
	if err != nil {
		if wantsJSON(c) {
			return err
		}
		switch {
		case err == errNoAddress:
			sessionOf(c).AddFlash("info", errNoAddress.Message)
			return h.redirect(c, "/checkout")
		case err == order.ErrUnknownShipping:
			return h.redirect(c, "/checkout")
		}
		return h.checkoutError(c, err)
	}
	if wantsJSON(c) {
		return h.json(c, http.StatusOK, r)
	}
	p := h.newPage(c, "review", "Review your order")
	p.Data = CheckoutData{
		Cart: r.View, Address: r.ShipTo, Options: r.Options, Shipping: r.ShippingOption, Quote: r.Quote,
		TaxRate: h.orders.Rules().TaxPercent(), Payments: order.PaymentMethods, Payment: order.PayOnDelivery,
	}
	return h.html(c, http.StatusOK, p)
}
