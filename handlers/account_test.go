package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/testenv"
)

type sessionsList struct {
	Sessions []struct {
		ID        string `json:"id"`
		Device    string `json:"device"`
		IP        string `json:"ip"`
		CreatedAt string `json:"created_at"`
		LastSeen  string `json:"last_seen"`
		Replica   string `json:"replica"`
		Current   bool   `json:"current"`
	} `json:"sessions"`
}

func (c *client) sessions(t *testing.T, base string) sessionsList {
	t.Helper()
	r := c.Get(t, base, "/account/sessions", true)
	wantStatus(t, r, http.StatusOK)
	var v sessionsList
	r.JSON(t, &v)
	return v
}

// loginAs logs a fresh browser in with a given User-Agent.
func loginAs(t *testing.T, base, email, password, userAgent string) *client {
	t.Helper()
	c := newClient(t)
	req := testenvPost(t, base, "/login", url.Values{"email": {email}, "password": {password}}, c.Token(t, base))
	req.Header.Set("User-Agent", userAgent)
	wantStatus(t, c.Do(t, req), http.StatusSeeOther)
	return c
}

func testenvPost(t *testing.T, base, path string, form url.Values, csrf string) *http.Request {
	t.Helper()
	return testenv.PostRequest(t, base, path, form, csrf, false)
}

func TestAccountSessions(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			a, other := startShop(t, b, "replica-a"), startShop(t, b, "replica-b")
			email := testenv.RandomName("ses") + "@example.com"
			newClient(t).signup(t, a.URL, email, "first password")
			laptop := loginAs(t, a.URL, email, "first password", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
			phone := loginAs(t, other.URL, email, "first password", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1")

			t.Run("ListsLiveSessionsAcrossReplicas", func(t *testing.T) {
				got := laptop.sessions(t, a.URL).Sessions
				// The signup session is live too: three in all.
				if len(got) != 3 {
					t.Fatalf("sessions = %+v, want 3", got)
				}
				if !got[0].Current || got[0].Device != "Firefox on Linux" || got[0].Replica != "replica-a" || got[0].IP != "127.0.0.1" {
					t.Errorf("first (current) session = %+v", got[0])
				}
				devices := map[string]string{}
				for _, s := range got {
					devices[s.Device] = s.Replica
					if s.CreatedAt == "" || s.LastSeen == "" || s.ID == "" {
						t.Errorf("incomplete session %+v", s)
					}
					if strings.Contains(s.ID, laptop.Cookie("session")) {
						t.Error("the list shows a cookie token")
					}
				}
				if devices["Safari on iPhone"] != "replica-b" {
					t.Errorf("the phone's session is not listed as served by replica-b: %v", devices)
				}
				page := laptop.Get(t, a.URL, "/account/sessions", false)
				for _, want := range []string{"Firefox on Linux", "Safari on iPhone", "This device", "Log out all other sessions", "replica-b"} {
					if !strings.Contains(page.Body, want) {
						t.Errorf("sessions page lacks %q", want)
					}
				}
			})

			t.Run("RevokedSessionIsRefusedOnEveryReplica", func(t *testing.T) {
				var phoneID string
				for _, s := range laptop.sessions(t, other.URL).Sessions {
					if s.Device == "Safari on iPhone" {
						phoneID = s.ID
					}
				}
				r := laptop.Post(t, a.URL, "/account/sessions/"+phoneID+"/revoke", nil, laptop.CSRF(), false)
				wantStatus(t, r, http.StatusSeeOther)
				for _, s := range []*shop{a, other} {
					if phone.Session(t, s.URL).Authenticated {
						t.Errorf("the revoked phone is still signed in on %s", s.URL)
					}
				}
				if !laptop.Session(t, other.URL).Authenticated {
					t.Error("revoking the phone signed the laptop out")
				}
				wantError(t, laptop.Post(t, a.URL, "/account/sessions/"+phoneID+"/revoke", nil, laptop.CSRF(), true), http.StatusNotFound, "session_not_found")
			})

			t.Run("CannotRevokeAnotherAccountsSession", func(t *testing.T) {
				stranger := newClient(t)
				stranger.signup(t, a.URL, testenv.RandomName("str")+"@example.com", "stranger pass")
				victim := laptop.sessions(t, a.URL).Sessions[0].ID
				wantError(t, stranger.Post(t, a.URL, "/account/sessions/"+victim+"/revoke", nil, stranger.CSRF(), true), http.StatusNotFound, "session_not_found")
				if !laptop.Session(t, a.URL).Authenticated {
					t.Error("another account revoked the laptop's session")
				}
			})

			t.Run("RevokeOthersKeepsOnlyThisOne", func(t *testing.T) {
				tablet := loginAs(t, other.URL, email, "first password", "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile")
				wantStatus(t, laptop.Post(t, a.URL, "/account/sessions/revoke-others", nil, laptop.CSRF(), false), http.StatusSeeOther)
				if got := laptop.sessions(t, a.URL).Sessions; len(got) != 1 || !got[0].Current {
					t.Errorf("after revoke-others: %+v", got)
				}
				if tablet.Session(t, other.URL).Authenticated {
					t.Error("the tablet survived revoke-others")
				}
			})

			t.Run("PasswordChangeRevokesOthersAndRenewsToken", func(t *testing.T) {
				desktop := loginAs(t, other.URL, email, "first password", "Mozilla/5.0 (Windows NT 10.0) Edg/126.0")
				e := wantError(t, laptop.Post(t, a.URL, "/account/password", url.Values{"current_password": {"wrong"}, "password": {"second password"}}, laptop.CSRF(), true),
					http.StatusUnprocessableEntity, "wrong_password")
				if e.Error.Fields["current_password"] == "" {
					t.Error("no error on current_password")
				}
				wantError(t, laptop.Post(t, a.URL, "/account/password", url.Values{"current_password": {"first password"}, "password": {"short"}}, laptop.CSRF(), true),
					http.StatusUnprocessableEntity, "invalid_signup")
				before := laptop.Cookie("session")
				r := laptop.Post(t, a.URL, "/account/password", url.Values{"current_password": {"first password"}, "password": {"second password"}}, laptop.CSRF(), false)
				wantStatus(t, r, http.StatusSeeOther)
				if desktop.Session(t, a.URL).Authenticated {
					t.Error("the desktop survived the password change")
				}
				if after := laptop.Cookie("session"); after == before || !laptop.Session(t, other.URL).Authenticated {
					t.Error("the password change did not renew the token, or signed this session out")
				}
				replay := newClient(t)
				replay.SetCookie("session", before)
				if replay.Session(t, a.URL).Authenticated {
					t.Error("the token from before the password change still works")
				}
				fresh := newClient(t)
				wantError(t, fresh.Post(t, a.URL, "/login", url.Values{"email": {email}, "password": {"first password"}}, fresh.Token(t, a.URL), true),
					http.StatusUnauthorized, "invalid_credentials")
			})

			t.Run("GuestsAreSentToLogin", func(t *testing.T) {
				g := newClient(t)
				r := g.Get(t, a.URL, "/account/sessions", false)
				wantStatus(t, r, http.StatusSeeOther)
				if loc := r.Header.Get("Location"); loc != "/login?next=%2Faccount%2Fsessions" {
					t.Errorf("Location = %q", loc)
				}
				wantError(t, g.Get(t, a.URL, "/account/sessions", true), http.StatusUnauthorized, "login_required")
			})
		})
	}
}

