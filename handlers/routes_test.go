package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// stores are the session stores that must behave the same.
var stores = []config.Kind{config.StoreRedis, config.StorePostgres}

// onEachStore runs test once per session store, in parallel, each on a
// fresh backend with one shop ("replica-a"): the stores must behave the
// same.
func onEachStore(t *testing.T, test func(t *testing.T, s *shop, kind config.Kind)) {
	t.Helper()
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			test(t, startShop(t, newBackend(t, kind), "replica-a"), kind)
		})
	}
}

// TestCatalog: the catalog and product pages, as HTML and as JSON, and what an
// unknown product or path answers.
func TestCatalog(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		t.Run("CatalogAsHTML", func(t *testing.T) {
			c := newClient(t)
			r := c.Get(t, s.URL, "/", false)
			wantStatus(t, r, http.StatusOK)
			for _, want := range []string{`<meta name="csrf-token"`, "Stoneware Mug", "Wireless Headphones", `action="/cart/items?idempotency_key=`} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("catalog page lacks %q", want)
				}
			}
			if got := r.Header.Get("X-Served-By"); got != "replica-a" {
				t.Errorf("X-Served-By = %q, want replica-a", got)
			}
			// The first page hands a new visitor a session token (a
			// browser-session cookie) and stores nothing: looking costs
			// no store write (TestStoreRoundTrips counts them). The token
			// makes the visitor's first writes, however many at once,
			// land in one session.
			var minted *http.Cookie
			for _, ck := range r.Cookies() {
				if ck.Name == "session" {
					minted = ck
				}
			}
			if minted == nil || !minted.Expires.IsZero() || minted.MaxAge != 0 || !minted.HttpOnly {
				t.Errorf("first page's session cookie = %+v; want one browser-session HttpOnly cookie", minted)
			}
			if again := c.Get(t, s.URL, "/", false); sessionCookies(again) != 0 {
				t.Error("a second page set the session cookie again")
			}
		})

		t.Run("CatalogAsJSON", func(t *testing.T) {
			var v struct {
				Products []struct {
					ID         string `json:"id"`
					SKU        string `json:"sku"`
					Name       string `json:"name"`
					PriceCents int64  `json:"price_cents"`
					Stock      int    `json:"stock"`
				} `json:"products"`
			}
			newClient(t).Get(t, s.URL, "/", true).JSON(t, &v)
			if len(v.Products) < 12 {
				t.Fatalf("got %d products, want at least 12", len(v.Products))
			}
			for _, p := range v.Products {
				if p.ID == "" || p.SKU == "" || p.Name == "" || p.PriceCents <= 0 {
					t.Errorf("incomplete product %+v", p)
				}
			}
		})

		t.Run("ProductPage", func(t *testing.T) {
			c := newClient(t)
			r := c.Get(t, s.URL, "/products/4", false)
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(r.Body, "Gooseneck Kettle") || !strings.Contains(r.Body, "$59.00") {
				t.Errorf("product page lacks name or price:\n%.400s", r.Body)
			}
			var p struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}
			c.Get(t, s.URL, "/products/4", true).JSON(t, &p)
			if p.ID != "4" || p.Name != "Gooseneck Kettle" {
				t.Errorf("product JSON = %+v", p)
			}
		})

		t.Run("UnknownProductIs404", func(t *testing.T) {
			c := newClient(t)
			for _, path := range []string{"/products/999", "/products/abc", "/products/-1"} {
				wantError(t, c.Get(t, s.URL, path, true), http.StatusNotFound, map[bool]string{true: "product_not_found", false: "not_found"}[path == "/products/999"])
				r := c.Get(t, s.URL, path, false)
				wantStatus(t, r, http.StatusNotFound)
				if !strings.Contains(r.Body, "<html") || r.Header.Get("X-Served-By") == "" {
					t.Errorf("%s: want an HTML error page with X-Served-By", path)
				}
			}
		})

		t.Run("UnknownRouteIs404WithServedBy", func(t *testing.T) {
			r := newClient(t).Get(t, s.URL, "/no/such/page", true)
			wantError(t, r, http.StatusNotFound, "not_found")
			if r.Header.Get("X-Served-By") != "replica-a" {
				t.Error("404 lacks X-Served-By")
			}
		})
	})
}

