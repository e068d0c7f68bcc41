package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// mailBackend is a backend whose replicas send through a Mailpit of the
// test's own, with links to PUBLIC_URL http://shop.test.
func mailBackend(t *testing.T, kind config.Kind, tweak func(*config.Config)) (*backend, *testenv.Mailpit) {
	t.Helper()
	mp := testenv.MustMailpit(t)
	b := newBackend(t, kind)
	b.tweak = func(c *config.Config) {
		c.SMTPURL = mp.SMTPURL
		c.PublicURL = "http://shop.test"
		c.MailPollInterval = 100 * time.Millisecond
		if tweak != nil {
			tweak(c)
		}
	}
	return b, mp
}

// mailPath is the path and query of the link in ml whose path starts with
// prefix: the test follows it on its own shop's address.
func mailPath(t *testing.T, ml testenv.Mail, prefix string) string {
	t.Helper()
	link := ml.Link(prefix)
	if link == "" {
		t.Fatalf("mail %q has no link to %s:\n%s", ml.Subject, prefix, ml.Text)
	}
	u, err := url.Parse(link)
	if err != nil || u.Host != "shop.test" {
		t.Fatalf("link %q: want one on PUBLIC_URL http://shop.test", link)
	}
	return u.RequestURI()
}

const mailWait = 15 * time.Second

func TestPasswordReset(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b, mp := mailBackend(t, kind, nil)
			a, other := startShop(t, b, "replica-a"), startShop(t, b, "replica-b")
			email := testenv.RandomName("reset") + "@example.com"
			newClient(t).signup(t, a.URL, email, "old password")
			phone := loginAs(t, other.URL, email, "old password", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1")
			token := apiToken(t, a.URL, email, "old password")

			t.Run("TheLoginPageLinksToIt", func(t *testing.T) {
				if page := newClient(t).Get(t, a.URL, "/login", false); !strings.Contains(page.Body, `href="/password/forgot"`) {
					t.Error("the login page has no Forgot password? link")
				}
			})

			t.Run("SameAnswerWhetherOrNotTheEmailExists", func(t *testing.T) {
				var bodies []string
				for _, addr := range []string{email, testenv.RandomName("nobody") + "@example.com"} {
					c := newClient(t)
					r := c.Post(t, a.URL, "/password/forgot", url.Values{"email": {addr}}, c.Token(t, a.URL), false)
					wantStatus(t, r, http.StatusSeeOther)
					if loc := r.Header.Get("Location"); loc != "/login" {
						t.Errorf("Location = %q, want /login", loc)
					}
					page := c.Get(t, a.URL, "/login", false)
					if !strings.Contains(page.Body, "If an account exists for that email") {
						t.Errorf("the login page after a request for %s does not say the one answer", addr)
					}
					j := c.Post(t, a.URL, "/password/forgot", url.Values{"email": {addr}}, c.CSRF(), true)
					wantStatus(t, j, http.StatusOK)
					bodies = append(bodies, j.Body)
				}
				if bodies[0] != bodies[1] {
					t.Errorf("JSON answers differ: %q vs %q", bodies[0], bodies[1])
				}
			})

			t.Run("TheLinkSetsTheNewPasswordOnceAndEndsEverySessionAndToken", func(t *testing.T) {
				// Two requests were made above: only the newest link works.
				first := mp.WaitMail(t, email, "Reset your password", 1, mailWait)
				latest := mp.WaitMail(t, email, "Reset your password", 2, mailWait)
				c := newClient(t)
				old := c.Get(t, a.URL, mailPath(t, first, "/password/reset"), false)
				wantStatus(t, old, http.StatusUnprocessableEntity)
				if !strings.Contains(old.Body, "not valid any more") || !strings.Contains(old.Body, `href="/password/forgot"`) {
					t.Errorf("a replaced link's page does not say so and offer a new one:\n%.800s", old.Body)
				}
				path := mailPath(t, latest, "/password/reset")
				form := c.Get(t, other.URL, path, false)
				wantStatus(t, form, http.StatusOK)
				if cc := form.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("reset page Cache-Control = %q, want no-store", cc)
				}
				tok, _ := url.ParseQuery(strings.SplitN(path, "?", 2)[1])
				short := c.Post(t, other.URL, "/password/reset", url.Values{"token": tok["token"], "password": {"short"}}, c.CSRF(), true)
				if e := wantError(t, short, http.StatusUnprocessableEntity, "invalid_signup"); e.Error.Fields["password"] == "" {
					t.Errorf("a short password's error names no field: %+v", e)
				}
				r := c.Post(t, other.URL, "/password/reset", url.Values{"token": tok["token"], "password": {"new password"}}, c.CSRF(), false)
				wantStatus(t, r, http.StatusSeeOther)
				if loc := r.Header.Get("Location"); loc != "/account/sessions" {
					t.Errorf("Location = %q, want /account/sessions", loc)
				}
				if !c.Session(t, a.URL).Authenticated {
					t.Error("the browser that reset the password is not signed in")
				}
				if phone.Session(t, a.URL).Authenticated || phone.Session(t, other.URL).Authenticated {
					t.Error("a session from before the reset still works")
				}
				wantError(t, apiCall(t, http.MethodGet, a.URL, "/api/v1/cart", token, ""), http.StatusUnauthorized, "invalid_token")
				if got := c.sessions(t, a.URL).Sessions; len(got) != 1 || !got[0].Current {
					t.Errorf("sessions after the reset = %+v, want only this one", got)
				}
				again := newClient(t)
				wantError(t, again.Post(t, a.URL, "/password/reset", url.Values{"token": tok["token"], "password": {"third password"}}, again.Token(t, a.URL), true),
					http.StatusUnprocessableEntity, "invalid_reset_token")
				wantError(t, again.Post(t, a.URL, "/login", url.Values{"email": {email}, "password": {"old password"}}, again.CSRF(), true),
					http.StatusUnauthorized, "invalid_credentials")
				apiToken(t, a.URL, email, "new password")
			})

			t.Run("ALinkExpiresAfterAnHour", func(t *testing.T) {
				c := newClient(t)
				wantStatus(t, c.Post(t, a.URL, "/password/forgot", url.Values{"email": {email}}, c.Token(t, a.URL), false), http.StatusSeeOther)
				ml := mp.WaitMail(t, email, "Reset your password", 3, mailWait)
				if _, err := b.db.Exec(context.Background(), `UPDATE account_tokens SET expires_at = now() - interval '1 second'
					WHERE user_id = (SELECT id FROM users WHERE email = $1)`, email); err != nil {
					t.Fatal(err)
				}
				path := mailPath(t, ml, "/password/reset")
				wantStatus(t, c.Get(t, a.URL, path, false), http.StatusUnprocessableEntity)
				tok, _ := url.ParseQuery(strings.SplitN(path, "?", 2)[1])
				wantError(t, c.Post(t, a.URL, "/password/reset", url.Values{"token": tok["token"], "password": {"third password"}}, c.CSRF(), true),
					http.StatusUnprocessableEntity, "invalid_reset_token")
			})
		})
	}
}

