// Package handlers is the shop's HTTP layer: it parses and validates input,
// calls into internal/, and renders HTML or JSON as docs/http.md describes.
package handlers

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apitoken"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/order"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/throttle"
)

// Deps are everything the HTTP layer needs, built by the caller (cmd/shop,
// or a test) from the configuration.
type Deps struct {
	Config   config.Config
	Logger   *slog.Logger
	Sessions *session.Manager
	Products *catalog.Store
	Carts    *cart.Service
	Accounts *account.Service
	Orders   *order.Service
	// Tokens issues and checks the JSON API's access tokens.
	Tokens *apitoken.Issuer
	// Guard throttles logins.
	Guard *throttle.Guard
	// Checks are the dependencies /readyz pings.
	Checks []Check
	// Draining, once true, makes /readyz answer 503 so that load balancers
	// and `make restart` stop sending new work while in-flight requests
	// finish. Nil means never draining.
	Draining *atomic.Bool
	// Metrics, when set, counts and times every request.
	Metrics *metrics.Metrics
}

type server struct {
	cfg     config.Config
	logger  *slog.Logger
	assets  *assets
	web     *web
	catalog *catalogHandler
	cart    *cartHandler
	auth    *authHandler
	account *accountHandler
	system  *systemHandler
	orders  *orderHandler
	api     *apiHandler
}

// New builds the shop's Echo instance: middleware, error handler and routes.
// It fails when a template does not parse.
func New(d Deps) (*echo.Echo, error) {
	// Every line logged with a request's context names its request id.
	d.Logger = logWithRequestID(d.Logger)
	a, err := newAssets()
	if err != nil {
		return nil, err
	}
	r, err := newRenderer(a)
	if err != nil {
		return nil, err
	}
	w := &web{
		render:       r,
		sessions:     d.Sessions,
		carts:        d.Carts,
		replica:      d.Config.ReplicaName,
		showServedBy: d.Config.ShowServedBy,
	}
	s := &server{
		cfg:     d.Config,
		logger:  d.Logger,
		assets:  a,
		web:     w,
		catalog: &catalogHandler{web: w, products: d.Products},
		cart:    &cartHandler{web: w, products: d.Products},
		system:  &systemHandler{web: w, checks: d.Checks, draining: d.Draining, idleTimeout: d.Config.SessionIdleTimeout, logger: d.Logger},
	}
	s.account = &accountHandler{web: w, accounts: d.Accounts}
	s.auth = &authHandler{web: w, accounts: d.Accounts, guard: d.Guard, home: s.catalog.catalogJSON}
	if d.Orders == nil || d.Tokens == nil {
		return nil, errors.New("handlers: Deps needs Orders and Tokens")
	}
	s.orders = &orderHandler{web: w, orders: d.Orders}
	s.api = &apiHandler{accounts: d.Accounts, carts: d.Carts, tokens: d.Tokens, guard: d.Guard}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = w.errorHandler(d.Logger)
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)

	if d.Metrics != nil {
		e.Use(observeHTTP(d.Metrics))
	}
	e.Use(
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{
			// Keep nginx's id when it sends one, so one id follows the
			// request through the proxy and the replica.
			Generator: func() string { return newRequestID() },
		}),
		requestIDContext,
		servedBy(d.Config.ReplicaName),
		requestLogger(d.Logger),
		middleware.Recover(),
		middleware.SecureWithConfig(middleware.SecureConfig{
			XSSProtection:         "0",
			ContentTypeNosniff:    "nosniff",
			XFrameOptions:         "DENY",
			HSTSMaxAge:            0,
			ContentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
			ReferrerPolicy:        "same-origin",
		}),
		middleware.BodyLimit("64K"),
		middleware.ContextTimeout(15*time.Second),
	)
	s.routes(e)
	return e, nil
}

// ipExtractor trusts X-Forwarded-For only from the configured proxies, so a
// client cannot choose the IP the shop logs and rate-limits.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