// TestCart: the browser's cart: adding, setting and removing lines, the cart
// page, what bad input answers, and retried adds.
func TestCart(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		t.Run("CartAddSetRemove", func(t *testing.T) {
			c := newClient(t)
			tok := c.Token(t, s.URL)
			r := c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"1"}, "quantity": {"2"}}, tok, false)
			wantStatus(t, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != "/cart" {
				t.Errorf("Location = %q, want /cart", loc)
			}
			// No quantity means 1; JSON clients get the cart back.
			r = c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"3"}}, tok, true)
			wantStatus(t, r, http.StatusOK)
			var v testenv.Cart
			r.JSON(t, &v)
			if got := v.Quantities(); got["1"] != 2 || got["3"] != 1 || v.Count != 3 || v.TotalCents != 2*1800+1450 {
				t.Fatalf("cart after adds = %+v", v)
			}
			if v.Items[0].LineTotalCents != 3600 || v.Items[0].UnitPriceCents != 1800 {
				t.Errorf("line 1 = %+v, want unit 1800 total 3600", v.Items[0])
			}
			wantStatus(t, c.Post(t, s.URL, "/cart/items/1", url.Values{"quantity": {"5"}}, tok, false), http.StatusSeeOther)
			if got := c.Cart(t, s.URL).Quantities(); got["1"] != 5 {
				t.Errorf("after set to 5: %v", got)
			}
			wantStatus(t, c.Post(t, s.URL, "/cart/items/1", url.Values{"quantity": {"0"}}, tok, true), http.StatusOK)
			wantStatus(t, c.Post(t, s.URL, "/cart/items/3/delete", nil, tok, false), http.StatusSeeOther)
			if v := c.Cart(t, s.URL); len(v.Items) != 0 || v.Count != 0 || v.TotalCents != 0 {
				t.Errorf("cart after removing everything = %+v", v)
			}
		})

		t.Run("CartPageShowsLinesAndFlash", func(t *testing.T) {
			c := newClient(t)
			c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"2"}, "quantity": {"3"}}, c.Token(t, s.URL), false)
			r := c.Get(t, s.URL, "/cart", false)
			wantStatus(t, r, http.StatusOK)
			for _, want := range []string{"Pour-Over Coffee Dripper", "$87.00", "Added Pour-Over Coffee Dripper to your cart."} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("cart page lacks %q", want)
				}
			}
			if r = c.Get(t, s.URL, "/cart", false); strings.Contains(r.Body, "Added Pour-Over") {
				t.Error("flash shown twice")
			}
		})

		t.Run("CartRejectsBadInput", func(t *testing.T) {
			c := newClient(t)
			tok := c.Token(t, s.URL)
			c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"5"}, "quantity": {"4"}}, tok, false)
			before := c.Cart(t, s.URL)
			cases := []struct {
				name, path string
				form       url.Values
				code       string
			}{
				{"QuantityZero", "/cart/items", url.Values{"product_id": {"5"}, "quantity": {"0"}}, "invalid_quantity"},
				{"QuantityAbove99", "/cart/items", url.Values{"product_id": {"5"}, "quantity": {"100"}}, "invalid_quantity"},
				{"QuantityNotANumber", "/cart/items", url.Values{"product_id": {"5"}, "quantity": {"lots"}}, "invalid_quantity"},
				{"QuantityNegative", "/cart/items", url.Values{"product_id": {"5"}, "quantity": {"-3"}}, "invalid_quantity"},
				{"UnknownProduct", "/cart/items", url.Values{"product_id": {"999"}}, "unknown_product"},
				{"ProductNotANumber", "/cart/items", url.Values{"product_id": {"mug"}}, "unknown_product"},
				{"MissingProduct", "/cart/items", url.Values{}, "unknown_product"},
				{"SetAbove99", "/cart/items/5", url.Values{"quantity": {"100"}}, "invalid_quantity"},
				{"SetMissingQuantity", "/cart/items/5", url.Values{}, "invalid_quantity"},
				{"SetUnknownProduct", "/cart/items/999", url.Values{"quantity": {"1"}}, "unknown_product"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					wantError(t, c.Post(t, s.URL, tc.path, tc.form, tok, true), http.StatusUnprocessableEntity, tc.code)
					r := c.Post(t, s.URL, tc.path, tc.form, tok, false)
					wantStatus(t, r, http.StatusUnprocessableEntity)
					if !strings.Contains(r.Body, "<html") {
						t.Error("HTML client did not get a page")
					}
				})
			}
			if after := c.Cart(t, s.URL); fmt.Sprint(after.Quantities()) != fmt.Sprint(before.Quantities()) {
				t.Errorf("bad input changed the cart: before %v, after %v", before.Quantities(), after.Quantities())
			}
		})

		t.Run("ProductFormShowsQuantityError", func(t *testing.T) {
			c := newClient(t)
			r := c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"6"}, "quantity": {"500"}}, c.Token(t, s.URL), false)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if !strings.Contains(r.Body, "Fountain Pen") || !strings.Contains(r.Body, "Enter a number from 1 to 99.") || !strings.Contains(r.Body, `aria-invalid="true"`) {
				t.Errorf("product page does not show the quantity error next to the field:\n%.2000s", r.Body)
			}
		})

		t.Run("RetriedAddIsAppliedOnce", func(t *testing.T) {
			c := newClient(t)
			page := c.Get(t, s.URL, "/products/8", false)
			m := regexp.MustCompile(`name="idempotency_key" value="([^"]+)"`).FindStringSubmatch(page.Body)
			if m == nil {
				t.Fatal("the add-to-cart form carries no idempotency_key")
			}
			if again := c.Get(t, s.URL, "/products/8", false); strings.Contains(again.Body, m[1]) {
				t.Error("a new render of the form reuses the idempotency key")
			}
			form := url.Values{"product_id": {"8"}, "quantity": {"2"}, "idempotency_key": {m[1]}}
			for range 3 { // the original and two retries (nginx, a double click)
				wantStatus(t, c.Post(t, s.URL, "/cart/items", form, c.CSRF(), false), http.StatusSeeOther)
			}
			// The API's header does the same.
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/cart/items", strings.NewReader("product_id=8"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("X-CSRF-Token", c.CSRF())
			req.Header.Set("Idempotency-Key", "api-retry-0001")
			wantStatus(t, c.Do(t, req), http.StatusOK)
			req.Body = io.NopCloser(strings.NewReader("product_id=8"))
			wantStatus(t, c.Do(t, req), http.StatusOK)
			if got := c.Cart(t, s.URL).Quantities()["8"]; got != 3 {
				t.Errorf("quantity after retries = %d, want 3 (2 once from the form, 1 once from the header)", got)
			}
			wantError(t, c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"8"}, "idempotency_key": {"bad key!"}}, c.CSRF(), true),
				http.StatusUnprocessableEntity, "invalid_idempotency_key")
		})

		t.Run("ReusedKeyIsRefused", func(t *testing.T) {
			c := newClient(t)
			key := testenv.RandomName("reuse-")
			first := url.Values{"product_id": {"9"}, "quantity": {"2"}, "idempotency_key": {key}}
			wantStatus(t, c.Post(t, s.URL, "/cart/items", first, c.Token(t, s.URL), false), http.StatusSeeOther)
			for _, form := range []url.Values{
				{"product_id": {"9"}, "quantity": {"3"}, "idempotency_key": {key}},
				{"product_id": {"10"}, "quantity": {"2"}, "idempotency_key": {key}},
			} {
				wantError(t, c.Post(t, s.URL, "/cart/items", form, c.CSRF(), true), http.StatusUnprocessableEntity, "idempotency_key_reused")
				r := c.Post(t, s.URL, "/cart/items", form, c.CSRF(), false)
				wantStatus(t, r, http.StatusUnprocessableEntity)
				if !strings.Contains(r.Body, "already used for a different request") {
					t.Errorf("HTML answer to a reused key does not say so:\n%.2000s", r.Body)
				}
			}
			// The very same request is still a retry, answered as before.
			wantStatus(t, c.Post(t, s.URL, "/cart/items", first, c.CSRF(), false), http.StatusSeeOther)
			if got := c.Cart(t, s.URL).Quantities(); fmt.Sprint(got) != "map[9:2]" {
				t.Errorf("cart = %v, want map[9:2]: a reused key must change nothing", got)
			}
		})

		t.Run("KeyInTheQueryString", func(t *testing.T) {
			// nginx sees no form body: the form carries its key in the
			// action's query string too, and the shop reads it from there.
			c := newClient(t)
			page := c.Get(t, s.URL, "/products/11", false)
			m := regexp.MustCompile(`action="/cart/items\?idempotency_key=([A-Za-z0-9_-]+)"[^>]*>(?s:.*?)name="idempotency_key" value="([^"]+)"`).FindStringSubmatch(page.Body)
			if m == nil {
				t.Fatalf("the add-to-cart form's action carries no idempotency_key:\n%.3000s", page.Body)
			}
			if m[1] != m[2] {
				t.Errorf("action key %q differs from the field's %q", m[1], m[2])
			}
			for range 3 {
				wantStatus(t, c.Post(t, s.URL, "/cart/items?idempotency_key="+m[1], url.Values{"product_id": {"11"}}, c.Token(t, s.URL), false), http.StatusSeeOther)
			}
			if got := c.Cart(t, s.URL).Quantities()["11"]; got != 1 {
				t.Errorf("quantity after three posts with the key in the URL = %d, want 1", got)
			}
		})

		t.Run("HandlerErrorCommitsSessionOnce", func(t *testing.T) {
			// The first add of a guest starts a cart (the session changes), then
			// fails on the unknown product: the session is still saved, once
			// (scs.LoadAndSave wrapped into Echo commits twice here and sends
			// two Set-Cookie headers). The browser has had its cookie since
			// the first page, so the answer needs none.
			for _, asJSON := range []bool{true, false} {
				c := newClient(t)
				r := c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"999"}}, c.Token(t, s.URL), asJSON)
				wantStatus(t, r, http.StatusUnprocessableEntity)
				if n := sessionCookies(r); n > 1 {
					t.Errorf("JSON=%v: %d session Set-Cookie headers, want at most 1: %v", asJSON, n, r.Header.Values("Set-Cookie"))
				}
				if !c.Session(t, s.URL).Exists {
					t.Errorf("JSON=%v: the session set on the error path was not stored", asJSON)
				}
			}
		})
	})
}

