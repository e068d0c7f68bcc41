package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/shopclient"
	"github.com/the-shop/shop/internal/testenv"
)

// migratedDatabase returns the URL of a new database with the shop's
// schema and its seeded products.
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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestFloor: the floor answers the load test's routes with the shop's JSON
// shapes and pages, keeps the cart in one Redis hash per session id, and
// checks CSRF tokens; its admin listener serves the process metrics.
func TestFloor(t *testing.T) {
	pool, prefix := testenv.MustRedis(t)
	addr, admin := freeAddr(t), freeAddr(t)
	env := map[string]string{"ADDR": addr, "ADMIN_ADDR": admin, "DATABASE_URL": migratedDatabase(t),
		"REDIS_URL": testenv.RedisURL(), "REDIS_KEY_PREFIX": prefix, "REPLICA_NAME": "floor-1",
		"FLOOR_SECRET": "a test secret, long enough"}
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
	for deadline := time.Now().Add(10 * time.Second); ; {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the floor did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	client := shopclient.New(base, shopclient.Options{Timeout: 5 * time.Second})
	post := func(t *testing.T, path string, form url.Values, want int) shopclient.Cart {
		t.Helper()
		r, err := client.PostForm(ctx, path, form)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Expect(want); err != nil {
			t.Fatal(err)
		}
		var v shopclient.Cart
		if want == http.StatusOK {
			if err := json.Unmarshal(r.Body, &v); err != nil {
				t.Fatalf("%s: %v: %s", path, err, r.Body)
			}
		}
		return v
	}

	t.Run("RejectsAddWithoutCSRFToken", func(t *testing.T) {
		post(t, "/cart/items", url.Values{"product_id": {"1"}}, http.StatusForbidden)
	})
	t.Run("CatalogPageCarriesTokenAndCookie", func(t *testing.T) {
		if _, err := client.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if len(client.Cookie(cookieName)) != 43 {
			t.Fatalf("session cookie %q", client.Cookie(cookieName))
		}
		if client.CSRF != (&floor{cfg: config{secret: []byte(env["FLOOR_SECRET"])}}).csrfToken(client.Cookie(cookieName)) {
			t.Error("the page's token is not the HMAC of the session id")
		}
	})
	t.Run("RejectsTokenOfAnotherSession", func(t *testing.T) {
		other := shopclient.New(base, shopclient.Options{Timeout: 5 * time.Second})
		if _, err := other.Token(ctx); err != nil {
			t.Fatal(err)
		}
		other.CSRF = client.CSRF
		r, err := other.PostForm(ctx, "/cart/items", url.Values{"product_id": {"1"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", r.StatusCode)
		}
	})
	t.Run("AddsAndAnswersTheCart", func(t *testing.T) {
		post(t, "/cart/items", url.Values{"product_id": {"2"}, "quantity": {"1"}}, http.StatusOK)
		v := post(t, "/cart/items", url.Values{"product_id": {"1"}, "quantity": {"2"}, "idempotency_key": {"k"}}, http.StatusOK)
		if len(v.Items) != 2 || v.Items[0].ProductID != "1" || v.Items[0].Quantity != 2 || v.Items[0].Name != "Stoneware Mug" ||
			v.Items[0].UnitPriceCents != 1800 || v.Items[0].LineTotalCents != 3600 || v.Count != 3 || v.TotalCents != 3600+2900 {
			t.Errorf("cart after adds: %+v", v)
		}
		got, r, err := client.Cart(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.ServedBy() != "floor-1" || got.Count != 3 || len(got.Items) != 2 {
			t.Errorf("GET /cart from %q: %+v", r.ServedBy(), got)
		}
	})
	t.Run("CapsALineAt99", func(t *testing.T) {
		v := post(t, "/cart/items", url.Values{"product_id": {"1"}, "quantity": {"99"}}, http.StatusOK)
		if v.Quantities()["1"] != maxQuantity {
			t.Errorf("line 1: %d, want 99", v.Quantities()["1"])
		}
	})
	t.Run("SetsAndRemovesLines", func(t *testing.T) {
		v := post(t, "/cart/items/1", url.Values{"quantity": {"3"}}, http.StatusOK)
		if v.Quantities()["1"] != 3 {
			t.Errorf("after set: %+v", v)
		}
		v = post(t, "/cart/items/2", url.Values{"quantity": {"0"}}, http.StatusOK)
		if len(v.Items) != 1 || v.Count != 3 {
			t.Errorf("after removing line 2: %+v", v)
		}
		post(t, "/cart/items/999", url.Values{"quantity": {"1"}}, http.StatusNotFound)
		post(t, "/cart/items/1", url.Values{"quantity": {"100"}}, http.StatusUnprocessableEntity)
	})
	t.Run("KeepsTheCartInOneHashWithAnExpiry", func(t *testing.T) {
		c := pool.Get()
		defer c.Close()
		key := prefix + "floorcart:" + client.Cookie(cookieName)
		m, err := redis.IntMap(c.Do("HGETALL", key))
		if err != nil || len(m) != 1 || m["1"] != 3 {
			t.Errorf("HGETALL %s: %v, %v", key, m, err)
		}
		if ttl, _ := redis.Int(c.Do("TTL", key)); ttl <= 0 {
			t.Errorf("TTL %d", ttl)
		}
		keys, _ := redis.Strings(c.Do("KEYS", prefix+"*"))
		if len(keys) != 1 {
			t.Errorf("keys %v: want the cart only", keys)
		}
	})
	t.Run("RendersPages", func(t *testing.T) {
		for path, want := range map[string]string{"/cart": "Stoneware Mug", "/": "Pour-Over Coffee Dripper"} {
			r, err := client.Page(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			page := string(r.Body)
			if r.StatusCode != 200 || !strings.Contains(page, want) || !strings.Contains(page, "Cart (3)") ||
				!strings.Contains(r.Header.Get("Content-Type"), "text/html") {
				t.Errorf("GET %s page: %d %s", path, r.StatusCode, page)
			}
		}
		var cat struct {
			Products []struct {
				ID         string `json:"id"`
				PriceCents int64  `json:"price_cents"`
			} `json:"products"`
		}
		if _, err := client.GetJSON(ctx, "/", &cat); err != nil || len(cat.Products) != 14 || cat.Products[0].ID != "1" {
			t.Errorf("GET / JSON: %+v, %v", cat, err)
		}
	})
	t.Run("ServesProcessMetrics", func(t *testing.T) {
		res, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(b), "\nprocess_cpu_seconds_total ") {
			t.Errorf("no process_cpu_seconds_total in /metrics")
		}
	})
}
