package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/shopclient"
	"github.com/the-shop/shop/internal/testenv"
)

// migratedDatabase returns the URL of a new database with the shop's schema.
func migratedDatabase(t *testing.T) string {
	t.Helper()
	u := testenv.MustEmptyDatabase(t)
	m, err := postgres.NewMigrator(testenv.MustPool(t, u), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestFloor: the floor answers the load test's routes like the shop does,
// on both stores, with idempotent adds.
func TestFloor(t *testing.T) {
	for _, store := range []string{"redis", "postgres"} {
		t.Run(store, func(t *testing.T) {
			_, prefix := testenv.MustRedis(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			env := map[string]string{"ADDR": addr, "SESSION_STORE": store, "DATABASE_URL": migratedDatabase(t),
				"REDIS_URL": testenv.RedisURL(), "REDIS_KEY_PREFIX": prefix, "REPLICA_NAME": "floor-1"}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}()
			base := "http://" + addr
			// The floor has no pages and no CSRF: plain JSON calls and forms.
			client := shopclient.New(base, shopclient.Options{Timeout: 5 * time.Second})
			call := func(method, path string, form url.Values) (int, map[string]any) {
				t.Helper()
				var r shopclient.Response
				var err error
				if form == nil {
					r, err = client.Send(ctx, method, path, nil, http.Header{"Accept": {"application/json"}})
				} else {
					r, err = client.PostForm(ctx, path, form)
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.ServedBy() != "floor-1" {
					t.Errorf("%s %s: X-Served-By %q", method, path, r.ServedBy())
				}
				var v map[string]any
				_ = json.Unmarshal(r.Body, &v)
				return r.StatusCode, v
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				if res, err := http.Get(base + "/readyz"); err == nil {
					res.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the floor did not start")
				}
				time.Sleep(20 * time.Millisecond)
			}

			if status, _ := call(http.MethodGet, "/cart", nil); status != http.StatusUnprocessableEntity {
				t.Errorf("GET /cart without a session: %d", status)
			}
			if status, _ := call(http.MethodPost, "/signup", url.Values{}); status != http.StatusOK {
				t.Fatalf("POST /signup: %d", status)
			}
			add := url.Values{"product_id": {"3"}, "idempotency_key": {"floor-test-1"}}
			for range 2 { // the same key twice: one unit
				if status, v := call(http.MethodPost, "/cart/items", add); status != http.StatusOK || v["count"] != 1.0 {
					t.Fatalf("POST /cart/items: %d %v", status, v)
				}
			}
			if status, v := call(http.MethodGet, "/cart", nil); status != http.StatusOK || v["count"] != 1.0 || v["total_cents"] != 1450.0 {
				t.Errorf("GET /cart: %d %v", status, v)
			}
			if status, v := call(http.MethodPost, "/cart/items/3", url.Values{"quantity": {"0"}}); status != http.StatusOK || v["count"] != 0.0 {
				t.Errorf("POST /cart/items/3 quantity 0: %d %v", status, v)
			}
			if status, v := call(http.MethodGet, "/", nil); status != http.StatusOK || len(v["products"].([]any)) != 14 {
				t.Errorf("GET /: %d %v", status, v)
			}
			if status, _ := call(http.MethodPost, "/cart/items", url.Values{"product_id": {"999"}}); status != http.StatusUnprocessableEntity {
				t.Errorf("unknown product: %d", status)
			}
		})
	}
}
