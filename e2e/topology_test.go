package e2e_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/testenv"
)

var stores = []string{"redis", "postgres"}

// TestSessionContinuity: behind round-robin nginx a shopper's consecutive
// requests land on every replica, and the login and the cart hold.
func TestSessionContinuity(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			c := startCluster(t, clusterOptions{Store: store})
			b := testenv.NewBrowser(t)
			email := testenv.RandomName("cont") + "@example.com"
			r := b.Post(t, c.URL, "/signup", url.Values{"email": {email}, "password": {"continuity"}}, b.Token(t, c.URL), false)
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("signup: %d", r.StatusCode)
			}
			served := map[string]int{}
			for i := 1; i <= 9; i++ {
				r := b.Post(t, c.URL, "/cart/items", url.Values{"product_id": {"3"}}, b.CSRF(), true)
				if r.StatusCode != http.StatusOK {
					t.Fatalf("add %d: %d %.200s", i, r.StatusCode, r.Body)
				}
				served[servedBy(r)]++
				g := b.Get(t, c.URL, "/cart", true)
				served[servedBy(g)]++
				var cart testenv.Cart
				g.JSON(t, &cart)
				if cart.Count != i {
					t.Fatalf("after %d adds the cart (via %s) holds %d", i, servedBy(g), cart.Count)
				}
				si := b.Session(t, c.URL)
				served[si.Replica]++
				if !si.Authenticated || si.Store != store {
					t.Fatalf("login lost on %s: %+v", si.Replica, si)
				}
			}
			if len(served) != 3 {
				t.Errorf("requests landed on %v, want all 3 replicas", served)
			}
		})
	}
}

// TestFailover kills a replica with SIGKILL while shoppers add to their
// carts through nginx, then starts it again: no session lost, no item lost
// or doubled, and every request answered (nginx retries on another replica).
func TestFailover(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			c := startCluster(t, clusterOptions{Store: store})
			l := startLoad(t, c, 6)
			time.Sleep(1500 * time.Millisecond)
			c.Kill(t, 2)
			time.Sleep(1500 * time.Millisecond)
			c.MustScript(t, "start", "2")
			time.Sleep(1500 * time.Millisecond)
			if failed := l.finish(t, c); failed != 0 {
				t.Errorf("%d requests failed while shop-2 was killed and restarted, want 0", failed)
			}
			// The kill must have hit traffic for the test to prove anything:
			// nginx logs each request it had to retry on another replica.
			retried := c.NginxUpstreamErrors(t)
			if retried == 0 {
				t.Error("nginx logged no upstream error: the kill did not hit any request")
			}
			t.Logf("nginx retried %d requests on another replica", retried)
		})
	}
}

