package handlers_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/handlers"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/testenv"
)

// scrape fetches /metrics from the admin handler.
func scrape(t *testing.T, admin string) string {
	t.Helper()
	res, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", res.StatusCode, b)
	}
	return string(b)
}

// eventually retries f until it passes or a second is over: request
// metrics are recorded after the response has gone out.
func eventually(t *testing.T, f func() string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Error(msg)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			b.metrics = metrics.New()
			logs := &testenv.SyncBuffer{}
			b.logs = logs
			s := startShop(t, b, "replica-a")
			admin := httptest.NewServer(handlers.Admin(b.metrics))
			t.Cleanup(admin.Close)

			c := newClient(t)
			email := testenv.RandomName("m") + "@example.com"
			c.signup(t, s.URL, email, "password123")
			wantStatus(t, c.Get(t, s.URL, "/products/3", false), http.StatusOK)
			wantStatus(t, c.Get(t, s.URL, "/products/4", true), http.StatusOK)
			wantStatus(t, c.Get(t, s.URL, "/no/such/page/12345", false), http.StatusNotFound)
			wantStatus(t, c.Post(t, s.URL, "/logout", nil, c.Token(t, s.URL), false), http.StatusSeeOther)
			// A wrong password counts as a throttling event.
			wantStatus(t, c.Post(t, s.URL, "/login", url.Values{"email": {email}, "password": {"wrong password"}}, c.Token(t, s.URL), false), http.StatusUnauthorized)

			t.Run("LabelsAreRoutePatterns", func(t *testing.T) {
				eventually(t, func() string {
					text := scrape(t, admin.URL)
					for _, want := range []string{
						`shop_http_requests_total{method="GET",route="/products/:id",status="200"} 2`,
						`shop_http_requests_total{method="POST",route="/signup",status="303"} 1`,
						`shop_http_requests_total{method="GET",route="/*",status="404"} 1`,
						`shop_http_request_duration_seconds_count{method="GET",route="/products/:id",status="200"} 2`,
					} {
						if !strings.Contains(text, want) {
							return "metrics lack " + want
						}
					}
					for _, raw := range []string{"/products/3", "/no/such/page", "12345"} {
						if strings.Contains(text, raw) {
							return "a metric label holds a raw path: " + raw
						}
					}
					return ""
				})
			})

			t.Run("StoresSessionsAndLogins", func(t *testing.T) {
				text := scrape(t, admin.URL)
				for _, want := range []string{
					`shop_store_operations_total{kind="session",op="find",store="` + string(kind) + `"}`,
					`shop_store_operations_total{kind="session",op="commit",store="` + string(kind) + `"}`,
					`shop_store_operations_total{kind="session",op="delete",store="` + string(kind) + `"}`,
					`shop_store_operations_total{kind="cart",op="lines",store="` + string(kind) + `"}`,
					`shop_store_operation_duration_seconds_bucket{kind="session",op="find",store="` + string(kind) + `",le="0.001"}`,
					// The signup's session, and the one that carries the
					// goodbye message after the logout.
					`shop_sessions_total{event="created"} 2`,
					`shop_sessions_total{event="renewed"} 1`,
					`shop_sessions_total{event="destroyed"} 1`,
					`shop_login_throttle_events_total{event="failure"} 1`,
				} {
					if !strings.Contains(text, want) {
						t.Errorf("metrics lack %s", want)
					}
				}
			})

			t.Run("RuntimeAndProcess", func(t *testing.T) {
				text := scrape(t, admin.URL)
				for _, want := range []string{"go_goroutines ", "go_memstats_alloc_bytes ", "process_cpu_seconds_total ", "process_resident_memory_bytes "} {
					if !strings.Contains(text, want) {
						t.Errorf("metrics lack %s", want)
					}
				}
			})

			t.Run("Pprof", func(t *testing.T) {
				for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
					res, err := http.Get(admin.URL + path)
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						t.Errorf("GET %s: %d", path, res.StatusCode)
					}
				}
			})

			t.Run("NotOnTheShop", func(t *testing.T) {
				// nginx proxies the shop's listener; metrics and profiles
				// must not be reachable there.
				for _, path := range []string{"/metrics", "/debug/pprof/"} {
					if r := c.Get(t, s.URL, path, false); r.StatusCode != http.StatusNotFound {
						t.Errorf("GET %s on the shop: %d, want 404", path, r.StatusCode)
					}
				}
			})

			t.Run("RequestIDInLogsAndResponse", func(t *testing.T) {
				const rid = "nginx-id-0123456789abcdef"
				req := testenv.GetRequest(t, s.URL, "/cart", false)
				req.Header.Set("X-Request-ID", rid)
				r := c.Do(t, req)
				if got := r.Header.Get("X-Request-ID"); got != rid {
					t.Errorf("response X-Request-ID = %q, want nginx's %q", got, rid)
				}
				found := false
				sc := bufio.NewScanner(strings.NewReader(logs.String()))
				for sc.Scan() {
					var line map[string]any
					if json.Unmarshal(sc.Bytes(), &line) != nil {
						continue
					}
					if line["msg"] == "request" && line["route"] == "/cart" && line["request_id"] == rid {
						found = true
					}
				}
				if !found {
					t.Errorf("no request log line with request_id %q:\n%s", rid, logs.String())
				}
			})
		})
	}
}
