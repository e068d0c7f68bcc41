package handlers

import (
	"net"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/throttle"
)

// anonWrites limits the unsafe requests (POST and the like) of visitors
// without a login per client address (ANON_WRITES_PER_MINUTE), counted in
// the session store kind's store so that every replica shares the count.
// Every such request can start a session and a cart, so an unbounded
// stream of them fills the stores. Signed-in shoppers are not limited
// here, nor is this machine itself (a loopback address: make up's load
// tests, health checks and the test suite; behind nginx the address is the
// client's from X-Forwarded-For). nil: no limit. It runs after the session
// middleware, which tells who is signed in.
func anonWrites(rate *throttle.Rate) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if rate == nil {
			return next
		}
		return func(c echo.Context) error {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
				return next(c)
			}
			if s := sessionOf(c); s != nil && s.UserID() != 0 {
				return next(c)
			}
			ip := c.RealIP()
			if a := net.ParseIP(ip); a != nil && a.IsLoopback() {
				return next(c)
			}
			wait, err := rate.Allow(c.Request().Context(), "anon-writes:"+ip)
			if err != nil {
				if wait > 0 {
					c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
				}
				return err
			}
			return next(c)
		}
	}
}
