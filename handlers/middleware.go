package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/session"
)

// servedBy names the replica on every response, errors included, so that
// workshops and tests can see where each request landed.
func servedBy(replica string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("X-Served-By", replica)
			return next(c)
		}
	}
}

// requestLogger writes one structured line per request.
// The logger already carries the replica name.
func requestLogger(logger *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod:    true,
		LogURIPath:   true,
		LogRoutePath: true,
		LogStatus:    true,
		LogLatency:   true,
		LogRequestID: true,
		LogRemoteIP:  true,
		HandleError:  true, // let the error handler set the status before we log it
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			logger.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method),
				slog.String("route", v.RoutePath),
				slog.String("path", v.URIPath),
				slog.Int("status", v.Status),
				slog.Duration("duration", v.Latency),
				slog.String("request_id", v.RequestID),
				slog.String("remote_ip", v.RemoteIP),
			)
			return nil
		},
	})
}

// ctxSession is where the session middleware leaves the request's
// *session.Session in the echo context.
const ctxSession = "shop.session"

// commitTimeout bounds one session save.
const commitTimeout = 5 * time.Second

// sessions loads the request's session from its cookie and hands it to the
// handler as one explicit value (sessionOf). The responder saves it exactly
// once, before it writes a page, JSON or a redirect (w.save), so that a
// store failure can still become a proper 503. scs.LoadAndSave, wrapped into
// Echo, commits twice and writes two Set-Cookie headers when a handler
// fails; here a second save does nothing.
func sessions(sm *session.Manager, logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// Echo's Scheme believes X-Forwarded-Proto from anyone; a client
			// that forges it only makes its own cookie Secure (and looks
			// for it under the __Host- name).
			https := c.Scheme() == "https"
			token := ""
			if ck, err := c.Cookie(sm.CookieName(https)); err == nil {
				token = ck.Value
			}
			// Every response of this group depends on the cookie: a cache
			// must never hand one shopper's page to another.
			c.Response().Header().Add(echo.HeaderVary, "Cookie")
			sess, err := sm.Load(c.Request().Context(), token, session.Request{
				IP: c.RealIP(), UserAgent: c.Request().UserAgent(), HTTPS: https,
			})
			if err != nil {
				return apperr.Unavailable("load session", err)
			}
			c.Set(ctxSession, sess)
			if sess.Ended() {
				sess.AddFlash("info", "Your session has ended. Please log in again.")
			}
			err = next(c)
			if err == nil && c.Response().Committed && !sess.Saved() {
				// A handler wrote its response around the responder: what
				// it changed in the session is lost. A bug to fix, so loud.
				logger.Error("response written without saving the session", "route", c.Path(),
					"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
			}
			return err
		}
	}
}

// sessionOf returns the request's session, or nil where the session
// middleware does not run (probes, static files, the JSON API).
func sessionOf(c echo.Context) *session.Session {
	s, _ := c.Get(ctxSession).(*session.Session)
	return s
}

// csrf protects every unsafe browser request with a token tied to the
// session: the HMAC of the session's token (Session.CSRFToken), which the
// page repeats in a form field or a header. It keeps no state of its own,
// so any replica can check it, and it changes with the session token (at
// login), so a token learnt before a login is worthless after it. It is
// read from the X-CSRF-Token header or the POST body, never from the URL,
// where it would leak through logs and Referer headers.
func csrf() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
				return next(c)
			}
			t := c.Request().Header.Get(headerCSRFToken)
			if t == "" {
				t = c.Request().PostFormValue("csrf_token")
			}
			if !sessionOf(c).CheckCSRF(unmaskCSRF(t)) {
				return apperr.Forbidden("invalid_csrf_token",
					"Your form expired or came from another site. Reload the page and try again.")
			}
			return next(c)
		}
	}
}

// csrfToken is the CSRF token pages carry, masked afresh for each page
// (csrfmask.go); "" outside the session routes.
func csrfToken(c echo.Context) string {
	if s := sessionOf(c); s != nil {
		return maskCSRF(s.CSRFToken())
	}
	return ""
}
