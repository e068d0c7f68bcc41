package handlers_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// TestAnonymousWritesAreLimited: a visitor without a login gets
// ANON_WRITES_PER_MINUTE unsafe requests per address, counted across
// replicas in the store; then 429 with Retry-After, as JSON and as a page.
// Reads, other addresses and signed-in shoppers go on.
func TestAnonymousWritesAreLimited(t *testing.T) {
	const limit = 5
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			b.tweak = func(c *config.Config) { c.AnonWritesPerMinute = limit }
			replicas := []*shop{startShop(t, b, "replica-a"), startShop(t, b, "replica-b")}
			// The test client is 127.0.0.1, a trusted proxy: X-Forwarded-For
			// names the address, a fresh one per client (the database is
			// shared by the package's tests).
			post := func(c *client, base, path string, form url.Values, ip string, asJSON bool) response {
				t.Helper()
				req := testenv.PostRequest(t, base, path, form, c.Token(t, base), asJSON)
				req.Header.Set("X-Forwarded-For", ip)
				return c.Do(t, req)
			}
			add := url.Values{"product_id": {"1"}}

			guest, ip := newClient(t), randomIP()
			for i := range limit {
				wantStatus(t, post(guest, replicas[i%2].URL, "/cart/items", add, ip, true), http.StatusOK)
			}
			r := post(guest, replicas[1].URL, "/cart/items", add, ip, true)
			wantError(t, r, http.StatusTooManyRequests, "too_many_requests")
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Errorf("Retry-After = %q, want 1 to 60 seconds", r.Header.Get("Retry-After"))
			}
			page := post(guest, replicas[0].URL, "/cart/items", add, ip, false)
			wantStatus(t, page, http.StatusTooManyRequests)
			if !strings.Contains(page.Body, "<html") || page.Header.Get("Retry-After") == "" {
				t.Error("an HTML client did not get a 429 page with Retry-After")
			}
			if got := guest.Cart(t, replicas[0].URL).Quantities()["1"]; got != limit {
				t.Errorf("cart holds %d, want the %d adds that were allowed", got, limit)
			}
			// Reads are not limited; another address is not either.
			wantStatus(t, guest.Get(t, replicas[0].URL, "/", false), http.StatusOK)
			wantStatus(t, post(newClient(t), replicas[0].URL, "/cart/items", add, randomIP(), true), http.StatusOK)

			// A signed-in shopper is not limited (the sign-up itself counts).
			member, ip2 := newClient(t), randomIP()
			email := testenv.RandomName("rate") + "@example.com"
			wantStatus(t, post(member, replicas[0].URL, "/signup", url.Values{"email": {email}, "password": {"a fine password"}}, ip2, false), http.StatusSeeOther)
			for i := range 2 * limit {
				wantStatus(t, post(member, replicas[i%2].URL, "/cart/items", add, ip2, true), http.StatusOK)
			}
			// This machine itself (no forwarded address) is not limited.
			local := newClient(t)
			for range 2 * limit {
				wantStatus(t, local.Post(t, replicas[0].URL, "/cart/items", add, local.Token(t, replicas[0].URL), true), http.StatusOK)
			}
		})
	}
}

// randomIP returns an address from 2001:db8::/32 (documentation) that no
// other test uses.
func randomIP() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("2001:db8::%x:%x:%x", b[0:2], b[2:4], b[4:6])
}
