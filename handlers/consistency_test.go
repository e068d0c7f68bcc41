package handlers_test

// Session consistency when one session's requests overlap (issue 11): a
// session that was ended stays ended, a concurrent request loses nothing,
// a login starts clean, and a session cannot reach an account that merely
// got the same serial id. Every test here runs against real Redis and
// PostgreSQL, counts what it saw over a bounded number of trials (trials,
// overlapped, revived, lost) and logs the counts, so a failure says how
// often, and a pass cannot be vacuous: each race test also proves that the
// requests really overlapped.

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/testenv"
)

// span is one request as its client saw it: when it was sent, when the
// answer was read, and the answer.
type span struct {
	start, end time.Time
	status     int
	err        error
}

// overlaps reports whether the request was in flight at some moment of
// [from, to].
func (s span) overlaps(from, to time.Time) bool { return s.start.Before(to) && s.end.After(from) }

// busyDevice is a signed-in device whose tabs keep making ordinary requests
// that change the session, as a shopper browsing does: an HTML add (which
// queues a flash) and the cart page (which shows and removes it). Both
// commit the session, so a commit based on a stale load would show.
type busyDevice struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	spans []span
	done  atomic.Int64
}

// maxBusyRequests bounds the requests of one tab of a busyDevice.
const maxBusyRequests = 400

// keepBusy starts tabs tabs of c making requests through base until finish.
func keepBusy(c *client, base string, tabs int) *busyDevice {
	d := &busyDevice{stop: make(chan struct{})}
	for i := range tabs {
		tab := c.Tab()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for k := 0; k < maxBusyRequests; k++ {
				select {
				case <-d.stop:
					return
				default:
				}
				var req *http.Request
				if k%2 == 0 {
					// The cart page first: it also gives a current CSRF token.
					req, _ = http.NewRequest(http.MethodGet, base+"/cart", nil)
					req.Header.Set("Accept", "text/html")
				} else {
					form := url.Values{"product_id": {strconv.Itoa(1 + (i+k)%12)}, "csrf_token": {tab.CSRF()}}
					req, _ = http.NewRequest(http.MethodPost, base+"/cart/items", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				s := span{start: time.Now()}
				r, err := tab.Try(req)
				s.end, s.err = time.Now(), err
				if err == nil {
					s.status = r.StatusCode
				}
				d.mu.Lock()
				d.spans = append(d.spans, s)
				d.mu.Unlock()
				d.done.Add(1)
			}
		}()
	}
	return d
}

// waitRequests waits until the device has finished n requests, so that its
// tabs are surely running when the test acts.
func (d *busyDevice) waitRequests(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.done.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the busy device finished %d requests in 10s, want %d", d.done.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// finish stops the tabs, waits for their requests in flight to end, and
// returns every request they made.
func (d *busyDevice) finish() []span {
	close(d.stop)
	d.wg.Wait()
	return d.spans
}

// freshCSRF loads a page and returns its CSRF token: a login or a password
// change may rotate the token, so a test takes a current one before each
// form it posts after one.
func freshCSRF(t *testing.T, c *client, base string) string {
	t.Helper()
	wantStatus(t, c.Get(t, base, "/", false), http.StatusOK)
	return c.CSRF()
}

// endTrial is one trial of a race between a device's requests and the
// request that ends its session.
type endTrial struct {
	// busy is the device whose requests are in flight; its session cookie
	// is the one that must stop working.
	busy *client
	// end ends busy's session, through replica-a; it must answer 303.
	end func(t *testing.T) response
	// owner, when set, is a device of the account that stays signed in: its
	// session list must not show busy's session after the trial.
	owner *client
}

// raceSessionEnd runs trials of one race on each store, with two shops on
// one backend (two replicas): prepare signs a device in; its tabs keep
// making requests through replica-b while end runs through replica-a;
// after end has answered and every request in flight has ended, the
// device's old cookie, sent by a fresh client, must not authenticate, and
// the owner's session list must not show it.
func raceSessionEnd(t *testing.T, trials int, prepare func(t *testing.T, a, b *shop) endTrial) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			be := newBackend(t, kind)
			a, b := startShop(t, be, "replica-a"), startShop(t, be, "replica-b")
			var overlapped, revived, listed, requests, overlapping, failed int
			for trial := range trials {
				tr := prepare(t, a, b)
				token := tr.busy.Cookie("session")
				if token == "" {
					t.Fatal("the busy device has no session cookie")
				}
				d := keepBusy(tr.busy, b.URL, 2)
				d.waitRequests(t, 4)
				from := time.Now()
				r := tr.end(t)
				to := time.Now()
				spans := d.finish()
				wantStatus(t, r, http.StatusSeeOther)
				n := 0
				for _, s := range spans {
					requests++
					if s.overlaps(from, to) {
						n++
					}
					// Whatever the busy device is told once its session
					// ended (a redirect to the login page, a 401), it is
					// never a server error.
					if s.err != nil || s.status >= 500 {
						failed++
						t.Errorf("trial %d: a request of the busy device failed: status %d, %v", trial, s.status, s.err)
					}
				}
				overlapping += n
				if n > 0 {
					overlapped++
				}
				replay := newClient(t)
				replay.SetCookie("session", token)
				for _, s := range []*shop{a, b} {
					if si := replay.Session(t, s.URL); si.Authenticated {
						revived++
						t.Errorf("trial %d: the ended session is signed in again on %s (%d of its requests overlapped the end)", trial, si.Replica, n)
						break
					}
				}
				if tr.owner != nil {
					if got := tr.owner.sessions(t, a.URL).Sessions; len(got) != 1 {
						listed++
						t.Errorf("trial %d: the owner's session list shows %d sessions, want only its own", trial, len(got))
					}
				}
			}
			t.Logf("%s: %d trials, %d with requests in flight across the end (%d of %d requests), %d revived, %d still listed, %d failed requests",
				kind, trials, overlapped, overlapping, requests, revived, listed, failed)
			// Without requests in flight across the end, the trials prove
			// nothing: the race was not run.
			if overlapped < trials/2 {
				t.Fatalf("only %d of %d trials had requests in flight while the session ended", overlapped, trials)
			}
		})
	}
}

