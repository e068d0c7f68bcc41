package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/the-shop/shop/internal/config"
)

var metaToken = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// TestCSRFTokenIsMaskedPerPage: compressed pages must not repeat a secret
// (BREACH), so every page carries the session's CSRF token under a fresh
// mask; each masked copy, and the unmasked header, is accepted, and a
// tampered one is not.
func TestCSRFTokenIsMaskedPerPage(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		c := newClient(t)
		c.Token(t, s.URL) // starts the session
		first := c.Get(t, s.URL, "/", false)
		second := c.Get(t, s.URL, "/", false)
		m1, m2 := metaToken.FindStringSubmatch(first.Body), metaToken.FindStringSubmatch(second.Body)
		if m1 == nil || m2 == nil {
			t.Fatal("no csrf-token meta")
		}
		if m1[1] == m2[1] {
			t.Errorf("two pages carry the same token string %q", m1[1])
		}
		if raw := second.Header.Get("X-CSRF-Token"); raw == "" || raw == m2[1] {
			t.Errorf("X-CSRF-Token header = %q, want the unmasked token", raw)
		}
		add := url.Values{"product_id": {"1"}}
		for name, tok := range map[string]string{"FirstPage": m1[1], "SecondPage": m2[1], "Header": second.Header.Get("X-CSRF-Token")} {
			if r := c.Post(t, s.URL, "/cart/items", add, tok, true); r.StatusCode != http.StatusOK {
				t.Errorf("%s token: status %d, want 200", name, r.StatusCode)
			}
		}
		tampered := []byte(m2[1])
		tampered[len(tampered)-2] ^= 1
		wantError(t, c.Post(t, s.URL, "/cart/items", add, string(tampered), true), http.StatusForbidden, "invalid_csrf_token")
	})
}
