package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/apperr"
)

// Route names, for reversing URLs (e.Reverse) and for the request log.
const (
	routeCatalog    = "catalog"
	routeProduct    = "product"
	routeCart       = "cart"
	routeCartAdd    = "cart.add"
	routeCartSet    = "cart.set"
	routeCartRemove = "cart.remove"
	routeSignupForm = "signup.form"
	routeSignup     = "signup"
	routeLoginForm  = "login.form"
	routeLogin      = "login"
	routeLogout     = "logout"
	routeSession    = "session"

	routeAccountSessions = "account.sessions"
	routeRevokeSession   = "account.sessions.revoke"
	routeRevokeOthers    = "account.sessions.revoke-others"
	routePasswordForm    = "account.password.form"
	routePassword        = "account.password"
	routeDeleteForm      = "account.delete.form"
	routeDelete          = "account.delete"
	routeVerify          = "account.verify"
	routeVerifyResend    = "account.verify.resend"
	routeForgotForm      = "password.forgot.form"
	routeForgot          = "password.forgot"
	routeResetForm       = "password.reset.form"
	routeReset           = "password.reset"
	routeHealthz         = "healthz"
	routeReadyz          = "readyz"
	routeStatic          = "static"

	routeCheckout             = "checkout"
	routeCheckoutShippingForm = "checkout.shipping.form"
	routeCheckoutShipping     = "checkout.shipping"
	routeCheckoutReview       = "checkout.review"
	routeOrders               = "orders"
	routeOrder                = "order"
	routeAPITokens            = "api.tokens"
	routeAPICart              = "api.cart"
	routeAPICartAdd           = "api.cart.add"
)

// routes registers every route of docs/http.md in one place. Probes and
// static files skip the session and CSRF middleware: they must keep
// answering when the stores are down, and cost no store round trip.
func (s *server) routes(e *echo.Echo) {
	e.GET("/healthz", s.system.healthz).Name = routeHealthz
	e.GET("/readyz", s.system.readyz).Name = routeReadyz
	e.GET("/static/*", s.assets.serve).Name = routeStatic

	b := e.Group("", sessions(s.web.sessions, s.logger), csrf(), anonWrites(s.anonWrites))
	b.GET("/", s.catalog.list).Name = routeCatalog
	b.GET("/products/:id", s.catalog.show).Name = routeProduct
	b.GET("/cart", s.cart.show).Name = routeCart
	b.POST("/cart/items", s.cart.add).Name = routeCartAdd
	b.POST("/cart/items/:product_id", s.cart.set).Name = routeCartSet
	b.POST("/cart/items/:product_id/delete", s.cart.remove).Name = routeCartRemove
	b.GET("/signup", s.auth.signupForm).Name = routeSignupForm
	b.POST("/signup", s.auth.signup).Name = routeSignup
	b.GET("/login", s.auth.loginForm).Name = routeLoginForm
	b.POST("/login", s.auth.login).Name = routeLogin
	b.POST("/logout", s.auth.logout).Name = routeLogout
	b.GET("/session", s.system.session).Name = routeSession
	// Account and order pages are one person's: noStore keeps them out of
	// caches (Cache-Control: no-store).
	b.GET("/account/sessions", s.account.sessionsPage, noStore).Name = routeAccountSessions
	b.POST("/account/sessions/revoke-others", s.account.revokeOthers, noStore).Name = routeRevokeOthers
	b.POST("/account/sessions/:id/revoke", s.account.revoke, noStore).Name = routeRevokeSession
	b.GET("/account/password", s.account.passwordForm, noStore).Name = routePasswordForm
	b.POST("/account/password", s.account.changePassword, noStore).Name = routePassword
	b.GET("/account/delete", s.account.deleteForm, noStore).Name = routeDeleteForm
	b.POST("/account/delete", s.account.deleteAccount, noStore).Name = routeDelete
	b.GET("/account/verify", s.auth.verify, noStore).Name = routeVerify
	b.POST("/account/verify/resend", s.auth.resendVerify, noStore).Name = routeVerifyResend
	// The reset pages carry a live token: no-store keeps it out of caches.
	b.GET("/password/forgot", s.auth.forgotForm).Name = routeForgotForm
	b.POST("/password/forgot", s.auth.forgot).Name = routeForgot
	b.GET("/password/reset", s.auth.resetForm, noStore).Name = routeResetForm
	b.POST("/password/reset", s.auth.reset, noStore).Name = routeReset
	b.GET("/checkout", s.orders.shippingForm, noStore).Name = routeCheckoutShippingForm
	b.POST("/checkout/shipping", s.orders.saveShipping, noStore).Name = routeCheckoutShipping
	b.GET("/checkout/review", s.orders.review, noStore).Name = routeCheckoutReview
	b.POST("/checkout", s.orders.checkout, noStore).Name = routeCheckout
	b.GET("/orders", s.orders.list, noStore).Name = routeOrders
	b.GET("/orders/:id", s.orders.show, noStore).Name = routeOrder

	// The JSON API is stateless: outside the session and CSRF group, it
	// loads no session, sets no cookie and accepts no cookie; a bearer
	// token authorizes each request. The middleware sits on each route,
	// not on a group, so an unknown /api path stays a 404.
	e.POST("/api/v1/tokens", s.api.issueToken).Name = routeAPITokens
	e.GET("/api/v1/cart", s.api.cart, s.api.requireToken()).Name = routeAPICart
	e.POST("/api/v1/cart/items", s.api.addItem, s.api.requireToken()).Name = routeAPICartAdd
	// Without this, the browser group's catch-all would answer unknown API
	// paths, through the session and CSRF middleware (and set a cookie).
	e.RouteNotFound("/api/*", func(echo.Context) error { return echo.ErrNotFound })
}

// isAPI reports whether the request is for the stateless JSON API.
func isAPI(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/api/") }

// parsePathID reads a positive integer id from the path; anything else is a
// 404, as no such resource can exist.
func parsePathID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.NotFound("not_found", http.StatusText(http.StatusNotFound)+": no such "+name+".")
	}
	return id, nil
}
