package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// TestSearch: GET /?q= searches the catalog, as HTML (a plain GET form,
// no JavaScript) and as JSON.
func TestSearch(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		t.Run("PageHasASearchFormThatWorksWithoutScript", func(t *testing.T) {
			c := newClient(t)
			r := c.Get(t, s.URL, "/", false)
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(r.Body, `role="search"`) || !strings.Contains(r.Body, `method="get" action="/"`) || !strings.Contains(r.Body, `name="q"`) {
				t.Errorf("catalog has no GET search form:\n%.2000s", r.Body)
			}
			r = c.Get(t, s.URL, "/?q="+url.QueryEscape("headphones"), false)
			wantStatus(t, r, http.StatusOK)
			for _, want := range []string{"Wireless Headphones", "1 product matches", `value="headphones"`, "<title>Search: headphones"} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("search page lacks %q", want)
				}
			}
			if strings.Contains(r.Body, "Stoneware Mug") {
				t.Error("search page shows a product that does not match")
			}
		})

		t.Run("NoMatchSaysSo", func(t *testing.T) {
			r := newClient(t).Get(t, s.URL, "/?q=zeppelin", false)
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(r.Body, "Nothing matches “zeppelin”") {
				t.Errorf("no-match page lacks the message:\n%.2000s", r.Body)
			}
		})

		t.Run("JSONCarriesTheQuery", func(t *testing.T) {
			r := newClient(t).Get(t, s.URL, "/?q=coffee", true)
			wantStatus(t, r, http.StatusOK)
			var v struct {
				Query    string `json:"query"`
				Products []struct {
					Name string `json:"name"`
				} `json:"products"`
			}
			r.JSON(t, &v)
			if v.Query != "coffee" || len(v.Products) < 2 || v.Products[0].Name != "Pour-Over Coffee Dripper" {
				t.Errorf("search JSON = %+v, want query coffee with the dripper first", v)
			}
		})
	})
}

// TestSignupFromCheckoutReturnsToTheCart: "Log in to check out" leads to
// the login form with next=/cart; its "Create an account" link keeps the
// target, and so does the sign-up that follows, even after a mistake.
func TestSignupFromCheckoutReturnsToTheCart(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		c := newClient(t)
		login := c.Get(t, s.URL, "/login?next=/cart", false)
		if !strings.Contains(login.Body, `href="/signup?next=%2fcart"`) && !strings.Contains(login.Body, `href="/signup?next=/cart"`) {
			t.Fatalf("login page's sign-up link loses next:\n%.3000s", login.Body)
		}
		form := c.Get(t, s.URL, "/signup?next=/cart", false)
		if !strings.Contains(form.Body, `name="next" value="/cart"`) {
			t.Fatalf("sign-up form does not carry next:\n%.3000s", form.Body)
		}
		tok := c.Token(t, s.URL)
		// A mistake re-renders the form with the target still in it.
		r := c.Post(t, s.URL, "/signup", url.Values{"email": {"x"}, "password": {"short"}, "next": {"/cart"}}, tok, false)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.Body, `name="next" value="/cart"`) {
			t.Error("re-rendered sign-up form lost next")
		}
		r = c.Post(t, s.URL, "/signup", url.Values{"email": {testenvEmail()}, "password": {"long enough"}, "next": {"/cart"}}, tok, false)
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/cart" {
			t.Errorf("after sign-up Location = %q, want /cart", loc)
		}
		// Another site is never a target.
		other := newClient(t)
		r = other.Post(t, s.URL, "/signup", url.Values{"email": {testenvEmail()}, "password": {"long enough"}, "next": {"//evil.example"}}, other.Token(t, s.URL), false)
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/" {
			t.Errorf("sign-up with next=//evil.example went to %q", loc)
		}
	})
}

func testenvEmail() string { return testenv.RandomName("next") + "@example.com" }