// TestCSRF: every unsafe browser request needs the CSRF token, and a refused
// one changes nothing.
func TestCSRF(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		t.Run("CSRFRejected", func(t *testing.T) {
			c := newClient(t)
			tok := c.Token(t, s.URL)
			c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"1"}}, tok, false)
			email := testenv.RandomName("csrf") + "@example.com"
			unsafe := []struct {
				path string
				form url.Values
			}{
				{"/cart/items", url.Values{"product_id": {"2"}}},
				{"/cart/items/1", url.Values{"quantity": {"7"}}},
				{"/cart/items/1/delete", nil},
				{"/signup", url.Values{"email": {email}, "password": {"password123"}}},
				{"/login", url.Values{"email": {email}, "password": {"password123"}}},
				{"/logout", nil},
			}
			for _, u := range unsafe {
				for _, bad := range []string{"", "wrong-token"} {
					wantError(t, c.Post(t, s.URL, u.path, u.form, bad, true), http.StatusForbidden, "invalid_csrf_token")
					// A browser that sends Sec-Fetch-Site still needs the token.
					req, _ := http.NewRequest(http.MethodPost, s.URL+u.path, strings.NewReader(u.form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Sec-Fetch-Site", "same-origin")
					if r := c.Do(t, req); r.StatusCode != http.StatusForbidden {
						t.Errorf("POST %s with Sec-Fetch-Site and no token: status %d, want 403", u.path, r.StatusCode)
					}
				}
			}
			if got := c.Cart(t, s.URL).Quantities(); len(got) != 1 || got["1"] != 1 {
				t.Errorf("refused requests changed the cart: %v", got)
			}
			if c.Session(t, s.URL).Authenticated {
				t.Error("refused signup or login logged the client in")
			}
			// The token in the header works as well as the form field.
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/cart/items", strings.NewReader("product_id=2"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-CSRF-Token", tok)
			wantStatus(t, c.Do(t, req), http.StatusSeeOther)
		})

		// The token is accepted from the header or the POST body only: in
		// the URL it leaks through logs, history and Referer headers. (It
		// was read from the query string before issue 11.)
		t.Run("CSRFTokenInTheURLIsRefused", func(t *testing.T) {
			c := newClient(t)
			tok := c.Token(t, s.URL)
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/cart/items?csrf_token="+url.QueryEscape(tok), strings.NewReader("product_id=2"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
			wantError(t, c.Do(t, req), http.StatusForbidden, "invalid_csrf_token")
			if n := c.Cart(t, s.URL).Count; n != 0 {
				t.Errorf("a request with the token in the URL changed the cart (%d items)", n)
			}
		})

		// The token is tied to the session: one browser's token does not
		// work with another browser's cookie (a double-submit token
		// copied by a script on a sibling domain that could plant
		// cookies), and it changes at login.
		t.Run("CSRFTokenBelongsToItsSession", func(t *testing.T) {
			a, b := newClient(t), newClient(t)
			aTok, bTok := a.Token(t, s.URL), b.Token(t, s.URL)
			if aTok == bTok {
				t.Fatal("two browsers got the same CSRF token")
			}
			wantError(t, b.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"2"}}, aTok, true), http.StatusForbidden, "invalid_csrf_token")
			b.signup(t, s.URL, testenv.RandomName("tok")+"@example.com", "password123")
			if after := b.Token(t, s.URL); after == bTok {
				t.Error("the CSRF token did not change at login")
			}
			wantError(t, b.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"2"}}, bTok, true), http.StatusForbidden, "invalid_csrf_token")
		})
	})
}

