package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/order"
	"github.com/the-shop/shop/views"
)

// orderHandler checks out the account's cart and shows its orders.
type orderHandler struct {
	*web
	orders *order.Service
}

// OrdersData is the Data of the "orders" page.
type OrdersData struct {
	Orders []order.Summary
}

// OrderData is the Data of the "order" page.
type OrderData struct {
	Order order.Order
}

// ordersJSON is GET /orders as JSON.
type ordersJSON struct {
	Orders []order.Summary `json:"orders"`
}

// checkoutJSON is the answer to POST /checkout for JSON clients: the order,
// and what the customer should know about it.
type checkoutJSON struct {
	order.Order
	// Repeat is set when this submit found the order an earlier submit of
	// the same cart placed; nothing new was ordered.
	Repeat bool `json:"repeat"`
	// PricesChanged is set when the total differs from the
	// expected_total_cents the client sent (the total its cart page
	// showed).
	PricesChanged      bool   `json:"prices_changed"`
	ExpectedTotalCents *int64 `json:"expected_total_cents,omitempty"`
	Message            string `json:"message"`
}

// errCheckoutLogin answers a guest's checkout for JSON clients; HTML
// clients are sent to the login form instead.
var errCheckoutLogin = apperr.Unauthorized("login_required", "Log in to check out. Your cart will be waiting.")

// checkout answers POST /checkout (form expected_total_cents and
// cart_generation, both optional, both from the cart page).
func (h *orderHandler) checkout(c echo.Context) error {
	ctx := c.Request().Context()
	sess := sessionOf(c)
	uid := sess.UserID()
	if uid == 0 {
		if wantsJSON(c) {
			return errCheckoutLogin
		}
		// The guest cart stays in the session and merges into the
		// account's cart at login, so it is all there on the way back.
		sess.AddFlash("info", "Log in to check out. Your cart will be waiting.")
		return h.redirect(c, "/login?next=/cart")
	}
	expected, err := optionalInt(c.FormValue("expected_total_cents"), "expected_total_cents")
	if err != nil {
		return h.checkoutError(c, err)
	}
	gen, err := optionalInt(c.FormValue("cart_generation"), "cart_generation")
	if err != nil {
		return h.checkoutError(c, err)
	}
	var seenGen int64
	if gen != nil {
		seenGen = *gen
	}
	d := order.Details{Shipping: c.FormValue("shipping"), Payment: c.FormValue("payment"), Address: addressForm(c)}
	if d.Address.IsZero() {
		// The address the shipping step saved; a JSON client may order
		// without one, a page never does.
		saved, ok, err := h.orders.SavedAddress(ctx, uid)
		if err != nil {
			return err
		}
		if !ok && !wantsJSON(c) {
			sess.AddFlash("info", errNoAddress.Message)
			return h.redirect(c, "/checkout")
		}
		d.Address = saved
	} else if _, err := h.orders.SaveAddress(ctx, uid, d.Address); err != nil {
		return h.checkoutError(c, err)
	}
	res, err := h.orders.CheckoutWith(ctx, uid, cart.AccountKey(sess.Account().PublicID), seenGen, d)
	if err != nil {
		return h.checkoutError(c, err)
	}

	o := res.Order
	out := checkoutJSON{Order: o, Repeat: res.Repeat, ExpectedTotalCents: expected}
	msg := fmt.Sprintf("Thank you! Your order #%d is placed.", o.ID)
	if res.Repeat {
		msg = fmt.Sprintf("You had already placed this order (#%d); nothing was ordered twice.", o.ID)
	}
	var notice string
	if !res.Repeat && expected != nil && *expected != o.TotalCents {
		out.PricesChanged = true
		notice = fmt.Sprintf("Prices changed since your cart was shown: the order total is %s, not %s. "+
			"The order has the prices of the moment you checked out.", views.Money(o.TotalCents), views.Money(*expected))
	}
	if wantsJSON(c) {
		out.Message = strings.TrimSpace(msg + " " + notice)
		return h.json(c, http.StatusOK, out)
	}
	sess.AddFlash("success", msg)
	if notice != "" {
		sess.AddFlash("info", notice)
	}
	return h.redirect(c, "/orders/"+strconv.FormatInt(o.ID, 10))
}

// optionalInt parses a non-negative whole number from a hidden form field;
// empty means absent.
func optionalInt(s, field string) (*int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return nil, apperr.Invalid("invalid_"+field, "The checkout form was damaged. Reload your cart and try again.", nil)
	}
	return &n, nil
}

// checkoutError sends a shopper whose checkout could not go through (an
// empty cart, not enough stock, a damaged form) back to the cart page with
// the message on top and the problem lines marked there: a 303, so no
// /checkout URL stays in the browser that a reload would post again. A
// bad address goes back to the shipping step. JSON clients and other
// errors go to the error handler.
func (h *orderHandler) checkoutError(c echo.Context, err error) error {
	e := apperr.As(err)
	if wantsJSON(c) || e == nil || !(e.Kind == apperr.KindInvalid || e.Kind == apperr.KindConflict) {
		return err
	}
	sessionOf(c).AddFlash("error", e.Message)
	if e.Code == "invalid_address" || e.Code == "invalid_shipping" {
		return h.redirect(c, "/checkout")
	}
	return h.redirect(c, "/cart")
}

// list answers GET /orders.
func (h *orderHandler) list(c echo.Context) error {
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	list, err := h.orders.List(c.Request().Context(), uid)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return h.json(c, http.StatusOK, ordersJSON{Orders: list})
	}
	p := h.newPage(c, "orders", "Your orders")
	p.Data = OrdersData{Orders: list}
	return h.html(c, http.StatusOK, p)
}

// show answers GET /orders/:id. Another account's order is a 404, as if it
// did not exist.
func (h *orderHandler) show(c echo.Context) error {
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	id, err := parsePathID(c, "id")
	if err != nil {
		return order.ErrNotFound
	}
	o, err := h.orders.Get(c.Request().Context(), uid, id)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return h.json(c, http.StatusOK, o)
	}
	p := h.newPage(c, "order", fmt.Sprintf("Order #%d", o.ID))
	p.Data = OrderData{Order: o}
	return h.html(c, http.StatusOK, p)
}