// TestRollingRestartUnderLoad restarts every replica, one at a time, while
// shoppers keep adding: not one request may fail.
func TestRollingRestartUnderLoad(t *testing.T) {
	c := startCluster(t, clusterOptions{Store: "redis"})
	l := startLoad(t, c, 6)
	time.Sleep(time.Second)
	start := time.Now()
	c.MustScript(t, "restart")
	t.Logf("rolling restart of 3 replicas took %v", time.Since(start).Round(10*time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	if failed := l.finish(t, c); failed != 0 {
		t.Errorf("%d requests failed during the rolling restart, want 0", failed)
	}
}

// TestMemoryStorePitfall is the workshop's story: sessions in process memory
// break under round robin, and sticky sessions (ip_hash) hide the problem
// only until the sticky replica dies.
func TestMemoryStorePitfall(t *testing.T) {
	t.Run("RoundRobinLosesTheCart", func(t *testing.T) {
		t.Parallel()
		c := startCluster(t, clusterOptions{Store: "memory", LB: "rr"})
		b := testenv.NewBrowser(t)
		r := b.Post(t, c.URL, "/cart/items", url.Values{"product_id": {"1"}, "quantity": {"2"}}, b.Token(t, c.URL), true)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("add: %d %.200s", r.StatusCode, r.Body)
		}
		counts := map[string]int{}
		for range 6 {
			g := b.Get(t, c.URL, "/cart", true)
			var cart testenv.Cart
			g.JSON(t, &cart)
			counts[servedBy(g)] = cart.Count
		}
		empty := 0
		for _, n := range counts {
			if n == 0 {
				empty++
			}
		}
		if len(counts) != 3 || empty != 2 || counts[servedBy(r)] != 2 {
			t.Errorf("cart count by replica = %v (added on %s); want 2 there and an empty cart on the 2 others", counts, servedBy(r))
		}
	})

	t.Run("StickyHoldsUntilTheReplicaDies", func(t *testing.T) {
		t.Parallel()
		c := startCluster(t, clusterOptions{Store: "memory", LB: "ip"})
		b := testenv.NewBrowser(t)
		r := b.Post(t, c.URL, "/cart/items", url.Values{"product_id": {"1"}, "quantity": {"2"}}, b.Token(t, c.URL), true)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("add: %d %.200s", r.StatusCode, r.Body)
		}
		sticky := servedBy(r)
		for i := range 6 {
			g := b.Get(t, c.URL, "/cart", true)
			var cart testenv.Cart
			g.JSON(t, &cart)
			if servedBy(g) != sticky || cart.Count != 2 {
				t.Fatalf("request %d: served by %s with %d items; want %s with 2 (ip_hash is sticky)", i, servedBy(g), cart.Count, sticky)
			}
		}
		c.Kill(t, replicaNumber(t, sticky))
		g := b.Get(t, c.URL, "/cart", true)
		var cart testenv.Cart
		g.JSON(t, &cart)
		if servedBy(g) == sticky || cart.Count != 0 {
			t.Errorf("after killing %s: served by %s with %d items; want another replica and an empty cart", sticky, servedBy(g), cart.Count)
		}
	})
}

