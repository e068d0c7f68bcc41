package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
)

// TestVaryCookie: every response that depends on the session says so, so
// that no cache between the shop and a browser hands one shopper's page
// (cart badge, greeting, flash) to another. Probes do not load a session
// and do not vary.
func TestVaryCookie(t *testing.T) {
	t.Parallel()
	s := startShop(t, newBackend(t, config.StorePostgres), "replica-a")
	c := newClient(t)
	varies := func(r response) bool {
		var all []string
		for _, v := range r.Header.Values("Vary") {
			for _, f := range strings.Split(v, ",") {
				all = append(all, strings.TrimSpace(f))
			}
		}
		return slices.Contains(all, "Cookie")
	}
	for _, tc := range []struct {
		path   string
		asJSON bool
		status int
		want   bool
	}{
		{"/", false, http.StatusOK, true},
		{"/", true, http.StatusOK, true},
		{"/cart", false, http.StatusOK, true},
		{"/session", true, http.StatusOK, true},
		{"/no-such-page", false, http.StatusNotFound, true},
		{"/healthz", true, http.StatusOK, false},
	} {
		r := c.Get(t, s.URL, tc.path, tc.asJSON)
		wantStatus(t, r, tc.status)
		if got := varies(r); got != tc.want {
			t.Errorf("GET %s (json %v): Vary %q, Cookie listed = %v, want %v", tc.path, tc.asJSON, r.Header.Values("Vary"), got, tc.want)
		}
	}
}
