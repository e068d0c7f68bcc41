package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
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
