package e2e_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/the-shop/shop/internal/testenv"
)

// TestBrowserMail: a shopper confirms the email address, resets a
// forgotten password and deletes the account, at phone and desktop
// widths, following the links of the mails a real Mailpit received.
func TestBrowserMail(t *testing.T) {
	t.Parallel()
	mp := testenv.MustMailpit(t)
	c := startCluster(t, clusterOptions{Store: "postgres", Replicas: 2, Env: map[string]string{
		"SMTP_URL": mp.SMTPURL, "MAIL_POLL_INTERVAL": "200ms",
	}})
	ch := startChrome(t)
	// follow opens the link of a mail with path prefix in tb (on the
	// cluster's nginx: PUBLIC_URL is its address).
	follow := func(tb *tab, ml testenv.Mail, prefix string) {
		tb.t.Helper()
		link := ml.Link(prefix)
		u, err := url.Parse(link)
		if link == "" || err != nil {
			tb.fatalf("mail %q has no link to %s:\n%s", ml.Subject, prefix, ml.Text)
		}
		if got := u.Scheme + "://" + u.Host; got != c.URL {
			tb.fatalf("the link %s is not on the shop's address %s", link, c.URL)
		}
		tb.open(u.RequestURI())
	}

	// shootOrCheck pictures the page at every width (and checks it there
	// with axe-core) in the desktop run, and checks it at the phone's
	// width in the phone run, as the phone shopper meets it.
	shootOrCheck := func(tb *tab, width, page string) {
		tb.t.Helper()
		if width == "desktop" {
			shoot(tb, page)
		} else {
			checkPage(tb, page+"-"+width)
		}
	}

	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			tb := ch.newTab(t, "shopper-"+vp.name, c.URL)
			opts := []chromedp.EmulateViewportOption{}
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
			}
			tb.do("resize to "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
			email := testenv.RandomName("mail-"+vp.name) + "@example.com"
			const password, newPassword = "first password", "second password"

			// Sign up; the account page says the email is not confirmed.
			tb.open("/signup")
			tb.fill("#email", email)
			tb.fill("#password", password)
			tb.click(`form[action="/signup"] button[type=submit]`)
			if got := tb.text(".account-email-text"); got != email {
				tb.fatalf("after signing up the header shows %q, want %s", got, email)
			}
			tb.open("/account/sessions")
			if !tb.has(`[data-email-state="unverified"]`) || !tb.has(`form[action="/account/verify/resend"] button`) {
				tb.fatalf("the account page does not show an unconfirmed email with a resend button")
			}
			follow(tb, mp.WaitMail(t, email, "Confirm your email", 1, 30*time.Second), "/account/verify")
			if tb.path() != "/account/sessions" || !tb.has(`[data-email-state="verified"]`) {
				tb.fatalf("after the confirmation link: %s without a confirmed email", tb.path())
			}

			// Forget the password: from the login page, by the mail.
			tb.click(`form.logout-form button[type=submit]`)
			tb.open("/login")
			tb.click(`a[href="/password/forgot"]`)
			shootOrCheck(tb, vp.name, "password-forgot")
			tb.fill("#email", email)
			tb.click(`form[action="/password/forgot"] button[type=submit]`)
			if !strings.Contains(tb.text(".flashes"), "If an account exists for that email") {
				tb.fatalf("the answer to a reset request is %q", tb.text(".flashes"))
			}
			follow(tb, mp.WaitMail(t, email, "Reset your password", 1, 30*time.Second), "/password/reset")
			shootOrCheck(tb, vp.name, "password-reset")
			tb.fill("#password", newPassword)
			tb.click(`form[action="/password/reset"] button[type=submit]`)
			if got := tb.text(".account-email-text"); got != email || tb.path() != "/account/sessions" {
				tb.fatalf("after the reset: %s, header %q; want signed in on /account/sessions", tb.path(), got)
			}

			// Delete the account with the new password.
			tb.click(`a[href="/account/delete"]`)
			shootOrCheck(tb, vp.name, "account-delete")
			tb.fill("#password", newPassword)
			tb.click(`form[action="/account/delete"] button[type=submit]`)
			if !tb.has(`.account a[href="/login"]`) || !strings.Contains(tb.text(".flashes"), "deleted") {
				tb.fatalf("after deleting the account the page is not signed out with a message")
			}
			tb.click(`.account a[href="/login"]`)
			tb.fill("#email", email)
			tb.fill("#password", newPassword)
			if got := tb.load("log in to the deleted account", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`))); got != 401 {
				tb.fatalf("logging in to a deleted account answered %d, want 401", got)
			}
		})
	}

	// signIn logs in on the login form and wants the header to show it.
	signIn := func(tb *tab, email, password string) {
		tb.t.Helper()
		tb.open("/login")
		tb.fill("#email", email)
		tb.fill("#password", password)
		tb.click(`form[action="/login"] button[type=submit]`)
		if got := tb.text(".account-email-text"); got != email {
			tb.fatalf("after logging in the header shows %q, want %s", got, email)
		}
	}

	t.Run("NewDevice", func(t *testing.T) {
		// An account made in one browser is signed in to from another:
		// the owner gets the "new sign-in" mail, whose link opens the
		// sessions page; the same browser signing in again sends none.
		for _, vp := range viewports {
			t.Run(vp.name, func(t *testing.T) {
				email := testenv.RandomName("device-"+vp.name) + "@example.com"
				password := "new device at " + vp.name
				first := newTabAt(t, ch, "first-device-"+vp.name, c.URL, vp.name)
				first.open("/signup")
				first.fill("#email", email)
				first.fill("#password", password)
				first.click(`form[action="/signup"] button[type=submit]`)

				tb := newTabAt(t, ch, "new-device-"+vp.name, c.URL, vp.name)
				signIn(tb, email, password)
				ml := mp.WaitMail(t, email, "New sign-in", 1, 30*time.Second)
				if !strings.Contains(ml.Text, "Device:") || !strings.Contains(ml.Text, "Time:") {
					tb.fatalf("the new sign-in mail names no device or time:\n%s", ml.Text)
				}
				follow(tb, ml, "/account/sessions")
				if tb.path() != "/account/sessions" || tb.text(".account-email-text") != email {
					tb.fatalf("the mail's link opened %s signed in as %q, want the sessions page of %s", tb.path(), tb.text(".account-email-text"), email)
				}
				if n := run(tb, "count the sessions", chromedp.Evaluate[int](`document.querySelectorAll('.session-item').length`)); n != 2 {
					tb.fatalf("the sessions page lists %d sessions, want the 2 browsers'", n)
				}
				checkPage(tb, "sessions-new-device-"+vp.name)

				// Out and in again from the same browser: no second mail.
				tb.click(`form.logout-form button[type=submit]`)
				signIn(tb, email, password)
				// The mail queue is polled every 200ms: a second mail would
				// have come well within 2s, as the first did.
				time.Sleep(2 * time.Second)
				var n int
				for _, m := range mp.Messages(t, email) {
					if strings.Contains(m.Subject, "New sign-in") {
						n++
					}
				}
				if n != 1 {
					tb.fatalf("after a second sign-in from the same browser %s has %d new sign-in mails, want 1", email, n)
				}
			})
		}
	})
}