// raceTrials is the number of trials of each race per store.
const raceTrials = 20

// TestRevokedSessionStaysDead proves that "Sign out other sessions" ends a
// device's session for good even while that device's requests are in
// flight: a request that loaded the session before the revocation must not
// write it back when it commits. Device B keeps browsing (the cart page, an
// HTML add) through replica-b while device A presses "Sign out other
// sessions" through replica-a; after the revoke answered and B's requests
// in flight ended, B's cookie must not authenticate anywhere and A's list
// must show A's session only.
//
// Before the fix (commit 8e8f35c) it failed: the commit wrote the loaded
// session back unconditionally, with a fresh expiry. Measured there, 20
// trials per store, five runs: redis revived 9 to 20, postgres 14 to
// 20 (every trial had requests in flight across the revoke).
func TestRevokedSessionStaysDead(t *testing.T) {
	raceSessionEnd(t, raceTrials, func(t *testing.T, a, b *shop) endTrial {
		email := testenv.RandomName("rev") + "@example.com"
		owner := newClient(t)
		owner.signup(t, a.URL, email, "revoke password")
		busy := loginAs(t, b.URL, email, "revoke password", "Mozilla/5.0 (iPhone) Safari/604.1")
		csrf := freshCSRF(t, owner, a.URL)
		return endTrial{busy: busy, owner: owner, end: func(t *testing.T) response {
			return owner.Post(t, a.URL, "/account/sessions/revoke-others", nil, csrf, false)
		}}
	})
}

