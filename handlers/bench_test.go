package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/testenv"
)

// BenchmarkRequest runs the load test's requests through one shop instance
// (Echo, every middleware, the metrics, the real stores) from one client:
// what each costs in time and allocations, client included. It is how the
// profile findings in docs/benchmarks.md were checked.
func BenchmarkRequest(b *testing.B) {
	for _, kind := range stores {
		be := newBackend(b, kind)
		be.metrics = metrics.New()
		s := startShop(b, be, "bench")
		c := testenv.NewBrowser(b)
		r := c.Post(b, s.URL, "/signup", url.Values{"email": {testenv.RandomName("b") + "@example.com"}, "password": {"password123"}}, c.Token(b, s.URL), true)
		if r.StatusCode != http.StatusOK {
			b.Fatalf("signup: %d", r.StatusCode)
		}
		for id := 1; id <= 4; id++ {
			c.Post(b, s.URL, "/cart/items", url.Values{"product_id": {strconv.Itoa(id)}}, c.CSRF(), true)
		}
		for _, tc := range []struct {
			name string
			req  func(i int) *http.Request
		}{
			{"cart", func(int) *http.Request { return testenv.GetRequest(b, s.URL, "/cart", true) }},
			{"catalog", func(int) *http.Request { return testenv.GetRequest(b, s.URL, "/", true) }},
			{"add", func(i int) *http.Request {
				req := testenv.PostRequest(b, s.URL, "/cart/items", url.Values{"product_id": {"5"}, "idempotency_key": {"bench-key-" + strconv.Itoa(i)}}, c.CSRF(), true)
				return req
			}},
		} {
			b.Run(string(kind)+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					if r, err := c.Try(tc.req(i)); err != nil || r.StatusCode != http.StatusOK {
						b.Fatalf("%d %v", r.StatusCode, err)
					}
				}
			})
		}
	}
}