func TestPasswordResetThrottle(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b, mp := mailBackend(t, kind, func(c *config.Config) { c.PasswordResetsPerHour = 2; c.PasswordResetsPerIP = 4 })
			a := startShop(t, b, "replica-a")
			email := testenv.RandomName("thr") + "@example.com"
			newClient(t).signup(t, a.URL, email, "a password")
			c := newClient(t)
			// Per account: past the limit the answer stays the same and
			// no mail goes (a refusal would tell the account exists).
			for range 3 {
				wantStatus(t, c.Post(t, a.URL, "/password/forgot", url.Values{"email": {strings.ToUpper(email)}}, c.Token(t, a.URL), true), http.StatusOK)
			}
			mp.WaitMail(t, email, "Reset your password", 2, mailWait)
			time.Sleep(time.Second)
			if n := len(mp.Messages(t, email)); n != 3 { // the verification mail and 2 resets
				t.Errorf("%d mails to the account, want 3 (verification + 2 resets)", n)
			}
			// Per address: the 5th request from one address is refused,
			// for any email.
			wantStatus(t, c.Post(t, a.URL, "/password/forgot", url.Values{"email": {"someone@example.com"}}, c.CSRF(), true), http.StatusOK)
			r := c.Post(t, a.URL, "/password/forgot", url.Values{"email": {"other@example.com"}}, c.CSRF(), true)
			wantError(t, r, http.StatusTooManyRequests, "too_many_reset_requests")
			if r.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
}

