package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Traced wraps the shop's handler h (New's Echo) so that each request is
// a trace (or joins the caller's, from a W3C traceparent header) made with
// tp: otelhttp makes the server span around the whole of Echo, the error
// handler included, so the span has the status the client got; the
// middleware New adds when tracing is on names it after the route and
// adds the request id; the stores' spans (SQL, Redis) are its children.
// Probes and static files are not traced. cmd/shop calls it only when
// tracing is on: off, nothing is wrapped and nothing is measured.
func Traced(h http.Handler, tp trace.TracerProvider) http.Handler {
	return otelhttp.NewHandler(h, "shop",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithFilter(func(r *http.Request) bool {
			p := r.URL.Path
			return p != "/healthz" && p != "/readyz" && !strings.HasPrefix(p, "/static/")
		}),
	)
}

// requestIDAttribute is the request id's attribute on the server span: the
// same name as in the logs, so a trace and its log lines are found by one
// id (nginx's X-Request-ID when it sends one).
const requestIDAttribute = "request_id"

// traceRequest names the request's span after its route ("GET
// /products/:id", never the raw path) and adds the request id. It runs
// after routing and the request id middleware.
func traceRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		span := trace.SpanFromContext(c.Request().Context())
		if span.IsRecording() {
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			span.SetName(c.Request().Method + " " + route)
			span.SetAttributes(
				attribute.String("http.route", route),
				attribute.String(requestIDAttribute, c.Response().Header().Get(echo.HeaderXRequestID)),
			)
		}
		return next(c)
	}
}
