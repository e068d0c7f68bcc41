package handlers

import (
	"context"
	"errors"
	"log/slog"
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
	logger       *slog.Logger
}

// wantsJSON reports whether the client asked for JSON instead of HTML.
func wantsJSON(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
}

// cartKey returns the cart of this session: the account's when signed in,
// else the guest cart, else none.
func cartKey(s *session.Session) (cart.Key, bool) {
	if a := s.Account(); a.ID != 0 {
		return cart.AccountKey(a.PublicID), true
	}
	if id := s.CartID(); id != "" {
		return cart.GuestKey(id), true
	}
	return "", false
}

// cartKeyForWrite is cartKey that starts a guest cart when there is none
// (its id derived from the session's token, so that a new visitor's
// concurrent first adds land in one cart).
func cartKeyForWrite(s *session.Session) cart.Key {
	if s.UserID() == 0 {
		s.WroteGuestCart()
	}
	if k, ok := cartKey(s); ok {
		return k
	}
	return cart.GuestKey(s.GuestCartID())
}

// cartView loads the session's cart (empty when it has none).
func (w *web) cartView(c echo.Context) (cart.View, error) {
	k, ok := cartKey(sessionOf(c))
	if !ok {
		return cart.View{Items: []cart.Item{}}, nil
	}
	return w.carts.View(c.Request().Context(), k)
}

// newPage fills the parts of a Page that the layout needs.
func (w *web) newPage(c echo.Context, name, title string) Page {
	p := Page{
		Name:         name,
		Title:        title,
		CSRFToken:    csrfToken(c),
		Replica:      w.replica,
		StoreKind:    string(w.sessions.Kind()),
		ShowServedBy: w.showServedBy,
		Zone:         shopperZone(c),
	}
	if s := sessionOf(c); s != nil && s.UserID() != 0 {
		p.User = &UserView{Email: s.Email()}
	}
	return p
}

// save saves the request's session, once, before anything is written: the
// one commit path of the browser routes. Every writer below calls it, and
// the error handler too.
func (w *web) save(c echo.Context) error {
	s := sessionOf(c)
	if s == nil {
		return nil
	}
	// The request's context may already be cancelled when an error page is
	// written (the timeout middleware cancels it as the handler returns);
	// the save must still happen, within a bound of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), commitTimeout)
	defer cancel()
	err := s.Save(ctx, c.Response())
	var ended *session.Ended
	switch {
	case errors.As(err, &ended):
		return w.sessionEnded(c, ended)
	case err != nil:
		return apperr.Unavailable("save session", err)
	}
	// The CSRF token follows the session token, which a login renews: a
	// script that talks JSON learns the new one here, as a page does from
	// its meta tag.
	c.Response().Header().Set(headerCSRFToken, s.CSRFToken())
	return nil
}

// headerCSRFToken carries the CSRF token on every response of the session
// routes, and is where JSON clients send it back.
const headerCSRFToken = "X-CSRF-Token"

// errSessionEnded answers a request whose session another request ended
// while it ran (a logout in another tab, "sign out other sessions" on
// another device): HTML clients go to the login form, JSON clients get 401.
var errSessionEnded = apperr.Unauthorized("session_ended", "You have been logged out. Please log in again.")

// sessionEnded finishes a request whose session was no longer stored when
// it came to save it: nothing of the old session is written back.
func (w *web) sessionEnded(c echo.Context, e *session.Ended) error {
	ctx := c.Request().Context()
	if e.Renewed {
		// A login in another tab renewed the session while this request
		// ran; the browser has the new cookie. What this request put in
		// the guest cart after the login merged it goes where the rest
		// went.
		if e.GuestCart != "" && e.Account != "" {
			if err := w.carts.Merge(context.WithoutCancel(ctx), cart.GuestKey(e.GuestCart), cart.AccountKey(e.Account)); err != nil {
				return err
			}
		}
		return nil
	}
	s := sessionOf(c)
	if err := s.Restart(ctx); err != nil {
		return apperr.Unavailable("restart session", err)
	}
	if e.SignedIn {
		s.AddFlash("info", errSessionEnded.Message)
		return errSessionEnded
	}
	// A guest session that expired while the request ran: it goes on in a
	// fresh one.
	return w.save(c)
}

// html renders a page for a handler: it adds the cart badge and the flash
// messages, saves the session, renders into a buffer, and only then writes
// the status and body.
func (w *web) html(c echo.Context, status int, p Page) error {
	s := sessionOf(c)
	if cd, ok := p.Data.(CartData); ok {
		p.CartCount = cd.Cart.Count
	} else if k, ok := cartKey(s); ok {
		n, err := w.carts.Count(c.Request().Context(), k)
		if err != nil {
			return err
		}
		p.CartCount = n
	}
	p.Flashes = s.PopFlashes()
	// Save before rendering (nothing is written yet), so the page knows the
	// expiry this request leaves.
	if err := w.save(c); err != nil {
		return err
	}
	if idle, _ := s.Expiry(); p.User != nil && !idle.IsZero() {
		p.SessionExpiresAt = idle.UTC().Format(time.RFC3339)
	}
	body, err := w.render.render(p)
	if err != nil {
		return err
	}
	return c.HTMLBlob(status, body)
}

// json saves the session and writes v.
func (w *web) json(c echo.Context, status int, v any) error {
	if err := w.save(c); err != nil {
		return err
	}
	return c.JSON(status, v)
}

// redirect saves the session and sends the browser to target with 303 See
// Other.
func (w *web) redirect(c echo.Context, target string) error {
	if err := w.save(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, target)
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
		sessionOf(c).AddFlash("success", flash)
	}
	return w.redirect(c, target)
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