func TestEmailVerificationAndNewDeviceMail(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b, mp := mailBackend(t, kind, nil)
			a := startShop(t, b, "replica-a")
			email := testenv.RandomName("ver") + "@example.com"
			home := newClient(t)
			home.signup(t, a.URL, email, "a password")
			verified := func(c *client) bool {
				var v struct {
					EmailVerified *bool `json:"email_verified"`
				}
				r := c.Get(t, a.URL, "/account/sessions", true)
				wantStatus(t, r, http.StatusOK)
				r.JSON(t, &v)
				if v.EmailVerified == nil {
					t.Fatal("no email_verified in the sessions JSON")
				}
				return *v.EmailVerified
			}

			t.Run("AnUnverifiedAccountShopsAndChecksOut", func(t *testing.T) {
				if verified(home) {
					t.Fatal("a new account is verified")
				}
				page := home.Get(t, a.URL, "/account/sessions", false)
				if !strings.Contains(page.Body, "Not confirmed yet") || !strings.Contains(page.Body, `action="/account/verify/resend"`) {
					t.Error("the account page does not show the state and a resend button")
				}
				wantStatus(t, home.Post(t, a.URL, "/cart/items", url.Values{"product_id": {"1"}}, home.CSRF(), false), http.StatusSeeOther)
				wantStatus(t, home.Post(t, a.URL, "/checkout", nil, home.CSRF(), false), http.StatusSeeOther)
			})

			t.Run("ResendReplacesTheLinkAndTheLinkVerifies", func(t *testing.T) {
				first := mp.WaitMail(t, email, "Confirm your email", 1, mailWait)
				wantStatus(t, home.Post(t, a.URL, "/account/verify/resend", nil, home.CSRF(), false), http.StatusSeeOther)
				second := mp.WaitMail(t, email, "Confirm your email", 2, mailWait)
				// The replaced link does nothing (and says so).
				r := home.Get(t, a.URL, mailPath(t, first, "/account/verify"), false)
				wantStatus(t, r, http.StatusSeeOther)
				if verified(home) {
					t.Fatal("a replaced link verified the email")
				}
				// Opened in another browser, not signed in.
				other := newClient(t)
				wantStatus(t, other.Get(t, a.URL, mailPath(t, second, "/account/verify"), false), http.StatusSeeOther)
				if !verified(home) {
					t.Fatal("the link did not verify the email")
				}
				if page := home.Get(t, a.URL, "/account/sessions", false); !strings.Contains(page.Body, `data-email-state="verified"`) {
					t.Error("the account page does not show the email confirmed")
				}
			})

			t.Run("ANewDeviceSignInMailsTheOwnerOnce", func(t *testing.T) {
				ua := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1"
				phone := loginAs(t, a.URL, email, "a password", ua)
				ml := mp.WaitMail(t, email, "New sign-in", 1, mailWait)
				for _, want := range []string{"Safari on iPhone", "127.0.0.1", "UTC"} {
					if !strings.Contains(ml.Text, want) {
						t.Errorf("the mail lacks %q:\n%s", want, ml.Text)
					}
				}
				if mailPath(t, ml, "/account/sessions") != "/account/sessions" {
					t.Error("no link to the sessions page")
				}
				// The same browser again, and the sign-up browser: known.
				wantStatus(t, phone.Post(t, a.URL, "/logout", nil, phone.CSRF(), false), http.StatusSeeOther)
				wantStatus(t, phone.Post(t, a.URL, "/login", url.Values{"email": {email}, "password": {"a password"}}, phone.CSRF(), false), http.StatusSeeOther)
				wantStatus(t, home.Post(t, a.URL, "/logout", nil, home.CSRF(), false), http.StatusSeeOther)
				wantStatus(t, home.Post(t, a.URL, "/login", url.Values{"email": {email}, "password": {"a password"}}, home.CSRF(), false), http.StatusSeeOther)
				time.Sleep(time.Second)
				n := 0
				for _, m := range mp.Messages(t, email) {
					if strings.Contains(m.Subject, "New sign-in") {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d new-device mails, want 1 (known browsers are not new)", n)
				}
			})
		})
	}
}