// TestLogoutStaysLoggedOutWhileAnotherTabIsBusy proves that logging out in
// one tab ends the session although another tab of the same browser (one
// cookie jar) has requests in flight: after the logout answered and those
// requests ended, the old session cookie, sent by a fresh client, must not
// authenticate.
//
// Before the fix (commit 8e8f35c) it failed: the other tab's commit
// re-created the destroyed session under its old token. Measured there, 20
// trials per store, four runs: redis revived 9 to 20, postgres 13 to 18.
func TestLogoutStaysLoggedOutWhileAnotherTabIsBusy(t *testing.T) {
	raceSessionEnd(t, raceTrials, func(t *testing.T, a, b *shop) endTrial {
		email := testenv.RandomName("out") + "@example.com"
		owner := newClient(t)
		owner.signup(t, a.URL, email, "logout password")
		busy := loginAs(t, a.URL, email, "logout password", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
		tab := busy.Tab()
		freshCSRF(t, &client{Browser: tab}, a.URL)
		return endTrial{busy: busy, owner: owner, end: func(t *testing.T) response {
			return tab.Post(t, a.URL, "/logout", nil, tab.CSRF(), false)
		}}
	})
}

// TestPasswordChangeEndsBusySessions proves that a password change ends
// every other session of the account even while one of them has requests
// in flight: device B keeps browsing through replica-b while device A
// changes the password through replica-a; B's cookie must not authenticate
// afterwards, and A's list must show A's session only.
//
// Before the fix (commit 8e8f35c) it failed as the revoke race does.
// Measured there, 20 trials per store, four runs: redis revived 9 to 20,
// postgres 16 to 18.
func TestPasswordChangeEndsBusySessions(t *testing.T) {
	raceSessionEnd(t, raceTrials, func(t *testing.T, a, b *shop) endTrial {
		email := testenv.RandomName("pwd") + "@example.com"
		owner := newClient(t)
		owner.signup(t, a.URL, email, "first password")
		busy := loginAs(t, b.URL, email, "first password", "Mozilla/5.0 (Android 14) Chrome/126.0 Mobile")
		csrf := freshCSRF(t, owner, a.URL)
		return endTrial{busy: busy, owner: owner, end: func(t *testing.T) response {
			form := url.Values{"current_password": {"first password"}, "password": {"second password"}}
			return owner.Post(t, a.URL, "/account/password", form, csrf, false)
		}}
	})
}

// jsonAdd is a request of a page's script adding one product: form data,
// Accept: application/json and the CSRF token in X-CSRF-Token.
func jsonAdd(base, productID, csrf string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, base+"/cart/items", strings.NewReader(url.Values{"product_id": {productID}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	return req
}

// accountCart is the account's cart as the JSON API sees it: no cookie, so
// it does not depend on which session cookie a browser ended with.
func accountCart(t *testing.T, base, email, password string) map[string]int {
	t.Helper()
	return apiCart(t, base, apiToken(t, base, email, password)).Quantities()
}

// TestAddsWhileLoggingInLandInTheAccountCart proves that a guest's adds made
// while the same browser logs in all end in the account's cart, and that
// the browser ends signed in. A guest with a cart (one product added
// before) sends adds of distinct products from two tabs (JSON, through both
// replicas) for as long as its login, sent at the same moment through
// replica-a, has not answered: every add is sent before the browser has the
// login's cookie, as when one tab logs in while another adds. Afterwards
// the account's cart (read through the API) must hold every product the
// browser added, and the browser's cookie jar (the last Set-Cookie wins)
// must be signed in.
//
// Before the fix (commit 8e8f35c) it failed: an add that ran after the
// login merged the guest cart went into the guest cart nobody reaches any
// more, and an add that arrived after the login renewed the token started
// a new guest session whose cookie signed the browser out. Measured there,
// 20 trials per store, five runs: redis lost 26 to 37 of 90 to 125 adds
// and signed 6 to 15 browsers out; postgres lost 52 to 68 of 96 to 150
// adds and signed 11 to 19 browsers out.
func TestAddsWhileLoggingInLandInTheAccountCart(t *testing.T) {
	const trials = 20
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			be := newBackend(t, kind)
			shops := []*shop{startShop(t, be, "replica-a"), startShop(t, be, "replica-b")}
			a := shops[0]
			var adds, lost, signedOut, overlapped, refused, staleToken int
			for trial := range trials {
				email := testenv.RandomName("add") + "@example.com"
				newClient(t).signup(t, a.URL, email, "add password")
				g := newClient(t)
				csrf := g.Token(t, a.URL)
				wantStatus(t, g.Do(t, jsonAdd(a.URL, "1", csrf)), http.StatusOK)
				sent := map[string]bool{"1": true}

				var loggedIn atomic.Bool
				var login span
				var mu sync.Mutex
				var spans []span
				start := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(3)
				loginTab := g.Tab()
				loginReq := testenv.PostRequest(t, a.URL, "/login", url.Values{"email": {email}, "password": {"add password"}}, csrf, false)
				go func() {
					defer wg.Done()
					<-start
					login.start = time.Now()
					r, err := loginTab.Try(loginReq)
					login.end, login.err = time.Now(), err
					if err == nil {
						login.status = r.StatusCode
					}
					loggedIn.Store(true)
				}()
				for i := range 2 {
					tab := g.Tab()
					// Tab i adds products 2+i, 4+i, ...: distinct, at most
					// six each.
					var pids []string
					for p := 2 + i; p <= 13; p += 2 {
						pids = append(pids, strconv.Itoa(p))
					}
					mu.Lock()
					for _, p := range pids {
						sent[p] = false
					}
					mu.Unlock()
					go func() {
						defer wg.Done()
						<-start
						for k, pid := range pids {
							if loggedIn.Load() {
								return
							}
							s := span{start: time.Now()}
							r, err := tab.Try(jsonAdd(shops[(i+k)%2].URL, pid, csrf))
							s.end, s.err = time.Now(), err
							if err == nil {
								s.status = r.StatusCode
							}
							mu.Lock()
							// The CSRF token changes at login with the
							// session token (issue 11): an add that left
							// after the login's answer carries the new
							// cookie with the old page's token and is
							// refused, visibly ("reload the page"). It
							// added nothing, so nothing of it can be lost.
							if err == nil && r.StatusCode == http.StatusForbidden && strings.Contains(r.Body, "invalid_csrf_token") {
								staleToken++
								s.status = http.StatusOK
							} else {
								sent[pid] = true
							}
							spans = append(spans, s)
							mu.Unlock()
						}
					}()
				}
				close(start)
				wg.Wait()
				if login.err != nil || login.status != http.StatusSeeOther {
					t.Fatalf("trial %d: login answered %d, %v", trial, login.status, login.err)
				}
				n := 0
				for _, s := range spans {
					adds++
					if s.overlaps(login.start, login.end) {
						n++
					}
					if s.err != nil || s.status != http.StatusOK {
						refused++
						t.Errorf("trial %d: an add in flight during the login answered %d, %v", trial, s.status, s.err)
					}
				}
				if n > 0 {
					overlapped++
				}
				got := accountCart(t, a.URL, email, "add password")
				for pid, ok := range sent {
					if ok && got[pid] != 1 {
						lost++
						t.Errorf("trial %d: product %s was added while logging in; the account's cart holds %d of it", trial, pid, got[pid])
					}
				}
				if si := g.Session(t, a.URL); !si.Authenticated {
					signedOut++
					t.Errorf("trial %d: the browser logged in, but ended signed out (%+v)", trial, si)
				}
			}
			t.Logf("%s: %d trials (%d with adds in flight during the login), %d adds during logins, %d refused, %d refused for the pre-login CSRF token, %d lost, %d browsers signed out",
				kind, trials, overlapped, adds, refused, staleToken, lost, signedOut)
			if overlapped < trials/2 {
				t.Fatalf("only %d of %d trials had adds in flight during the login", overlapped, trials)
			}
		})
	}
}

