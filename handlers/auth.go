package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/cart"
)

// authHandler signs users up, in and out.
type authHandler struct {
	*web
	accounts *account.Service
	// home builds the JSON of GET /, the page every auth form leads to.
	home func(ctx context.Context) (any, error)
}

func (h *authHandler) homeJSON(c echo.Context) func() (any, error) {
	return func() (any, error) { return h.home(c.Request().Context()) }
}

// loginForm answers GET /login.
func (h *authHandler) loginForm(c echo.Context) error {
	return h.html(c, http.StatusOK, h.newPage(c, "login", "Log in"))
}

// signupForm answers GET /signup.
func (h *authHandler) signupForm(c echo.Context) error {
	return h.html(c, http.StatusOK, h.newPage(c, "signup", "Create your account"))
}

func credentials(c echo.Context) account.Credentials {
	return account.Credentials{Email: c.FormValue("email"), Password: c.FormValue("password")}
}

// signup answers POST /signup: creates the account and logs in.
func (h *authHandler) signup(c echo.Context) error {
	cred := credentials(c)
	u, err := h.accounts.Signup(c.Request().Context(), cred)
	if err != nil {
		return h.formError(c, err, h.newPage(c, "signup", "Create your account"), map[string]string{"email": cred.Email})
	}
	if err := h.startSession(c, u, false); err != nil {
		return err
	}
	return h.done(c, "/", "Welcome! Your account is ready.", h.homeJSON(c))
}

// login answers POST /login.
func (h *authHandler) login(c echo.Context) error {
	cred := credentials(c)
	u, err := h.accounts.Authenticate(c.Request().Context(), cred)
	if err != nil {
		return h.formError(c, err, h.newPage(c, "login", "Log in"), map[string]string{"email": cred.Email})
	}
	if err := h.startSession(c, u, c.FormValue("remember_me") != ""); err != nil {
		return err
	}
	return h.done(c, "/", "Welcome back, "+u.Email+".", h.homeJSON(c))
}

// startSession merges the guest cart into the account's cart, then makes the
// session the account's under a new token. The merge goes first: if it
// fails nothing has changed and the user can simply try again.
func (h *authHandler) startSession(c echo.Context, u account.User, remember bool) error {
	ctx := c.Request().Context()
	if id := h.sessions.CartID(ctx); id != "" {
		if err := h.carts.Merge(ctx, cart.GuestKey(id), cart.UserKey(u.ID)); err != nil {
			return err
		}
		h.sessions.ClearCartID(ctx)
	}
	return h.sessions.Login(ctx, u.ID, u.Email, remember)
}

// logout answers POST /logout: the session is destroyed (its token stops
// working on every replica) and a fresh one carries the goodbye message.
func (h *authHandler) logout(c echo.Context) error {
	if err := h.sessions.Logout(c.Request().Context()); err != nil {
		return err
	}
	return h.done(c, "/", "You have been logged out.", h.homeJSON(c))
}