// TestStoreWritesPerPageViews measures what the touch interval saves: 100
// page views of a signed-in user cost one store write per view when every
// request extends the expiry (scs's behaviour with an idle timeout), and
// none within the touch interval.
func TestStoreWritesPerPageViews(t *testing.T) {
	for _, kind := range stores {
		for _, tc := range []struct {
			name     string
			interval time.Duration
			max      int
		}{
			{"EveryRequest", 0, 100},
			{"TouchInterval1m", time.Minute, 0},
		} {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				b := newBackend(t, kind)
				b.tweak = func(c *config.Config) { c.SessionTouchInterval = tc.interval }
				b.metrics = metrics.New()
				s := startShop(t, b, "replica-a")
				c := newClient(t)
				c.signup(t, s.URL, testenv.RandomName("w")+"@example.com", "password123")
				c.Get(t, s.URL, "/", false) // shows (and clears) the welcome flash
				sessionWrites := func() int {
					ops := storeOps(t, b.metrics)
					return int(ops["session commit"] + ops["session touch"])
				}
				before := sessionWrites()
				for range 100 {
					wantStatus(t, c.Get(t, s.URL, "/cart", false), http.StatusOK)
				}
				writes := sessionWrites() - before
				t.Logf("%s, touch interval %v: %d store writes per 100 page views", kind, tc.interval, writes)
				if writes != tc.max {
					t.Errorf("%d store writes per 100 page views, want %d", writes, tc.max)
				}
			})
		}
	}
}

// TestSecureCookieOverHTTPS: behind a proxy that says the request came over
// HTTPS, the session cookie is Secure even without SESSION_COOKIE_SECURE.
func TestSecureCookieOverHTTPS(t *testing.T) {
	s := startShop(t, newBackend(t, config.StoreRedis), "replica-a")
	for _, tc := range []struct{ proto, name string }{{"", "session"}, {"https", "__Host-session"}} {
		// A page, then a form post and a read-back, all through the same
		// scheme, as a browser behind one proxy does.
		send := func(req *http.Request, cookie *http.Cookie) response {
			if tc.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if cookie != nil {
				req.AddCookie(cookie)
			}
			return testenv.NewBrowser(t).Do(t, req)
		}
		cookieOf := func(r response) *http.Cookie {
			var found *http.Cookie
			for _, ck := range r.Cookies() {
				if strings.Contains(ck.Name, "session") {
					if found != nil {
						t.Errorf("X-Forwarded-Proto %q: two session cookies", tc.proto)
					}
					found = ck
				}
			}
			return found
		}
		page := send(testenv.GetRequest(t, s.URL, "/", false), nil)
		ck := cookieOf(page)
		if ck == nil || ck.Name != tc.name || ck.Secure != (tc.proto == "https") || ck.Path != "/" || ck.Domain != "" {
			t.Fatalf("X-Forwarded-Proto %q: session cookie %+v; want %s, Secure=%v, Path=/", tc.proto, ck, tc.name, tc.proto == "https")
		}
		token := page.Header.Get("X-CSRF-Token")
		add := send(testenv.PostRequest(t, s.URL, "/cart/items", url.Values{"product_id": {"1"}}, token, true), ck)
		wantStatus(t, add, http.StatusOK)
		// The first write stores the session under the token the page
		// minted: the browser's cookie stays as it is.
		if c := cookieOf(add); c != nil {
			t.Errorf("X-Forwarded-Proto %q: the first write set the cookie again: %+v", tc.proto, c)
		}
		var v testenv.Cart
		send(testenv.GetRequest(t, s.URL, "/cart", true), ck).JSON(t, &v)
		if v.Count != 1 {
			t.Errorf("X-Forwarded-Proto %q: the cart read back holds %d items, want 1", tc.proto, v.Count)
		}
	}
}