// TestLoginOverAnotherAccountStartsClean proves that logging in over
// another account's session carries none of its values: user A logs in
// with "remember me" (a persistent cookie), then user B logs in in the same
// browser without it. B's session cookie must be a browser-session cookie
// (no Expires, no Max-Age) and GET /session must say remember_me false.
//
// Before the fix (commit 8e8f35c) it failed on both stores: B inherited
// A's remember-me and got a persistent cookie.
func TestLoginOverAnotherAccountStartsClean(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		emailA, emailB := testenv.RandomName("ann")+"@example.com", testenv.RandomName("bob")+"@example.com"
		newClient(t).signup(t, s.URL, emailA, "ann's password")
		newClient(t).signup(t, s.URL, emailB, "bob's password")
		c := newClient(t)
		r := c.Post(t, s.URL, "/login", url.Values{"email": {emailA}, "password": {"ann's password"}, "remember_me": {"on"}}, c.Token(t, s.URL), false)
		wantStatus(t, r, http.StatusSeeOther)
		if si := c.Session(t, s.URL); !si.Authenticated || !si.RememberMe {
			t.Fatalf("A's remembered login: %+v", si)
		}
		r = c.Post(t, s.URL, "/login", url.Values{"email": {emailB}, "password": {"bob's password"}}, freshCSRF(t, c, s.URL), false)
		wantStatus(t, r, http.StatusSeeOther)
		var ck *http.Cookie
		for _, x := range r.Cookies() {
			if x.Name == "session" {
				ck = x
			}
		}
		if ck == nil {
			t.Fatal("B's login set no session cookie")
		}
		if !ck.Expires.IsZero() || ck.MaxAge != 0 {
			t.Errorf("B logged in without remember me, but got a persistent cookie (Expires %v, Max-Age %d), A's", ck.Expires, ck.MaxAge)
		}
		if si := c.Session(t, s.URL); !si.Authenticated || si.RememberMe {
			t.Errorf("after B's login without remember me: %+v, want authenticated and remember_me false", si)
		}
	})
}

