package handlers

import (
	"context"
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

// sessionState is what the session middleware leaves in the echo context:
// whether the session is loaded and whether it has been committed yet.
type sessionState struct {
	committed bool
	commit    func() error
}

const ctxSession = "shop.session"

// commitTimeout bounds one session commit.
const commitTimeout = 5 * time.Second

// sessions loads the session from its cookie before the handler and saves
// it exactly once (a commit, a touch, or nothing): either explicitly, when a handler's response helper calls
// commitSession before writing (so a store failure becomes a proper 503), or
// at the latest just before the response header is written (error pages,
// CSRF refusals). This replaces scs.LoadAndSave, which wrapped into Echo
// commits twice and writes two Set-Cookie headers when a handler fails.
func sessions(sm *session.Manager, logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token := ""
			if ck, err := c.Cookie(sm.Cookie.Name); err == nil {
				token = ck.Value
			}
			// Echo's Scheme believes X-Forwarded-Proto from anyone; a client
			// that forges it only makes its own cookie Secure.
			ctx, err := sm.LoadRequest(c.Request().Context(), token, session.Request{
				IP: c.RealIP(), UserAgent: c.Request().UserAgent(), HTTPS: c.Scheme() == "https",
			})
			if err != nil {
				return apperr.Unavailable("load session", err)
			}
			c.SetRequest(c.Request().WithContext(ctx))

			st := &sessionState{}
			st.commit = func() error {
				// The request's context may already be cancelled when an
				// error page is written (the timeout middleware cancels it
				// as the handler returns); the save must still happen,
				// within a bound of its own.
				cctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), commitTimeout)
				defer cancel()
				if err := sm.Save(cctx, c.Response()); err != nil {
					return apperr.Unavailable("save session", err)
				}
				return nil
			}
			c.Set(ctxSession, st)
			c.Response().Before(func() {
				if err := commitSession(c); err != nil {
					// Too late to change the page; the user keeps the
					// previous session state and sees it on the next page.
					logger.Error("commit session before response", "err", err,
						"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
				}
			})
			return next(c)
		}
	}
}

// commitSession commits the request's session if the middleware loaded one
// and it has not been committed yet.
func commitSession(c echo.Context) error {
	st, ok := c.Get(ctxSession).(*sessionState)
	if !ok || st.committed {
		return nil
	}
	st.committed = true
	return st.commit()
}

// sessionLoaded reports whether the session middleware ran for this request.
func sessionLoaded(c echo.Context) bool {
	_, ok := c.Get(ctxSession).(*sessionState)
	return ok
}

// csrf protects every unsafe browser request with a double-submit token: a
// random value in an HttpOnly cookie that the page repeats in a form field or
// header. It keeps no server-side state, so any replica can check it.
func csrf(secure bool) echo.MiddlewareFunc {
	check := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:X-CSRF-Token,form:csrf_token",
		ContextKey:     ctxCSRF,
		CookieName:     "_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   secure,
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(error, echo.Context) error {
			return apperr.Forbidden("invalid_csrf_token",
				"Your form expired or came from another site. Reload the page and try again.")
		},
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := check(next)
		return func(c echo.Context) error {
			// Echo accepts a same-origin POST without any token when the
			// browser sends Sec-Fetch-Site, and then hands templates a
			// placeholder. docs/http.md requires the token on every unsafe
			// request, so the header must not short-circuit the check.
			c.Request().Header.Del(echo.HeaderSecFetchSite)
			return h(c)
		}
	}
}

const ctxCSRF = "csrf"

func csrfToken(c echo.Context) string {
	t, _ := c.Get(ctxCSRF).(string)
	return t
}