// TestStoreOutage cuts the shop off from Redis, then from PostgreSQL: the
// replicas report not ready, pages that need the store answer a clear 503,
// nothing is half-written, and everything recovers by itself.
func TestStoreOutage(t *testing.T) {
	redisProxy := startProxy(t, hostPort(t, testenv.RedisURL()))
	dbURL := testenv.MustEmptyDatabase(t)
	pgProxy := startProxy(t, hostPort(t, dbURL))
	c := startCluster(t, clusterOptions{
		Store:       "redis",
		Replicas:    2,
		DatabaseURL: replaceHost(t, dbURL, pgProxy.addr),
		RedisURL:    replaceHost(t, testenv.RedisURL(), redisProxy.addr),
	})
	b := testenv.NewBrowser(t)
	if r := b.Post(t, c.URL, "/cart/items", url.Values{"product_id": {"4"}}, b.Token(t, c.URL), true); r.StatusCode != http.StatusOK {
		t.Fatalf("add: %d %.200s", r.StatusCode, r.Body)
	}

	for _, outage := range []struct {
		name  string
		proxy *proxy
		// pages that must answer 503 while the store is down
		paths []string
	}{
		{"Redis", redisProxy, []string{"/cart", "/"}},
		{"Postgres", pgProxy, []string{"/cart", "/", "/products/4"}},
	} {
		t.Run(outage.name, func(t *testing.T) {
			outage.proxy.stop()
			for n := 1; n <= 2; n++ {
				waitStatus(t, c.ReplicaURL(n)+"/readyz", http.StatusServiceUnavailable, 10*time.Second)
			}
			for _, path := range outage.paths {
				r := b.Get(t, c.URL, path, false)
				if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.Body, "temporarily unavailable") {
					t.Errorf("GET %s while %s is down: %d, want 503 with the shop's page:\n%.300s", path, outage.name, r.StatusCode, r.Body)
				}
				j := b.Get(t, c.URL, path, true)
				if j.StatusCode != http.StatusServiceUnavailable || !strings.Contains(j.Body, `"code":"temporarily_unavailable"`) {
					t.Errorf("GET %s (JSON) while %s is down: %d %.200s", path, outage.name, j.StatusCode, j.Body)
				}
			}
			r := b.Post(t, c.URL, "/cart/items", url.Values{"product_id": {"4"}}, b.CSRF(), true)
			if r.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("POST /cart/items while %s is down: %d, want 503", outage.name, r.StatusCode)
			}
			if h := b.Get(t, c.URL, "/healthz", true); h.StatusCode != http.StatusOK {
				t.Errorf("/healthz while %s is down: %d, want 200 (the process is up)", outage.name, h.StatusCode)
			}

			outage.proxy.restart()
			for n := 1; n <= 2; n++ {
				waitStatus(t, c.ReplicaURL(n)+"/readyz", http.StatusOK, 15*time.Second)
			}
			// Recovered, and the refused add left no trace.
			for range 4 {
				if cart := b.Cart(t, c.URL); cart.Count != 1 {
					t.Errorf("cart after %s came back holds %d, want 1", outage.name, cart.Count)
				}
			}
		})
	}
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func replaceHost(t *testing.T, raw, hostport string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

// TestRevocationThroughNginx: an account signed in on two devices behind
// round-robin nginx; revoking one from the other refuses it on every
// replica at once, and a password change signs out the rest.
func TestRevocationThroughNginx(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			c := startCluster(t, clusterOptions{Store: store})
			email := testenv.RandomName("rev") + "@example.com"
			laptop, phone := testenv.NewBrowser(t), testenv.NewBrowser(t)
			if r := laptop.Post(t, c.URL, "/signup", url.Values{"email": {email}, "password": {"revocation"}}, laptop.Token(t, c.URL), false); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("signup: %d", r.StatusCode)
			}
			if r := phone.Post(t, c.URL, "/login", url.Values{"email": {email}, "password": {"revocation"}}, phone.Token(t, c.URL), false); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: %d", r.StatusCode)
			}
			var list struct {
				Sessions []struct {
					ID      string `json:"id"`
					Current bool   `json:"current"`
				} `json:"sessions"`
			}
			laptop.Get(t, c.URL, "/account/sessions", true).JSON(t, &list)
			if len(list.Sessions) != 2 {
				t.Fatalf("sessions = %+v, want 2", list.Sessions)
			}
			for _, s := range list.Sessions {
				if !s.Current {
					if r := laptop.Post(t, c.URL, "/account/sessions/"+s.ID+"/revoke", nil, laptop.CSRF(), true); r.StatusCode != http.StatusOK {
						t.Fatalf("revoke: %d %.200s", r.StatusCode, r.Body)
					}
				}
			}
			// Round robin sends the next three requests to three replicas:
			// every one refuses the revoked session.
			served := map[string]bool{}
			for range 3 {
				si := phone.Session(t, c.URL)
				served[si.Replica] = true
				if si.Authenticated {
					t.Errorf("the revoked phone is still signed in on %s", si.Replica)
				}
			}
			if len(served) != 3 {
				t.Errorf("checked on %v, want all 3 replicas", served)
			}
			tablet := testenv.NewBrowser(t)
			tablet.Post(t, c.URL, "/login", url.Values{"email": {email}, "password": {"revocation"}}, tablet.Token(t, c.URL), false)
			r := laptop.Post(t, c.URL, "/account/password", url.Values{"current_password": {"revocation"}, "password": {"a new password"}}, laptop.CSRF(), false)
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("change password: %d %.200s", r.StatusCode, r.Body)
			}
			for range 3 {
				if si := tablet.Session(t, c.URL); si.Authenticated {
					t.Errorf("the tablet survived the password change on %s", si.Replica)
				}
				if si := laptop.Session(t, c.URL); !si.Authenticated {
					t.Errorf("the laptop was signed out by its own password change on %s", si.Replica)
				}
			}
		})
	}
}