// TestSignup: sign-up logs in, and bad input is refused field by field.
func TestSignup(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, kind config.Kind) {
		t.Run("SignupLogsIn", func(t *testing.T) {
			c := newClient(t)
			email := testenv.RandomName("ann") + "@Example.com"
			r := c.Post(t, s.URL, "/signup", url.Values{"email": {email}, "password": {"correct horse"}}, c.Token(t, s.URL), false)
			wantStatus(t, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != "/" {
				t.Errorf("Location = %q, want /", loc)
			}
			if si := c.Session(t, s.URL); !si.Authenticated || si.Store != string(kind) {
				t.Errorf("session after signup = %+v", si)
			}
			page := c.Get(t, s.URL, "/", false)
			if !strings.Contains(page.Body, email) || !strings.Contains(page.Body, `action="/logout"`) {
				t.Error("header does not show the signed-in user and a logout form")
			}
			// The same email in another case is taken.
			other := newClient(t)
			e := wantError(t, other.Post(t, s.URL, "/signup", url.Values{"email": {strings.ToUpper(email)}, "password": {"another pass"}}, other.Token(t, s.URL), true),
				http.StatusConflict, "email_taken")
			if e.Error.Fields["email"] == "" {
				t.Error("email_taken has no email field error")
			}
		})

		t.Run("SignupRejectsBadInput", func(t *testing.T) {
			c := newClient(t)
			tok := c.Token(t, s.URL)
			for _, tc := range []struct {
				name, email, password, field string
			}{
				{"EmptyEmail", "", "password123", "email"},
				{"BadEmail", "not-an-email", "password123", "email"},
				{"ShortPassword", "bob@example.com", "short", "password"},
				{"LongPassword", "bob@example.com", strings.Repeat("x", 73), "password"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					form := url.Values{"email": {tc.email}, "password": {tc.password}}
					e := wantError(t, c.Post(t, s.URL, "/signup", form, tok, true), http.StatusUnprocessableEntity, "invalid_signup")
					if e.Error.Fields[tc.field] == "" {
						t.Errorf("no error on field %s: %+v", tc.field, e.Error.Fields)
					}
					r := c.Post(t, s.URL, "/signup", form, tok, false)
					wantStatus(t, r, http.StatusUnprocessableEntity)
					if !strings.Contains(r.Body, e.Error.Fields[tc.field]) || !strings.Contains(r.Body, `aria-invalid="true"`) {
						t.Errorf("form page does not show %q next to its field", e.Error.Fields[tc.field])
					}
					if tc.email != "" && !strings.Contains(r.Body, `value="`+tc.email+`"`) {
						t.Error("form page does not keep the typed email")
					}
				})
			}
			if c.Session(t, s.URL).Authenticated {
				t.Error("a failed signup logged in")
			}
		})
	})
}