// accountID reads an account's serial id from a shop's database.
func accountID(t *testing.T, b *backend, email string) int64 {
	t.Helper()
	var id int64
	if err := b.db.QueryRow(context.Background(), `SELECT id FROM users WHERE lower(email) = lower($1)`, email).Scan(&id); err != nil {
		t.Fatalf("id of %s: %v", email, err)
	}
	return id
}

// TestOldSessionCannotReachAccountWithReusedID proves that sessions and
// account carts are bound to the account, not to its serial id. Account A
// signs up on a shop whose database is D1 and fills its cart; then the
// database is recreated (a new, empty D2: a staging reset, a restore) while
// Redis keeps its keys under the same prefix, and account B signs up and
// gets A's old id (checked). A's old cookie sent to the shop on D2 must
// reach nothing of B's: not signed in, not B's cart, not B's session list;
// and B's cart and session list must hold nothing of A's.
//
// With the Redis store, before the fix (commit 8e8f35c) it failed: the
// session kept the serial id, and the account cart and session index were
// keyed by it (cart:u:1, user-sessions:1). With the PostgreSQL store,
// sessions and carts live in the recreated database, so the case passes
// there today; it runs to keep it so.
func TestOldSessionCannotReachAccountWithReusedID(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b1 := newBackend(t, kind)
			s1 := startShop(t, b1, "replica-a")
			emailA := testenv.RandomName("old") + "@example.com"
			ca := newClient(t)
			ca.signup(t, s1.URL, emailA, "old account")
			ca.add(t, s1.URL, "3", 2)
			oldCookie := ca.Cookie("session")
			replay := newClient(t)
			replay.SetCookie("session", oldCookie)
			if si := replay.Session(t, s1.URL); !si.Authenticated {
				t.Fatalf("A's cookie does not work on A's own shop: %+v", si)
			}

			// The database is recreated; Redis (and its prefix) stays.
			b2 := &backend{kind: kind, db: testenv.MustDatabase(t), redis: b1.redis, prefix: b1.prefix}
			s2 := startShop(t, b2, "replica-a")
			emailB := testenv.RandomName("new") + "@example.com"
			cb := newClient(t)
			cb.signup(t, s2.URL, emailB, "new account")
			cb.add(t, s2.URL, "5", 1)
			if idA, idB := accountID(t, b1, emailA), accountID(t, b2, emailB); idA != idB {
				t.Fatalf("A has id %d, B has id %d: the case needs a reused serial id", idA, idB)
			}

			if si := replay.Session(t, s2.URL); si.Authenticated {
				t.Errorf("A's old cookie is signed in on the recreated database (as B, who has A's id): %+v", si)
			}
			if got := replay.Cart(t, s2.URL).Quantities(); got["5"] != 0 {
				t.Errorf("A's old cookie sees B's cart: %v", got)
			}
			if r := replay.Get(t, s2.URL, "/account/sessions", true); r.StatusCode == http.StatusOK {
				t.Errorf("A's old cookie lists B's sessions: %.300s", r.Body)
			}
			if got := cb.Cart(t, s2.URL).Quantities(); got["3"] != 0 || got["5"] != 1 {
				t.Errorf("B's cart = %v, want only B's 1 × product 5 (A had 2 × product 3)", got)
			}
			if got := cb.sessions(t, s2.URL).Sessions; len(got) != 1 {
				t.Errorf("B's session list shows %d sessions, want only B's own (A's old session is not B's)", len(got))
			}
		})
	}
}

// flashMessage is the flash an HTML add queues, as the page shows it.
func flashMessage(name string) string {
	return html.EscapeString(fmt.Sprintf("Added %s to your cart.", name))
}

