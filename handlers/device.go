package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/throttle"
)

// deviceCookie names the device cookie (internal/throttle, Devices): the
// browser's proof of an earlier successful login, which lets it log in
// while the account is paused for unknown browsers.
const deviceCookie = "device"

// deviceOf returns the device cookie the browser sent ("" if none).
func deviceOf(c echo.Context) string {
	ck, err := c.Cookie(deviceCookie)
	if err != nil {
		return ""
	}
	return ck.Value
}

// rememberDevice gives the browser that just proved email's password a
// fresh device cookie. HttpOnly and SameSite=Strict: no script reads it and
// no other site's form sends it; it is not a login, only a right to try.
func rememberDevice(c echo.Context, g *throttle.Guard, email string, secure bool) error {
	d := g.Devices()
	if d == nil {
		return nil
	}
	v, err := d.Issue(deviceOf(c), email)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: deviceCookie, Value: v, Path: "/", MaxAge: int(d.Lifetime().Seconds()),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// retryAfter sets Retry-After when err is a refusal that knows when it
// ends, for the form pages and the JSON errors alike, and returns err.
func retryAfter(c echo.Context, err error) error {
	if e := apperr.As(err); e != nil && e.Kind == apperr.KindTooMany && e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())))
	}
	return err
}