// TestLogin: login and logout: one message for any wrong credential, a new
// token at login and logout, remember me, and the guest cart merging into
// the account's.
func TestLogin(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		t.Run("LoginWrongEmailOrPasswordSameMessage", func(t *testing.T) {
			email := testenv.RandomName("cid") + "@example.com"
			newClient(t).signup(t, s.URL, email, "right password")
			c := newClient(t)
			tok := c.Token(t, s.URL)
			wrongPass := wantError(t, c.Post(t, s.URL, "/login", url.Values{"email": {email}, "password": {"wrong password"}}, tok, true), http.StatusUnauthorized, "invalid_credentials")
			noUser := wantError(t, c.Post(t, s.URL, "/login", url.Values{"email": {"nobody-" + email}, "password": {"right password"}}, tok, true), http.StatusUnauthorized, "invalid_credentials")
			if wrongPass.Error.Message != noUser.Error.Message {
				t.Errorf("messages differ: %q vs %q", wrongPass.Error.Message, noUser.Error.Message)
			}
			wantError(t, c.Post(t, s.URL, "/login", url.Values{"email": {""}, "password": {""}}, tok, true), http.StatusUnprocessableEntity, "invalid_login")
			r := c.Post(t, s.URL, "/login", url.Values{"email": {email}, "password": {"wrong password"}}, tok, false)
			wantStatus(t, r, http.StatusUnauthorized)
			if !strings.Contains(r.Body, wrongPass.Error.Message) || !strings.Contains(r.Body, email) {
				t.Error("login page does not show the error and keep the email")
			}
			if c.Session(t, s.URL).Authenticated {
				t.Error("failed logins logged in")
			}
		})

		t.Run("LoginRenewsTokenAndOldCookieIsRefused", func(t *testing.T) {
			email := testenv.RandomName("dan") + "@example.com"
			newClient(t).signup(t, s.URL, email, "dan's password")
			c := newClient(t)
			tok := c.Token(t, s.URL)
			c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"1"}}, tok, false)
			before := c.Cookie("session")
			if before == "" {
				t.Fatal("no session cookie after adding to the cart")
			}
			r := c.Post(t, s.URL, "/login", url.Values{"email": {strings.ToUpper(email)}, "password": {"dan's password"}}, tok, false)
			wantStatus(t, r, http.StatusSeeOther)
			if n := sessionCookies(r); n != 1 {
				t.Errorf("login set %d session cookies, want 1", n)
			}
			after := c.Cookie("session")
			if after == "" || after == before {
				t.Fatalf("token not renewed at login: before %q after %q", before, after)
			}
			if !c.Session(t, s.URL).Authenticated {
				t.Fatal("not logged in with the new token")
			}
			// The pre-login token (planted by an attacker, say) is worthless.
			attacker := newClient(t)
			attacker.SetCookie("session", before)
			if si := attacker.Session(t, s.URL); si.Exists || si.Authenticated {
				t.Errorf("old token still works: %+v", si)
			}
		})

		t.Run("RememberMeGivesPersistentCookie", func(t *testing.T) {
			email := testenv.RandomName("eve") + "@example.com"
			newClient(t).signup(t, s.URL, email, "eve's password")
			for _, remember := range []bool{false, true} {
				c := newClient(t)
				form := url.Values{"email": {email}, "password": {"eve's password"}}
				if remember {
					form.Set("remember_me", "on")
				}
				r := c.Post(t, s.URL, "/login", form, c.Token(t, s.URL), false)
				wantStatus(t, r, http.StatusSeeOther)
				var ck *http.Cookie
				for _, x := range r.Cookies() {
					if x.Name == "session" {
						ck = x
					}
				}
				if ck == nil {
					t.Fatal("no session cookie")
				}
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
					t.Errorf("cookie attributes: HttpOnly=%v SameSite=%v Path=%q", ck.HttpOnly, ck.SameSite, ck.Path)
				}
				if persistent := !ck.Expires.IsZero() || ck.MaxAge > 0; persistent != remember {
					t.Errorf("remember_me=%v: cookie persistent=%v (Expires %v, Max-Age %d)", remember, persistent, ck.Expires, ck.MaxAge)
				}
				// A remembered login outlives the idle timeout: the cookie lasts
				// for SESSION_REMEMBER_LIFETIME, not for 30 idle minutes.
				if remember && ck.MaxAge < int((7*24*time.Hour).Seconds()) {
					t.Errorf("remember_me cookie Max-Age = %ds, want about 30 days", ck.MaxAge)
				}
				if si := c.Session(t, s.URL); si.RememberMe != remember || !si.Authenticated {
					t.Errorf("remember_me=%v: session %+v", remember, si)
				}
			}
		})

		t.Run("LogoutEndsSession", func(t *testing.T) {
			c := newClient(t)
			c.signup(t, s.URL, testenv.RandomName("fay")+"@example.com", "fay's password")
			old := c.Cookie("session")
			r := c.Post(t, s.URL, "/logout", nil, c.Token(t, s.URL), false)
			wantStatus(t, r, http.StatusSeeOther)
			if c.Session(t, s.URL).Authenticated {
				t.Error("still logged in after logout")
			}
			if c.Cookie("session") == old {
				t.Error("logout kept the session token")
			}
			replay := newClient(t)
			replay.SetCookie("session", old)
			if replay.Session(t, s.URL).Authenticated {
				t.Error("the logged-out token still works")
			}
			if page := c.Get(t, s.URL, "/", false); !strings.Contains(page.Body, "You have been logged out.") {
				t.Error("no logout flash")
			}
		})

		t.Run("GuestCartMergesAtLogin", func(t *testing.T) {
			email := testenv.RandomName("gus") + "@example.com"
			// Enough mugs in stock that only the line's cap of 99 holds
			// the merge back (an add is capped at the stock too).
			if _, err := s.App.Pools.DB.Exec(t.Context(), `UPDATE products SET stock = 500 WHERE id = 1`); err != nil {
				t.Fatal(err)
			}
			// Earlier visit: the account's cart holds 97 mugs.
			earlier := newClient(t)
			earlier.signup(t, s.URL, email, "gus's password")
			earlier.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"1"}, "quantity": {"97"}}, earlier.Token(t, s.URL), false)
			// Now, as a guest on another device: 5 mugs and a notebook.
			c := newClient(t)
			tok := c.Token(t, s.URL)
			c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"1"}, "quantity": {"5"}}, tok, false)
			c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {"5"}, "quantity": {"2"}}, tok, false)
			wantStatus(t, c.Post(t, s.URL, "/login", url.Values{"email": {email}, "password": {"gus's password"}}, tok, false), http.StatusSeeOther)
			got := c.Cart(t, s.URL).Quantities()
			if got["1"] != 99 || got["5"] != 2 || len(got) != 2 {
				t.Errorf("merged cart = %v, want 1:99 (capped) and 5:2", got)
			}
			// Both devices see the one account cart.
			if other := earlier.Cart(t, s.URL).Quantities(); fmt.Sprint(other) != fmt.Sprint(got) {
				t.Errorf("other device sees %v, want %v", other, got)
			}
			// After logout the guest cart is gone too: it was merged, not
			// copied. (The CSRF token changed at login, with the session
			// token.)
			wantStatus(t, c.Post(t, s.URL, "/logout", nil, c.Token(t, s.URL), false), http.StatusSeeOther)
			if v := c.Cart(t, s.URL); v.Count != 0 {
				t.Errorf("cart after logout = %v, want empty", v.Quantities())
			}
		})
	})
}