// productNames maps product id to name, from the catalog's JSON.
func productNames(t *testing.T, base string) map[string]string {
	t.Helper()
	var v struct {
		Products []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"products"`
	}
	newClient(t).Get(t, base, "/", true).JSON(t, &v)
	out := map[string]string{}
	for _, p := range v.Products {
		out[p.ID] = p.Name
	}
	return out
}

// TestConcurrentFlashesAreAllShown proves that values one session's
// concurrent requests queue are all kept: a signed-in browser submits three
// add forms at once (HTML, three tabs, through both replicas), each of which
// queues its "Added … to your cart." message; the next page must show all
// three. A whole-session write of one request must not drop another's
// message.
//
// Before the fix (commit 8e8f35c) it failed: the last commit won and the
// page showed one or two of the three. Measured there, 20 trials per
// store, four runs: redis lost 37 to 40 of the 60 messages, postgres 37
// to 38.
func TestConcurrentFlashesAreAllShown(t *testing.T) {
	const trials, tabs = 20, 3
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			be := newBackend(t, kind)
			shops := []*shop{startShop(t, be, "replica-a"), startShop(t, be, "replica-b")}
			names := productNames(t, shops[0].URL)
			var lost, overlapped int
			for trial := range trials {
				c := newClient(t)
				c.signup(t, shops[0].URL, testenv.RandomName("fla")+"@example.com", "flash password")
				csrf := freshCSRF(t, c, shops[0].URL) // shows (and removes) the welcome message
				spans := make([]span, tabs)
				pids := make([]string, tabs)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range tabs {
					pids[i] = strconv.Itoa(1 + (trial*tabs+i)%12)
					tab := c.Tab()
					req := testenv.PostRequest(t, shops[i%2].URL, "/cart/items", url.Values{"product_id": {pids[i]}}, csrf, false)
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						spans[i].start = time.Now()
						r, err := tab.Try(req)
						spans[i].end, spans[i].err = time.Now(), err
						if err == nil {
							spans[i].status = r.StatusCode
						}
					}()
				}
				close(start)
				wg.Wait()
				// All in flight at one moment: the latest start is before
				// the earliest end.
				latest, earliest := spans[0].start, spans[0].end
				for _, s := range spans {
					if s.err != nil || s.status != http.StatusSeeOther {
						t.Fatalf("trial %d: an add answered %d, %v", trial, s.status, s.err)
					}
					if s.start.After(latest) {
						latest = s.start
					}
					if s.end.Before(earliest) {
						earliest = s.end
					}
				}
				if latest.Before(earliest) {
					overlapped++
				}
				page := c.Get(t, shops[0].URL, "/cart", false)
				wantStatus(t, page, http.StatusOK)
				for _, pid := range pids {
					if !strings.Contains(page.Body, flashMessage(names[pid])) {
						lost++
						t.Errorf("trial %d: the message of the add of %q is lost", trial, names[pid])
					}
				}
			}
			t.Logf("%s: %d trials of %d concurrent adds (%d with all in flight at once), %d of %d messages lost",
				kind, trials, tabs, overlapped, lost, trials*tabs)
			if overlapped < trials/2 {
				t.Fatalf("only %d of %d trials had the adds in flight at once", overlapped, trials)
			}
		})
	}
}

// TestFirstAddWhileLoggingInKeepsBoth proves that two requests of one
// session that change different values at once both count: a guest who
// has a session but no cart yet (signed out earlier, kept browsing) makes
// its first add (which starts the guest cart: a new cart id in the
// session) while the same browser logs in. Afterwards the browser must be
// signed in (the login's change) and the account's cart must hold the
// product (the add's change). The add is sent at a varying offset from the
// login, so that it lands before, during and after the login's work.
//
// Before the fix (commit 8e8f35c) it failed: whichever commit came last
// won, so either the login or the item was lost. Measured there, 20 trials
// per store, five runs: the item was lost in (nearly) every trial where the
// add overlapped the login (redis 16 to 20, postgres 15 to 20), and the
// login in 7 to 13 (redis) and 9 to 14 (postgres).
func TestFirstAddWhileLoggingInKeepsBoth(t *testing.T) {
	const trials = 20
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			be := newBackend(t, kind)
			a, b := startShop(t, be, "replica-a"), startShop(t, be, "replica-b")
			var lostItems, lostLogins, overlapped int
			for trial := range trials {
				email := testenv.RandomName("fir") + "@example.com"
				newClient(t).signup(t, a.URL, email, "first add password")
				g := newClient(t)
				// Signed in, signed out, kept browsing: a guest session
				// without a cart.
				tok := g.Token(t, a.URL)
				began := time.Now()
				r := g.Post(t, a.URL, "/login", url.Values{"email": {email}, "password": {"first add password"}}, tok, false)
				took := time.Since(began)
				wantStatus(t, r, http.StatusSeeOther)
				wantStatus(t, g.Post(t, a.URL, "/logout", nil, freshCSRF(t, g, a.URL), false), http.StatusSeeOther)
				csrf := freshCSRF(t, g, a.URL)
				if si := g.Session(t, a.URL); !si.Exists || si.Authenticated {
					t.Fatalf("want a guest session before the race, got %+v", si)
				}
				if n := g.Cart(t, a.URL).Count; n != 0 {
					t.Fatalf("the guest's cart holds %d items before the race", n)
				}

				pid := strconv.Itoa(1 + trial%12)
				// 0, 1/4, 1/2 or 3/4 of a login's time (measured above)
				// after the login is sent: on a fast or a slow machine
				// (-race) the add meets the login at each stage of its work.
				delay := took * time.Duration(trial%4) / 4
				var add, login span
				start := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(2)
				go func() {
					defer wg.Done()
					<-start
					login.start = time.Now()
					r, err := g.Tab().Try(testenv.PostRequest(t, a.URL, "/login", url.Values{"email": {email}, "password": {"first add password"}}, csrf, false))
					login.end, login.err = time.Now(), err
					if err == nil {
						login.status = r.StatusCode
					}
				}()
				var addBody string
				preLogin := g.Cookie("session")
				var sentAfterLogin bool
				go func() {
					defer wg.Done()
					<-start
					time.Sleep(delay)
					add.start = time.Now()
					// The jar takes the login's cookie as soon as its
					// answer's header arrives, before the test reads the
					// body and marks the login's end.
					sentAfterLogin = g.Cookie("session") != preLogin
					r, err := g.Tab().Try(jsonAdd(b.URL, pid, csrf))
					add.end, add.err = time.Now(), err
					if err == nil {
						add.status, addBody = r.StatusCode, r.Body
					}
				}()
				close(start)
				wg.Wait()
				if login.err != nil || login.status != http.StatusSeeOther {
					t.Fatalf("trial %d: login answered %d, %v", trial, login.status, login.err)
				}
				// An add that left after the login answered carries the new
				// session cookie with the old page's CSRF token, which
				// changed at login (issue 11): it is refused, visibly,
				// and adds nothing, so nothing of it can be lost.
				staleToken := add.err == nil && add.status == http.StatusForbidden &&
					strings.Contains(addBody, "invalid_csrf_token") && (sentAfterLogin || !add.start.Before(login.end))
				if !staleToken && (add.err != nil || add.status != http.StatusOK) {
					t.Errorf("trial %d: the add answered %d, %v", trial, add.status, add.err)
				}
				if add.overlaps(login.start, login.end) {
					overlapped++
				}
				if got := accountCart(t, a.URL, email, "first add password"); !staleToken && got[pid] != 1 {
					lostItems++
					t.Errorf("trial %d: the first add (product %s, %v after the login was sent) is not in the account's cart: %v", trial, pid, delay, got)
				}
				if si := g.Session(t, a.URL); !si.Authenticated {
					lostLogins++
					t.Errorf("trial %d: the browser logged in, but ended signed out (%+v)", trial, si)
				}
			}
			t.Logf("%s: %d trials (%d with the add in flight during the login), %d items lost, %d logins lost",
				kind, trials, overlapped, lostItems, lostLogins)
			if overlapped < trials/2 {
				t.Fatalf("only %d of %d trials had the add in flight during the login", overlapped, trials)
			}
		})
	}
}

// TestEpochEndsEverySessionIssuedBefore proves the per-account validity
// check: a password change or "sign out other sessions" ends every other
// session and API token of the account for good, on every replica, even a
// copy of a session that a stale write or a restored backup puts back
// into the store, and even when the request that changed the password
// never got to delete the other sessions (a store fault right after the
// password statement).
//
// The code before the fix (commit 8e8f35c) had no such check, so each case
// would fail there: a restored copy is an ordinary stored session, a
// password change only replaced the hash, and API tokens named only the
// account id. (This test was written after the fix, against its API, and
// was not run on that commit.)
func TestEpochEndsEverySessionIssuedBefore(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			be := newBackend(t, kind)
			a, b := startShop(t, be, "replica-a"), startShop(t, be, "replica-b")
			ctx := context.Background()

			t.Run("RestoredCopyAfterSignOutOthers", func(t *testing.T) {
				email := testenv.RandomName("bak") + "@example.com"
				owner := newClient(t)
				owner.signup(t, a.URL, email, "backup password")
				other := newClient(t)
				wantStatus(t, other.Post(t, b.URL, "/login", url.Values{"email": {email}, "password": {"backup password"}}, other.Token(t, b.URL), false), http.StatusSeeOther)
				if !other.Session(t, b.URL).Authenticated {
					t.Fatal("the other device is not signed in")
				}
				token := apiToken(t, a.URL, email, "backup password")
				// A backup of the other device's session, as the store holds it.
				restore := backupSession(t, be, other.Cookie("session"))

				wantStatus(t, owner.Post(t, a.URL, "/account/sessions/revoke-others", nil, owner.Token(t, a.URL), false), http.StatusSeeOther)
				restore()
				for _, s := range []*shop{a, b} {
					if other.Session(t, s.URL).Authenticated {
						t.Errorf("%s: a restored copy of a signed-out session signed its device in again", s.URL)
					}
				}
				if r := apiCall(t, http.MethodGet, a.URL, "/api/v1/cart", token, ""); r.StatusCode != http.StatusUnauthorized {
					t.Errorf("an API token issued before 'sign out other sessions' answered %d, want 401", r.StatusCode)
				}
				if !owner.Session(t, a.URL).Authenticated {
					t.Error("the owner's own session ended")
				}
			})

			t.Run("PasswordChangeAloneEndsTheOthers", func(t *testing.T) {
				email := testenv.RandomName("pw") + "@example.com"
				owner := newClient(t)
				owner.signup(t, a.URL, email, "first password")
				other := newClient(t)
				wantStatus(t, other.Post(t, b.URL, "/login", url.Values{"email": {email}, "password": {"first password"}}, other.Token(t, b.URL), false), http.StatusSeeOther)
				token := apiToken(t, b.URL, email, "first password")
				u, err := b.App.Accounts.Authenticate(ctx, account.Credentials{Email: email, Password: "first password"})
				if err != nil {
					t.Fatal(err)
				}
				// The password statement alone, as if the replica died
				// right after it, before touching any session.
				if _, err := a.App.Accounts.ChangePassword(ctx, u.ID, "first password", "second password"); err != nil {
					t.Fatal(err)
				}
				for _, s := range []*shop{a, b} {
					if other.Session(t, s.URL).Authenticated {
						t.Errorf("%s: a session issued before the password change still works", s.URL)
					}
				}
				if r := apiCall(t, http.MethodGet, b.URL, "/api/v1/cart", token, ""); r.StatusCode != http.StatusUnauthorized {
					t.Errorf("an API token issued before the password change answered %d, want 401", r.StatusCode)
				}
			})
		})
	}
}

// backupSession copies the session of a cookie as its store holds it and
// returns a function that puts the copy back, as restoring last night's
// backup would.
func backupSession(t *testing.T, be *backend, cookie string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	id := session.StoreKey(cookie)
	if be.kind == config.StoreRedis {
		conn := be.redis.Get()
		defer conn.Close()
		key := session.RedisKey(be.prefix, cookie)
		dump, err := redis.Bytes(conn.Do("DUMP", key))
		if err != nil {
			t.Fatalf("DUMP %s: %v", key, err)
		}
		return func() {
			conn := be.redis.Get()
			defer conn.Close()
			if _, err := conn.Do("RESTORE", key, 3600_000, dump, "REPLACE"); err != nil {
				t.Fatalf("RESTORE %s: %v", key, err)
			}
		}
	}
	var backup string
	backup = "sessions_backup_" + strings.ReplaceAll(testenv.RandomName(""), "-", "_")
	if _, err := be.db.Exec(ctx, `CREATE TABLE `+backup+` AS SELECT * FROM sessions WHERE token = $1`, id); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := be.db.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, id); err != nil {
			t.Fatal(err)
		}
		if _, err := be.db.Exec(ctx, `INSERT INTO sessions SELECT * FROM `+backup); err != nil {
			t.Fatal(err)
		}
	}
}