func TestDeleteAccount(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			a, other := startShop(t, b, "replica-a"), startShop(t, b, "replica-b")
			email := testenv.RandomName("del") + "@example.com"
			c := newClient(t)
			c.signup(t, a.URL, email, "a password")
			wantStatus(t, c.Post(t, a.URL, "/cart/items", url.Values{"product_id": {"1"}}, c.CSRF(), false), http.StatusSeeOther)
			// An order shipped to an address, which the account also keeps.
			address := url.Values{"name": {"Del Eted"}, "line1": {"1 Gone Street"}, "postal_code": {"12345"}, "city": {"Nowhere"}, "country": {"Germany"}}
			placed := c.Post(t, a.URL, "/checkout", address, c.CSRF(), false)
			wantStatus(t, placed, http.StatusSeeOther)
			if loc := placed.Header.Get("Location"); !strings.HasPrefix(loc, "/orders/") {
				t.Fatalf("checkout went to %q, want the order", loc)
			}
			wantStatus(t, c.Post(t, a.URL, "/cart/items", url.Values{"product_id": {"2"}, "quantity": {"3"}}, c.CSRF(), false), http.StatusSeeOther)
			phone := loginAs(t, other.URL, email, "a password", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1")
			token := apiToken(t, a.URL, email, "a password")
			var uid int64
			if err := b.db.QueryRow(context.Background(), `SELECT id FROM users WHERE email = $1`, email).Scan(&uid); err != nil {
				t.Fatal(err)
			}

			t.Run("AsksForThePassword", func(t *testing.T) {
				page := c.Get(t, a.URL, "/account/delete", false)
				wantStatus(t, page, http.StatusOK)
				if !strings.Contains(page.Body, `<label for="password">`) {
					t.Error("the delete page has no labelled password field")
				}
				e := wantError(t, c.Post(t, a.URL, "/account/delete", url.Values{"password": {"wrong password"}}, c.CSRF(), true), http.StatusUnprocessableEntity, "wrong_password")
				if e.Error.Fields["password"] == "" {
					t.Errorf("no field error: %+v", e)
				}
				html := c.Post(t, a.URL, "/account/delete", url.Values{"password": {"wrong again"}}, c.CSRF(), false)
				wantStatus(t, html, http.StatusUnprocessableEntity)
				if !strings.Contains(html.Body, `id="password-error"`) {
					t.Error("the page shows no error next to the field")
				}
				if !c.Session(t, a.URL).Authenticated {
					t.Fatal("a wrong password signed the owner out")
				}
			})

			t.Run("EndsEverythingAndKeepsTheOrdersAnonymized", func(t *testing.T) {
				r := c.Post(t, a.URL, "/account/delete", url.Values{"password": {"a password"}}, c.CSRF(), false)
				wantStatus(t, r, http.StatusSeeOther)
				if c.Session(t, a.URL).Authenticated || phone.Session(t, other.URL).Authenticated {
					t.Error("a session of the deleted account still works")
				}
				wantError(t, apiCall(t, http.MethodGet, a.URL, "/api/v1/cart", token, ""), http.StatusUnauthorized, "invalid_token")
				x := newClient(t)
				wantError(t, x.Post(t, a.URL, "/login", url.Values{"email": {email}, "password": {"a password"}}, x.Token(t, a.URL), true),
					http.StatusUnauthorized, "invalid_credentials")
				ctx := context.Background()
				var orders, owned int
				if err := b.db.QueryRow(ctx, `SELECT count(*), count(user_id) FROM orders
					WHERE cart_key LIKE 'a:%' AND id IN (SELECT order_id FROM order_lines WHERE product_id = 1)`).Scan(&orders, &owned); err != nil {
					t.Fatal(err)
				}
				if orders < 1 || owned != 0 {
					t.Errorf("orders of the account: %d, still owned %d; want kept and anonymized", orders, owned)
				}
				// The address is personal data too: gone from the orders
				// and from the account's saved one.
				var addressed, saved int
				if err := b.db.QueryRow(ctx, `SELECT count(ship_to) FROM orders
					WHERE cart_key LIKE 'a:%' AND id IN (SELECT order_id FROM order_lines WHERE product_id = 1)`).Scan(&addressed); err != nil {
					t.Fatal(err)
				}
				if err := b.db.QueryRow(ctx, `SELECT count(*) FROM shipping_addresses WHERE user_id = $1`, uid).Scan(&saved); err != nil {
					t.Fatal(err)
				}
				if addressed != 0 || saved != 0 {
					t.Errorf("after deletion %d orders still carry the address and %d saved addresses remain", addressed, saved)
				}
				// A new account with the same email starts empty.
				x.signup(t, a.URL, email, "a password")
				if got := x.Cart(t, a.URL).Count; got != 0 {
					t.Errorf("the new account's cart holds %d items", got)
				}
				var ov struct {
					Orders []json.RawMessage `json:"orders"`
				}
				o := x.Get(t, a.URL, "/orders", true)
				wantStatus(t, o, http.StatusOK)
				o.JSON(t, &ov)
				if len(ov.Orders) != 0 {
					t.Errorf("the new account sees %d orders of the deleted one", len(ov.Orders))
				}
				_ = uid
			})
		})
	}
}

func TestMailServerDownDoesNotFailRequests(t *testing.T) {
	t.Parallel()
	b, mp := mailBackend(t, config.StorePostgres, nil)
	a := startShop(t, b, "replica-a")
	mp.Stop()
	email := testenv.RandomName("down") + "@example.com"
	c := newClient(t)
	start := time.Now()
	c.signup(t, a.URL, email, "a password")
	r := c.Post(t, a.URL, "/account/verify/resend", nil, c.CSRF(), false)
	wantStatus(t, r, http.StatusSeeOther)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("sign-up and resend took %s with the mail server down", d)
	}
	time.Sleep(1500 * time.Millisecond) // the senders try and fail meanwhile
	mp.Start()
	mp.WaitMail(t, email, "Confirm your email", 1, 30*time.Second)
}
