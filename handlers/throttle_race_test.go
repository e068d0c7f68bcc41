package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// These tests use the documented defaults: LOGIN_MAX_FAILURES 5,
// LOGIN_MAX_FAILURES_PER_IP 20, LOGIN_MAX_FAILURES_PER_DEVICE 5,
// PASSWORD_HASHES_PER_IP 60.

// postFrom posts form to path as browser c from the client address addr
// (X-Forwarded-For: httptest's peer is loopback, a trusted proxy), asking
// for JSON. It returns the transport error instead of failing, so that
// goroutines can call it.
func postFrom(t *testing.T, c *client, base, path, addr string, form url.Values) (response, error) {
	req := testenv.PostRequest(t, base, path, form, c.CSRF(), true)
	req.Header.Set("X-Forwarded-For", addr)
	return c.Try(req)
}

// apiTokenFrom asks POST /api/v1/tokens from addr, with no cookie jar.
func apiTokenFrom(base, addr, email, password string) (int, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/tokens", strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

func addr(i int) string { return fmt.Sprintf("203.0.113.%d", i%250+1) }

func wantRetryAfter(t *testing.T, r response, most int) {
	t.Helper()
	s, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || s < 1 || s > most {
		t.Errorf("Retry-After = %q, want 1 to %d seconds", r.Header.Get("Retry-After"), most)
	}
}

// TestLoginThrottleHoldsUnderConcurrency: 40 wrong passwords and the right
// one posted at once from 41 addresses through two replicas are checked at
// most LOGIN_MAX_FAILURES times in the window, through the form and through
// the API alike, and the right password among them does not reopen the
// window.
func TestLoginThrottleHoldsUnderConcurrency(t *testing.T) {
	const limit, storm = 5, 40
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			replicas := []*shop{startShop(t, b, "replica-a"), startShop(t, b, "replica-b")}
			for _, via := range []string{"Form", "API"} {
				t.Run(via, func(t *testing.T) {
					email := testenv.RandomName("storm") + "@example.com"
					newClient(t).signup(t, replicas[0].URL, email, "the right password")
					try := func(i int, password string) (int, error) {
						s := replicas[i%2]
						if via == "API" {
							return apiTokenFrom(s.URL, addr(i), email, password)
						}
						c := newClient(t)
						c.Token(t, s.URL)
						r, err := postFrom(t, c, s.URL, "/login", addr(i), url.Values{"email": {email}, "password": {password}})
						return r.StatusCode, err
					}
					var mu sync.Mutex
					statuses := map[int]int{}
					count := func(status int, err error) {
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							t.Error(err)
						}
						statuses[status]++
					}
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i := range storm + 1 {
						wg.Go(func() {
							pw := "a wrong guess"
							if i == storm/2 {
								pw = "the right password"
							}
							<-start
							count(try(i, pw))
						})
					}
					close(start)
					wg.Wait()
					inStorm := fmt.Sprint(statuses)
					for i := range 10 {
						count(try(storm+1+i, "another wrong guess"))
					}
					ok := statuses[http.StatusOK] + statuses[http.StatusSeeOther]
					t.Logf("%d at once then 10 more, limit %d: %d wrong ones checked (401), %d right (200/303), %d refused (429); storm alone %s",
						storm+1, limit, statuses[http.StatusUnauthorized], ok, statuses[http.StatusTooManyRequests], inStorm)
					if statuses[http.StatusUnauthorized] > limit || ok > 1 {
						t.Errorf("statuses %v: more than %d wrong passwords checked in one window", statuses, limit)
					}
				})
			}
		})
	}
}

