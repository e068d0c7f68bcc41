package handlers

import (
	"errors"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/metrics"
)

// observeHTTP counts and times every request by route pattern (c.Path(),
// "/products/:id", never the raw path), method and status. It runs first,
// so the status it sees is the one the error handler wrote.
func observeHTTP(m *metrics.Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			m.HTTPStarted()
			err := next(c)
			status := c.Response().Status
			if err != nil && !c.Response().Committed {
				status = http.StatusInternalServerError
				var he *echo.HTTPError
				if errors.As(err, &he) {
					status = he.Code
				}
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			m.HTTPDone(route, boundedMethod(c.Request().Method), status, time.Since(start))
			return err
		}
	}
}

// boundedMethod keeps the method label to the standard methods: a client
// can send any token as a method.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// Admin is the handler of the admin listener (ADMIN_ADDR): /metrics in the
// Prometheus text format and the profiles of net/http/pprof under
// /debug/pprof/. It is served apart from the shop, on a loopback address
// that nginx does not proxy, as profiles and metrics are for operators.
func Admin(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("shop admin: /metrics, /debug/pprof/\n"))
	})
	return mux
}
