// Package handlers is the shop's HTTP layer: it parses and validates input,
// calls into internal/, and renders HTML or JSON as docs/http.md describes.
package handlers

import (
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/the-shop/shop/internal/app"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/throttle"
)

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
	// anonWrites limits guests' unsafe requests per address (nil: off).
	anonWrites *throttle.Rate
}

// New builds the shop's Echo instance for a: middleware, error handler and
// routes. draining, once true, makes /readyz answer 503 so that load
// balancers and `make restart` stop sending new work while in-flight
// requests finish (nil: never draining). It fails when a template does not
// parse.
func New(a *app.App, draining *atomic.Bool) (*echo.Echo, error) {
	cfg := a.Config
	// Every line logged with a request's context names its request id.
	logger := logWithRequestID(a.Logger)
	assets, err := newAssets()
	if err != nil {
		return nil, err
	}
	r, err := newRenderer(assets)
	if err != nil {
		return nil, err
	}
	w := &web{
		render:       r,
		sessions:     a.Sessions,
		carts:        a.Carts,
		replica:      cfg.ReplicaName,
		showServedBy: cfg.ShowServedBy,
		logger:       logger,
	}
	s := &server{
		cfg:        cfg,
		logger:     logger,
		assets:     assets,
		web:        w,
		catalog:    &catalogHandler{web: w, products: a.Products},
		cart:       &cartHandler{web: w, products: a.Products},
		anonWrites: a.AnonWrites,
		system:     &systemHandler{web: w, checks: a.Checks, draining: draining, idleTimeout: cfg.SessionIdleTimeout, logger: logger},
	}
	s.account = &accountHandler{web: w, accounts: a.Accounts, identities: a.Identities, guard: a.Guard}
	mails, err := newMailer(a.Outbox, cfg.PublicURL, logger)
	if err != nil {
		return nil, err
	}
	s.auth = &authHandler{
		web: w, accounts: a.Accounts, guard: a.Guard, secureCookies: cfg.SessionCookieSecure, home: s.catalog.catalogJSON,
		identities: a.Identities, mails: mails, resetsPerIP: a.ResetsPerIP, resetMails: a.ResetMails,
	}
	s.orders = &orderHandler{web: w, orders: a.Orders}
	s.api = &apiHandler{accounts: a.Accounts, carts: a.Carts, tokens: a.Tokens, guard: a.Guard}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = w.errorHandler(logger)
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)

	if a.Metrics != nil {
		e.Use(observeHTTP(a.Metrics))
	}
	e.Use(
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{
			// Keep nginx's id when it sends one, so one id follows the
			// request through the proxy and the replica.
			Generator: func() string { return newRequestID() },
		}),
		requestIDContext,
	)
	if a.Tracing != nil {
		e.Use(traceRequest)
	}
	e.Use(
		servedBy(cfg.ReplicaName),
		requestLogger(logger),
		middleware.Recover(),
		middleware.SecureWithConfig(middleware.SecureConfig{
			XSSProtection:         "0",
			ContentTypeNosniff:    "nosniff",
			XFrameOptions:         "DENY",
			HSTSMaxAge:            0,
			ContentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
			ReferrerPolicy:        "same-origin",
		}),
		hsts(cfg.HSTSMaxAge, cfg.TrustedProxies),
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