// TestDeviceCookieKeepsTheOwnerIn: an attacker who pauses an account with
// wrong passwords does not lock out the owner's browser, which holds the
// device cookie of its last login; that cookie helps no other account,
// and a forged one counts for nothing.
func TestDeviceCookieKeepsTheOwnerIn(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			a, other := startShop(t, b, "replica-a"), startShop(t, b, "replica-b")
			email, email2 := testenv.RandomName("owner")+"@example.com", testenv.RandomName("second")+"@example.com"
			newClient(t).signup(t, a.URL, email2, "second password")
			owner := newClient(t)
			owner.signup(t, a.URL, email, "the owner's password")
			wantStatus(t, owner.Post(t, a.URL, "/logout", nil, owner.CSRF(), false), http.StatusSeeOther)
			r, _ := postFrom(t, owner, a.URL, "/login", "198.51.100.7", url.Values{"email": {email}, "password": {"the owner's password"}})
			wantStatus(t, r, http.StatusOK)
			var set *http.Cookie
			for _, ck := range r.Cookies() {
				if ck.Name == "device" {
					set = ck
				}
			}
			if set == nil {
				t.Fatal("a successful login set no device cookie")
			}
			if !set.HttpOnly || set.SameSite != http.SameSiteStrictMode || set.MaxAge <= 0 {
				t.Errorf("device cookie %v: want HttpOnly, SameSite=Strict, a Max-Age", set)
			}
			wantStatus(t, owner.Post(t, a.URL, "/logout", nil, owner.CSRF(), false), http.StatusSeeOther)
			cookie := owner.Cookie("device")

			attacker := newClient(t)
			attacker.Token(t, a.URL)
			for _, victim := range []string{email, email2} {
				for i := range 5 {
					r, _ := postFrom(t, attacker, []string{a.URL, other.URL}[i%2], "/login", "192.0.2.66", url.Values{"email": {victim}, "password": {"a wrong guess"}})
					wantError(t, r, http.StatusUnauthorized, "invalid_credentials")
				}
			}
			r, _ = postFrom(t, attacker, other.URL, "/login", "192.0.2.67", url.Values{"email": {email}, "password": {"the owner's password"}})
			wantError(t, r, http.StatusTooManyRequests, "too_many_login_failures")
			wantRetryAfter(t, r, 15*60)

			t.Run("OwnersBrowserGetsIn", func(t *testing.T) {
				// From the attacker's own address, on the other replica.
				r, _ := postFrom(t, owner, other.URL, "/login", "192.0.2.66", url.Values{"email": {email}, "password": {"the owner's password"}})
				wantStatus(t, r, http.StatusOK)
				if !owner.Session(t, a.URL).Authenticated {
					t.Error("the owner is not logged in")
				}
			})
			t.Run("DoesNotHelpAnotherAccount", func(t *testing.T) {
				c := newClient(t)
				c.SetCookie("device", cookie)
				c.Token(t, a.URL)
				r, _ := postFrom(t, c, a.URL, "/login", "198.51.100.7", url.Values{"email": {email2}, "password": {"second password"}})
				wantError(t, r, http.StatusTooManyRequests, "too_many_login_failures")
			})
			t.Run("ForgedCookieDoesNotCount", func(t *testing.T) {
				for _, forged := range []string{
					cookie[:len(cookie)-3] + "AAA",
					strings.Replace(cookie, cookie[:10], "9999999999", 1),
					"1999999999:AAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
				} {
					c := newClient(t)
					c.SetCookie("device", forged)
					c.Token(t, a.URL)
					r, _ := postFrom(t, c, a.URL, "/login", "198.51.100.8", url.Values{"email": {email}, "password": {"the owner's password"}})
					wantError(t, r, http.StatusTooManyRequests, "too_many_login_failures")
				}
			})
		})
	}
}

// TestPasswordChangeIsThrottled: the current-password check of
// POST /account/password is a password guess like a login's: after
// LOGIN_MAX_FAILURES wrong ones even the right one is refused, with a
// clear 429, and the password stays as it was.
func TestPasswordChangeIsThrottled(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			a, other := startShop(t, b, "replica-a"), startShop(t, b, "replica-b")
			email := testenv.RandomName("chg") + "@example.com"
			c := newClient(t)
			c.signup(t, a.URL, email, "the old password")
			for i := range 5 {
				r, _ := postFrom(t, c, []string{a.URL, other.URL}[i%2], "/account/password", addr(i),
					url.Values{"current_password": {"a wrong guess"}, "password": {"a new password"}})
				wantError(t, r, http.StatusUnprocessableEntity, "wrong_password")
			}
			r, _ := postFrom(t, c, a.URL, "/account/password", addr(9), url.Values{"current_password": {"the old password"}, "password": {"a new password"}})
			e := wantError(t, r, http.StatusTooManyRequests, "too_many_password_failures")
			if !strings.Contains(e.Error.Message, "try again in 15 minutes") {
				t.Errorf("message %q does not say when to try again", e.Error.Message)
			}
			wantRetryAfter(t, r, 15*60)
			d := newClient(t)
			d.Token(t, a.URL)
			r, _ = postFrom(t, d, other.URL, "/login", addr(10), url.Values{"email": {email}, "password": {"the old password"}})
			wantStatus(t, r, http.StatusOK)
		})
	}
}

// TestPasswordHashingIsBoundedPerAddress: sign-ups, logins and API tokens
// from one address share a budget of PASSWORD_HASHES_PER_IP bcrypt
// operations a minute, counted in the shared store across replicas; past
// it they get 429 with Retry-After, while other addresses go on.
func TestPasswordHashingIsBoundedPerAddress(t *testing.T) {
	const budget = 60
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			b.tweak = func(c *config.Config) { c.PasswordHashesPerIP = budget }
			replicas := []*shop{startShop(t, b, "replica-a"), startShop(t, b, "replica-b")}
			from := "198.51.100.99"
			signup := func(i int, ip string) response {
				c := newClient(t)
				c.Token(t, replicas[i%2].URL)
				r, err := postFrom(t, c, replicas[i%2].URL, "/signup", ip,
					url.Values{"email": {testenv.RandomName("h") + "@example.com"}, "password": {"a password"}})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			hashed := 0
			for i := range budget + 5 {
				r := signup(i, from)
				if r.StatusCode != http.StatusOK {
					wantError(t, r, http.StatusTooManyRequests, "too_many_password_checks")
					wantRetryAfter(t, r, 60)
					break
				}
				hashed++
			}
			t.Logf("sign-ups hashed from one address before a refusal: %d (budget %d a minute)", hashed, budget)
			if hashed != budget {
				t.Fatalf("%d sign-ups hashed from one address, want %d", hashed, budget)
			}
			if status, err := apiTokenFrom(replicas[1].URL, from, "nobody@example.com", "whatever"); err != nil || status != http.StatusTooManyRequests {
				t.Errorf("API token from the address past its budget: %d, %v; want 429", status, err)
			}
			wantStatus(t, signup(0, "198.51.100.100"), http.StatusOK)
		})
	}
}