// TestSystem: the probes and the /session debug route.
func TestSystem(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, kind config.Kind) {
		t.Run("SessionRouteNeverShowsToken", func(t *testing.T) {
			c := newClient(t)
			c.signup(t, s.URL, testenv.RandomName("hal")+"@example.com", "hal's password")
			r := c.Get(t, s.URL, "/session", true)
			wantStatus(t, r, http.StatusOK)
			if strings.Contains(r.Body, c.Cookie("session")) {
				t.Error("/session shows the session token")
			}
			var si testenv.SessionInfo
			r.JSON(t, &si)
			if si.Store != string(kind) || si.Replica != "replica-a" || !si.Exists || !si.Authenticated {
				t.Errorf("/session = %+v", si)
			}
			for _, field := range []string{`"idle_expires_at"`, `"absolute_expires_at"`} {
				if !strings.Contains(r.Body, field) {
					t.Errorf("/session lacks %s", field)
				}
			}
		})

		t.Run("HealthAndReadiness", func(t *testing.T) {
			c := newClient(t)
			for _, path := range []string{"/healthz", "/readyz"} {
				r := c.Get(t, s.URL, path, true)
				wantStatus(t, r, http.StatusOK)
				if sessionCookies(r) != 0 || r.Header.Get("X-Served-By") != "replica-a" {
					t.Errorf("%s: set a session cookie or lacks X-Served-By", path)
				}
			}
		})
	})
}

