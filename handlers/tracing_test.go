package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/the-shop/shop/handlers"
	"github.com/the-shop/shop/internal/app"
	"github.com/the-shop/shop/internal/testenv"
)

// startTracedShop runs a shop instance with tracing on, wired as cmd/shop
// wires it (the pool's tracer, app.Options.Tracing, handlers.Traced), with
// the SDK's in-memory exporter in place of OTLP.
func startTracedShop(t testing.TB, b *backend) (string, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg, err := pgxpool.ParseConfig(b.db.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = app.DBTracer(tp)
	db, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	scfg := testConfig(t, b.kind, "traced")
	scfg.RedisKeyPrefix = b.prefix
	scfg.JWTSecret = testJWTSecret
	a, err := app.New(scfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Pools{DB: db, Redis: b.redis}, app.Options{Tracing: tp})
	if err != nil {
		t.Fatal(err)
	}
	e, err := handlers.New(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.Traced(e, tp))
	t.Cleanup(srv.Close)
	return srv.URL, exp
}

// TestTracing: with tracing on, each request is one trace whose root is
// the server span, named after the route and carrying nginx's request id,
// with a child span for each round trip to the stores: the session find,
// the cart operations (Redis commands or SQL statements) and the SQL of
// the account check. Span names carry no keys or ids.
func TestTracing(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			base, exp := startTracedShop(t, newBackend(t, kind))
			c := newClient(t)
			c.signup(t, base, testenv.RandomName("tr")+"@example.com", "password123")
			c.Get(t, base, "/", false) // the welcome flash goes

			for _, tc := range []struct {
				name, route string
				req         func(rid string) *http.Request
				// want are words that some store span's name must hold
				// (the session store's and the cart store's), per store
				// kind: the names follow the Redis operation or the SQL
				// ("redis find session", "select carts").
				want map[string][]string
			}{
				{"CartView", "GET /cart", func(rid string) *http.Request {
					r := testenv.GetRequest(t, base, "/cart", true)
					r.Header.Set("X-Request-ID", rid)
					return r
				}, map[string][]string{
					"redis":    {"redis find session", "redis snapshot cart"},
					"postgres": {"sessions", "cart"},
				}},
				{"Add", "POST /cart/items", func(rid string) *http.Request {
					r := testenv.PostRequest(t, base, "/cart/items", url.Values{"product_id": {"3"}, "idempotency_key": {testenv.RandomName("tr-")}}, c.CSRF(), true)
					r.Header.Set("X-Request-ID", rid)
					return r
				}, map[string][]string{
					"redis":    {"redis find session", "redis add to cart"},
					"postgres": {"sessions", "insert cart"},
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					exp.Reset()
					rid := testenv.RandomName("rid-")
					r, err := c.Try(tc.req(rid))
					if err != nil || r.StatusCode != http.StatusOK {
						t.Fatalf("%s: %d %v", tc.route, r.StatusCode, err)
					}
					spans := exp.GetSpans()
					traces := map[trace.TraceID]bool{}
					var names []string
					var root *tracetest.SpanStub
					for i, s := range spans {
						traces[s.SpanContext.TraceID()] = true
						names = append(names, s.Name)
						if !s.Parent.IsValid() {
							root = &spans[i]
						}
						if strings.Contains(s.Name, ":") || strings.ContainsAny(s.Name, "0123456789") {
							t.Errorf("span name %q carries a key or an id", s.Name)
						}
					}
					t.Logf("%s: %d spans: %s", tc.route, len(spans), strings.Join(names, ", "))
					if len(traces) != 1 {
						t.Fatalf("%d traces, want 1", len(traces))
					}
					if root == nil || root.Name != tc.route || root.SpanKind != trace.SpanKindServer {
						t.Fatalf("root span = %+v, want the server span %q", root, tc.route)
					}
					got := ""
					for _, a := range root.Attributes {
						if a.Key == "request_id" {
							got = a.Value.AsString()
						}
					}
					if got != rid {
						t.Errorf("root span request_id = %q, want nginx's X-Request-ID %q", got, rid)
					}
					for _, w := range tc.want[string(kind)] {
						if !slices.ContainsFunc(names, func(n string) bool { return n != tc.route && strings.Contains(n, w) }) {
							t.Errorf("no store span with %q among %v", w, names)
						}
					}
				})
			}

			t.Run("ProbesAreNotTraced", func(t *testing.T) {
				exp.Reset()
				c.Get(t, base, "/healthz", true)
				if n := len(exp.GetSpans()); n != 0 {
					t.Errorf("GET /healthz made %d spans, want none", n)
				}
			})
		})
	}
}

// BenchmarkTracedRequest is BenchmarkRequest's cart view and add with
// tracing on (spans to the in-memory exporter): what tracing costs a
// request when it is on. Off, nothing is wrapped (BenchmarkRequest).
func BenchmarkTracedRequest(b *testing.B) {
	for _, kind := range stores {
		base, exp := startTracedShop(b, newBackend(b, kind))
		c := testenv.NewBrowser(b)
		r := c.Post(b, base, "/signup", url.Values{"email": {testenv.RandomName("b") + "@example.com"}, "password": {"password123"}}, c.Token(b, base), true)
		if r.StatusCode != http.StatusOK {
			b.Fatalf("signup: %d", r.StatusCode)
		}
		for id := 1; id <= 4; id++ {
			c.Post(b, base, "/cart/items", url.Values{"product_id": {strconv.Itoa(id)}}, c.CSRF(), true)
		}
		for _, tc := range []struct {
			name string
			req  func(i int) *http.Request
		}{
			{"cart", func(int) *http.Request { return testenv.GetRequest(b, base, "/cart", true) }},
			{"add", func(i int) *http.Request {
				return testenv.PostRequest(b, base, "/cart/items", url.Values{"product_id": {"5"}, "idempotency_key": {"bench-key-" + strconv.Itoa(i)}}, c.CSRF(), true)
			}},
		} {
			b.Run(string(kind)+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					if i%1000 == 0 {
						exp.Reset()
					}
					if r, err := c.Try(tc.req(i)); err != nil || r.StatusCode != http.StatusOK {
						b.Fatalf("%d %v", r.StatusCode, err)
					}
				}
			})
		}
	}
}
