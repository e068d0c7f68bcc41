package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// TestLoginThrottling: failed logins count across replicas (they share the
// store), a paused account is refused even with the right password, with a
// clear 429, and other accounts are not affected.
func TestLoginThrottling(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			b.tweak = func(c *config.Config) { c.LoginMaxFailures = 3 }
			a, other := startShop(t, b, "replica-a"), startShop(t, b, "replica-b")
			email := testenv.RandomName("thr") + "@example.com"
			newClient(t).signup(t, a.URL, email, "the right password")

			c := newClient(t)
			for i, s := range []*shop{a, other, a} {
				wantError(t, c.Post(t, s.URL, "/login", url.Values{"email": {email}, "password": {"a wrong guess"}}, c.Token(t, s.URL), true),
					http.StatusUnauthorized, "invalid_credentials")
				_ = i
			}
			e := wantError(t, c.Post(t, other.URL, "/login", url.Values{"email": {email}, "password": {"the right password"}}, c.CSRF(), true),
				http.StatusTooManyRequests, "too_many_login_failures")
			if !strings.Contains(e.Error.Message, "try again in 15 minutes") {
				t.Errorf("message %q does not say when to try again", e.Error.Message)
			}
			page := c.Post(t, a.URL, "/login", url.Values{"email": {email}, "password": {"the right password"}}, c.CSRF(), false)
			wantStatus(t, page, http.StatusTooManyRequests)
			if !strings.Contains(page.Body, "Too many failed logins") || !strings.Contains(page.Body, email) {
				t.Error("the login page does not explain the pause or keep the email")
			}
			if c.Session(t, a.URL).Authenticated {
				t.Error("a paused account logged in")
			}
			// Another account from elsewhere logs in as usual.
			email2 := testenv.RandomName("ok") + "@example.com"
			newClient(t).signup(t, a.URL, email2, "another password")
			d := newClient(t)
			wantStatus(t, d.Post(t, other.URL, "/login", url.Values{"email": {email2}, "password": {"another password"}}, d.Token(t, other.URL), false), http.StatusSeeOther)
		})
	}
}
