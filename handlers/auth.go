package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/throttle"
)

// authHandler signs users up, in and out.
type authHandler struct {
	*web
	accounts *account.Service
	guard    *throttle.Guard
	// secureCookies marks the device cookie Secure, like the session's.
	secureCookies bool
	// home builds the JSON of GET /, the page every auth form leads to.
	home func(ctx context.Context) (any, error)
	// The routes of mailed links (recovery.go).
	identities *account.Identities
	mails      *mailer
	// resetsPerIP limits reset requests per client address (429, which
	// tells nothing about the account); resetMails limits reset and
	// verification mails per account, silently for resets (nil: no limit).
	resetsPerIP, resetMails *throttle.Rate
}

func (h *authHandler) homeJSON(c echo.Context) func() (any, error) {
	return func() (any, error) { return h.home(c.Request().Context()) }
}

// loginForm answers GET /login. ?next= names the page to return to after
// login (a local path only); the form carries it on.
func (h *authHandler) loginForm(c echo.Context) error {
	p := h.newPage(c, "login", "Log in")
	if next := localPath(c.QueryParam("next")); next != "/" {
		p.Form = &Form{Values: map[string]string{"next": next}}
	}
	return h.html(c, http.StatusOK, p)
}

// signupForm answers GET /signup. ?next= works as on the login form, so
// a shopper sent to log in at checkout who creates an account instead
// comes back to the cart.
func (h *authHandler) signupForm(c echo.Context) error {
	p := h.newPage(c, "signup", "Create your account")
	if next := localPath(c.QueryParam("next")); next != "/" {
		p.Form = &Form{Values: map[string]string{"next": next}}
	}
	return h.html(c, http.StatusOK, p)
}

func credentials(c echo.Context) account.Credentials {
	return account.Credentials{Email: c.FormValue("email"), Password: c.FormValue("password")}
}

// signup answers POST /signup: creates the account and logs in (form
// next: where to go afterwards, as for login).
func (h *authHandler) signup(c echo.Context) error {
	cred := credentials(c)
	next := localPath(c.FormValue("next"))
	ctx := c.Request().Context()
	err := retryAfter(c, h.guard.Hashing(ctx, c.RealIP(), 1))
	var u account.User
	if err == nil {
		u, err = h.accounts.Signup(ctx, cred)
	}
	if err != nil {
		return h.formError(c, err, h.newPage(c, "signup", "Create your account"), map[string]string{"email": cred.Email, "next": next})
	}
	if err := h.startSession(c, u, false); err != nil {
		return err
	}
	if err := rememberDevice(c, h.guard, u.Email, h.secureCookies); err != nil {
		return err
	}
	// The account works without a confirmed email; a mail that could not
	// be queued is sent again from the account page.
	if err := h.sendVerify(c, u); err != nil {
		h.logger.ErrorContext(ctx, "queue the verification mail", "err", err)
	}
	return h.done(c, next, "Welcome! Your account is ready. We sent you a link to confirm your email address.", h.homeJSON(c))
}

// login answers POST /login (form next: where to go afterwards, a local
// path; anything else goes to the catalog).
func (h *authHandler) login(c echo.Context) error {
	cred := credentials(c)
	next := localPath(c.FormValue("next"))
	u, err := authenticate(c, h.guard, h.accounts, cred, deviceOf(c))
	if err != nil {
		return h.formError(c, err, h.newPage(c, "login", "Log in"), map[string]string{"email": cred.Email, "next": next})
	}
	if err := h.startSession(c, u, c.FormValue("remember_me") != ""); err != nil {
		return err
	}
	h.newDevice(c, u, deviceOf(c))
	if err := rememberDevice(c, h.guard, u.Email, h.secureCookies); err != nil {
		return err
	}
	return h.done(c, next, "Welcome back, "+u.Email+".", h.homeJSON(c))
}

// localPath returns p if it is a path on this site, else "/": a login link
// must not send the user to another site (an open redirect). "//host" and
// "/\host" are other sites to a browser, so they are refused too.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		return "/"
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// authenticate checks a login (the form's or the API's), paused for a
// while after repeated failures for the account or from the client's
// address, unless device is a device cookie of the account (the API has
// none); the counters live in the store, shared by all replicas.
func authenticate(c echo.Context, g *throttle.Guard, accounts *account.Service, cred account.Credentials, device string) (account.User, error) {
	ctx := c.Request().Context()
	var u account.User
	err := g.Login(ctx, c.RealIP(), cred.Email, device, func() error {
		var err error
		u, err = accounts.Authenticate(ctx, cred)
		return err
	})
	return u, retryAfter(c, err)
}

// startSession makes the session the account's under a new token and
// moves the guest cart into the account's cart, in an order that loses no
// add of a concurrent request of the same browser (another tab, a double
// click): first the old token is retired, so that any request of it that
// writes from then on learns where the session went and moves its adds to
// the account's cart itself (handlers.sessionEnded); then the guest cart
// is merged, which takes every add that came before; then the session
// starts anew. The guest cart is the one the session records, or the one
// its token derives, which a concurrent first add may be filling. If the
// merge fails, the login fails; the browser's token still derives the same
// guest cart, so a second try merges it.
func (h *authHandler) startSession(c echo.Context, u account.User, remember bool) error {
	ctx := c.Request().Context()
	s := sessionOf(c)
	guest := s.GuestCart()
	if err := s.Retire(ctx, u.PublicID); err != nil {
		return err
	}
	if err := h.carts.Merge(ctx, cart.GuestKey(guest), cart.AccountKey(u.PublicID)); err != nil {
		return err
	}
	return s.Login(ctx, u.Identity(), u.Email, remember)
}

// logout answers POST /logout: the session is destroyed (its token stops
// working on every replica) and a fresh one carries the goodbye message.
func (h *authHandler) logout(c echo.Context) error {
	if err := sessionOf(c).Logout(c.Request().Context()); err != nil {
		return err
	}
	return h.done(c, "/", "You have been logged out.", h.homeJSON(c))
}