// TestConcurrentAddsThroughTwoInstances sends 20 adds at once for one cart
// through two shop instances that share one store, as two replicas behind a
// load balancer do: every one of them must count.
func TestConcurrentAddsThroughTwoInstances(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			shops := []*shop{startShop(t, b, "replica-a"), startShop(t, b, "replica-b")}
			c := newClient(t)
			tok := c.Token(t, shops[0].URL)
			// The first add starts the session and the cart.
			wantStatus(t, c.Post(t, shops[0].URL, "/cart/items", url.Values{"product_id": {"2"}}, tok, true), http.StatusOK)

			const n = 20
			var wg sync.WaitGroup
			errs := make(chan string, 2*n)
			for i := range n {
				for _, pid := range []string{"1", "7"} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						s := shops[i%2]
						r := c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {pid}}, tok, true)
						if r.StatusCode != http.StatusOK {
							errs <- fmt.Sprintf("add %s via %s: %d %s", pid, s.URL, r.StatusCode, r.Body)
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			for _, s := range shops {
				got := c.Cart(t, s.URL).Quantities()
				if got["1"] != n || got["7"] != n || got["2"] != 1 {
					t.Errorf("cart via %s = %v, want 1:%d 7:%d 2:1", s.URL, got, n, n)
				}
			}
		})
	}
}

// TestMemoryStoreIsPerProcess shows the workshop's pitfall: with
// SESSION_STORE=memory, a second instance knows nothing of the first's
// sessions and carts.
func TestMemoryStoreIsPerProcess(t *testing.T) {
	b := newBackend(t, config.StoreMemory)
	a, other := startShop(t, b, "replica-a"), startShop(t, b, "replica-b")
	c := newClient(t)
	wantStatus(t, c.Post(t, a.URL, "/cart/items", url.Values{"product_id": {"1"}, "quantity": {"3"}}, c.Token(t, a.URL), true), http.StatusOK)
	if got := c.Cart(t, a.URL).Count; got != 3 {
		t.Fatalf("cart on the same instance: count %d, want 3", got)
	}
	if got := c.Cart(t, other.URL).Count; got != 0 {
		t.Errorf("cart on another instance: count %d, want 0 (memory sessions are per process)", got)
	}
}
