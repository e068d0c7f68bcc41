package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/session"
)

// web is what every browser handler shares: rendering, the session, the
// cart of the session, and the JSON-or-HTML rules of docs/http.md.
type web struct {
	render       *renderer
	sessions     *session.Manager
	carts        *cart.Service
	replica      string
	showServedBy bool
}

// wantsJSON reports whether the client asked for JSON instead of HTML.
func wantsJSON(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
}

// cartKey returns the cart of this session: the account's when signed in,
// else the guest cart, else none.
func (w *web) cartKey(ctx context.Context) (cart.Key, bool) {
	if uid := w.sessions.UserID(ctx); uid != 0 {
		return cart.UserKey(uid), true
	}
	if id := w.sessions.CartID(ctx); id != "" {
		return cart.GuestKey(id), true
	}
	return "", false
}

// cartKeyForWrite is cartKey that starts a guest cart when there is none.
func (w *web) cartKeyForWrite(ctx context.Context) (cart.Key, error) {
	if k, ok := w.cartKey(ctx); ok {
		return k, nil
	}
	id, err := cart.NewGuestID()
	if err != nil {
		return "", err
	}
	w.sessions.SetCartID(ctx, id)
	return cart.GuestKey(id), nil
}

// cartView loads the session's cart (empty when it has none).
func (w *web) cartView(ctx context.Context) (cart.View, error) {
	k, ok := w.cartKey(ctx)
	if !ok {
		return cart.View{Items: []cart.Item{}}, nil
	}
	return w.carts.View(ctx, k)
}

// newPage fills the parts of a Page that the layout needs.
func (w *web) newPage(c echo.Context, name, title string) Page {
	p := Page{
		Name:         name,
		Title:        title,
		CSRFToken:    csrfToken(c),
		Replica:      w.replica,
		StoreKind:    w.sessions.Kind(),
		ShowServedBy: w.showServedBy,
	}
	if sessionLoaded(c) {
		ctx := c.Request().Context()
		if w.sessions.UserID(ctx) != 0 {
			p.User = &UserView{Email: w.sessions.Email(ctx)}
		}
	}
	return p
}

// html renders a page for a handler: it adds the cart badge and the flash
// messages, saves the session, renders into a buffer, and only then writes
// the status and body.
func (w *web) html(c echo.Context, status int, p Page) error {
	ctx := c.Request().Context()
	if cd, ok := p.Data.(CartData); ok {
		p.CartCount = cd.Cart.Count
	} else if k, ok := w.cartKey(ctx); ok {
		n, err := w.carts.Count(ctx, k)
		if err != nil {
			return err
		}
		p.CartCount = n
	}
	for _, f := range w.sessions.PopFlashes(ctx) {
		p.Flashes = append(p.Flashes, Flash(f))
	}
	// Save before rendering (nothing is written yet), so the page knows the
	// expiry this request leaves.
	if err := commitSession(c); err != nil {
		return err
	}
	if idle, _ := w.sessions.Expiry(ctx); p.User != nil && !idle.IsZero() {
		p.SessionExpiresAt = idle.UTC().Format(time.RFC3339)
	}
	body, err := w.render.render(p)
	if err != nil {
		return err
	}
	return c.HTMLBlob(status, body)
}

// json commits the session and writes v.
func (w *web) json(c echo.Context, status int, v any) error {
	if err := commitSession(c); err != nil {
		return err
	}
	return c.JSON(status, v)
}

// done finishes a successful form POST: HTML clients are sent to target with
// 303 See Other and see the flash there; JSON clients get 200 and the JSON
// of the target page, built by body.
func (w *web) done(c echo.Context, target string, flash string, body func() (any, error)) error {
	if wantsJSON(c) {
		v, err := body()
		if err != nil {
			return err
		}
		return w.json(c, http.StatusOK, v)
	}
	if flash != "" {
		w.sessions.AddFlash(c.Request().Context(), "success", flash)
	}
	if err := commitSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// formError re-renders a form page with a validation error: HTML clients get
// the page with the errors next to their fields, JSON clients the error
// object. Errors that are not about the input go to the error handler.
func (w *web) formError(c echo.Context, err error, p Page, values map[string]string) error {
	e := apperr.As(err)
	if e == nil || wantsJSON(c) {
		return err
	}
	switch e.Kind {
	case apperr.KindInvalid, apperr.KindConflict, apperr.KindUnauthorized, apperr.KindTooMany:
	default:
		return err
	}
	p.Form = &Form{Values: values, Errors: map[string]string{"": e.Message}}
	for k, v := range e.Fields {
		p.Form.Errors[k] = v
	}
	return w.html(c, statusOf(e), p)
}
