package handlers

import (
	"net"

	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// isHTTPS reports whether the client reached the shop over HTTPS: TLS on
// this listener, or X-Forwarded-Proto: https from a proxy the shop trusts
// (TRUSTED_PROXIES). Echo's Scheme believes the header from anyone.
func isHTTPS(c echo.Context, trusted []*net.IPNet) bool {
	r := c.Request()
	if r.TLS != nil {
		return true
	}
	if r.Header.Get(echo.HeaderXForwardedProto) != "https" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	for _, n := range trusted {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// hsts sends Strict-Transport-Security with maxAge on HTTPS requests
// (HSTS_MAX_AGE; 0 sends nothing). Browsers ignore the header over plain
// HTTP, and a shop reached over HTTP (development, a health check) must
// not claim HTTPS for its host.
func hsts(maxAge time.Duration, trusted []*net.IPNet) echo.MiddlewareFunc {
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if maxAge <= 0 {
			return next
		}
		return func(c echo.Context) error {
			if isHTTPS(c, trusted) {
				c.Response().Header().Set(echo.HeaderStrictTransportSecurity, value)
			}
			return next(c)
		}
	}
}

// noStore keeps account and order pages out of every cache, the browser's
// back-button cache and shared proxies included: they show one person's
// sessions, addresses and orders.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return next(c)
	}
}
