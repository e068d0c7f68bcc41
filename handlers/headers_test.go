package handlers_test

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// TestHSTS: Strict-Transport-Security goes out only when HSTS_MAX_AGE is
// set and only on HTTPS requests: X-Forwarded-Proto: https counts only
// from a trusted proxy (the test client is 127.0.0.1, trusted by default).
func TestHSTS(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, base string, proto string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		return testenv.NewBrowser(t).Do(t, req).Header.Get("Strict-Transport-Security")
	}
	for _, tc := range []struct {
		name    string
		maxAge  time.Duration
		trusted bool
		proto   string
		want    string
	}{
		{"HTTPSFromTrustedProxy", 365 * 24 * time.Hour, true, "https", "max-age=31536000"},
		{"PlainHTTP", 365 * 24 * time.Hour, true, "", ""},
		{"ForwardedHTTP", 365 * 24 * time.Hour, true, "http", ""},
		{"HTTPSClaimedByUntrustedClient", 365 * 24 * time.Hour, false, "https", ""},
		{"OffByDefault", 0, true, "https", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, config.StorePostgres)
			b.tweak = func(c *config.Config) {
				c.HSTSMaxAge = tc.maxAge
				if !tc.trusted {
					_, n, _ := net.ParseCIDR("192.0.2.0/24")
					c.TrustedProxies = []*net.IPNet{n}
				}
			}
			s := startShop(t, b, "replica-a")
			if got := get(t, s.URL, tc.proto); got != tc.want {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAccountAndOrderPagesAreNotStored: account and order pages carry
// Cache-Control: no-store; the catalog does not.
func TestAccountAndOrderPagesAreNotStored(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		c := newClient(t)
		c.signup(t, s.URL, testenv.RandomName("nostore")+"@example.com", "a fine password")
		wantStatus(t, c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"1"}}, c.CSRF(), true), http.StatusOK)
		checkout := c.Post(t, s.URL, "/checkout", testAddress(), c.CSRF(), false)
		wantStatus(t, checkout, http.StatusSeeOther)
		order := checkout.Header.Get("Location")
		for _, path := range []string{"/account/sessions", "/account/password", "/orders", order} {
			for _, asJSON := range []bool{false, true} {
				r := c.Get(t, s.URL, path, asJSON)
				wantStatus(t, r, http.StatusOK)
				// The session may add no-cache="Set-Cookie"; no-store must be there.
				if got := strings.Join(r.Header.Values("Cache-Control"), ", "); !strings.Contains(got, "no-store") {
					t.Errorf("GET %s (JSON %v): Cache-Control = %q, want no-store", path, asJSON, got)
				}
			}
		}
		if got := c.Get(t, s.URL, "/", false).Header.Values("Cache-Control"); slices.Contains(got, "no-store") {
			t.Error("the catalog is no-store too; only account and order pages should be")
		}
	})
}
