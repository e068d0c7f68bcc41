package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
)

// cartHandler shows and changes the session's cart.
type cartHandler struct {
	*web
	products *catalog.Cache
}

// show answers GET /cart.
func (h *cartHandler) show(c echo.Context) error {
	v, err := h.cartView(c)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return h.json(c, http.StatusOK, v)
	}
	return h.html(c, http.StatusOK, h.cartPage(c, v))
}

func (h *cartHandler) cartPage(c echo.Context, v cart.View) Page {
	p := h.newPage(c, "cart", "Your cart")
	p.Data = CartData{Cart: v}
	return p
}

func (h *cartHandler) cartJSON(c echo.Context) func() (any, error) {
	return func() (any, error) { return h.cartView(c) }
}

// add answers POST /cart/items (form product_id, quantity).
func (h *cartHandler) add(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := cart.ParseProductID(c.FormValue("product_id"))
	if err != nil {
		return err
	}
	qty, err := cart.ParseQuantity(c.FormValue("quantity"), 1, 1)
	if err != nil {
		return h.productFormError(c, id, err)
	}
	key := cartKeyForWrite(sessionOf(c))
	// A form carries a fresh key in a hidden field and in its action's
	// query string (the one nginx can see), an API client in the
	// Idempotency-Key header: a retry of the same request adds nothing.
	idem := c.FormValue("idempotency_key") // the body's field first, then the query's
	if idem == "" {
		idem = c.Request().Header.Get("Idempotency-Key")
	}
	prod, n, _, err := h.carts.AddOnce(ctx, key, id, qty, idem)
	if err != nil {
		return h.productFormError(c, id, err)
	}
	if notice := cart.StockNotice(prod, n); notice != "" {
		return h.capped(c, notice)
	}
	msg := fmt.Sprintf("Added %s to your cart.", prod.Name)
	if n == cart.MaxQuantity {
		msg = fmt.Sprintf("Your cart now holds %d × %s, the most one order can take.", n, prod.Name)
	}
	return h.done(c, "/cart", msg, h.cartJSON(c))
}

// capped finishes an add or an update that the stock held back: HTML
// clients see the cart with a note naming the product and what is left,
// JSON clients the cart with that note as its "message".
func (h *cartHandler) capped(c echo.Context, notice string) error {
	if wantsJSON(c) {
		v, err := h.cartView(c)
		if err != nil {
			return err
		}
		v.Message = notice
		return h.json(c, http.StatusOK, v)
	}
	sessionOf(c).AddFlash("info", notice)
	return h.redirect(c, "/cart")
}

// productFormError re-renders the product page with the error next to the
// quantity field, or hands the error on when the product is unknown.
func (h *cartHandler) productFormError(c echo.Context, id int64, err error) error {
	if !apperr.IsKind(err, apperr.KindInvalid) || wantsJSON(c) {
		return err
	}
	prod, perr := h.products.Get(c.Request().Context(), id)
	if perr != nil {
		return err
	}
	p := h.newPage(c, "product", prod.Name)
	p.Data = ProductData{Product: prod}
	return h.formError(c, err, p, map[string]string{"quantity": c.FormValue("quantity")})
}

// set answers POST /cart/items/:product_id (form quantity; 0 removes).
func (h *cartHandler) set(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := cart.ParseProductID(c.Param("product_id"))
	if err != nil {
		return err
	}
	qty, err := cart.ParseQuantity(c.FormValue("quantity"), -1, 0)
	if err == nil && qty < 0 {
		err = apperr.Invalid("invalid_quantity", "Enter a quantity.", map[string]string{"quantity": "Enter a number from 0 to 99."})
	}
	if err != nil {
		return h.cartFormError(c, err)
	}
	key := cartKeyForWrite(sessionOf(c))
	prod, n, err := h.carts.Set(ctx, key, id, qty)
	if err != nil {
		return h.cartFormError(c, err)
	}
	if n < qty {
		return h.capped(c, cart.StockNotice(prod, n))
	}
	msg := fmt.Sprintf("Updated %s.", prod.Name)
	if qty == 0 {
		msg = fmt.Sprintf("Removed %s from your cart.", prod.Name)
	}
	return h.done(c, "/cart", msg, h.cartJSON(c))
}

// remove answers POST /cart/items/:product_id/delete.
func (h *cartHandler) remove(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := cart.ParseProductID(c.Param("product_id"))
	if err != nil {
		return err
	}
	if key, ok := cartKey(sessionOf(c)); ok {
		if err := h.carts.Remove(ctx, key, id); err != nil {
			return err
		}
	}
	return h.done(c, "/cart", "Removed the item from your cart.", h.cartJSON(c))
}

// cartFormError re-renders the cart page with the error on top.
func (h *cartHandler) cartFormError(c echo.Context, err error) error {
	if !apperr.IsKind(err, apperr.KindInvalid) || wantsJSON(c) {
		return err
	}
	v, verr := h.cartView(c)
	if verr != nil {
		return verr
	}
	return h.formError(c, err, h.cartPage(c, v), map[string]string{"quantity": c.FormValue("quantity")})
}
