package shopclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/the-shop/shop/internal/shopclient"
	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/testenv/cluster"
)

// shop is the build the test's cluster runs, made once by TestMain (the
// test binary's main, so its one variable).
var shop *cluster.Shop

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	s, err := cluster.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	shop = s
	return m.Run()
}

// TestClient drives a real shop (one replica behind nginx) through every
// call of the client.
func TestClient(t *testing.T) {
	c := shop.Start(t, cluster.Options{Replicas: 1})
	ctx := context.Background()
	email := testenv.RandomName("client-") + "@example.com"

	t.Run("PageKeepsTheCSRFToken", func(t *testing.T) {
		cl := shopclient.New(c.URL, shopclient.Options{})
		r, err := cl.Page(ctx, "/")
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("GET /: %v %v", r.Response, err)
		}
		if cl.CSRF == "" || r.ServedBy() != "shop-1" {
			t.Errorf("CSRF %q, served by %q; want a token, shop-1", cl.CSRF, r.ServedBy())
		}
	})
	t.Run("FormWithoutTokenIsRefused", func(t *testing.T) {
		cl := shopclient.New(c.URL, shopclient.Options{})
		r, err := cl.PostForm(ctx, "/cart/items", url.Values{"product_id": {"1"}})
		if err != nil || r.StatusCode != http.StatusForbidden {
			t.Errorf("POST without a CSRF token: %v %v, want 403", r.Response, err)
		}
	})
	t.Run("CartAndSignUp", func(t *testing.T) {
		cl := shopclient.New(c.URL, shopclient.Options{})
		cart, _, err := cl.Add(ctx, 1, 2)
		if err != nil || cart.Count != 2 {
			t.Fatalf("Add: %+v %v", cart, err)
		}
		if cl.Cookie("session") == "" {
			t.Error("no session cookie after adding to the cart")
		}
		cart, _, err = cl.Cart(ctx)
		if err != nil || cart.Count != 2 || cart.Quantities()["1"] != 2 || cart.TotalCents <= 0 {
			t.Errorf("Cart: %+v %v", cart, err)
		}
		si, _, err := cl.Session(ctx)
		if err != nil || !si.Exists || si.Authenticated || si.Store != "redis" || si.IdleExpiresAt == nil {
			t.Errorf("Session before signing up: %+v %v", si, err)
		}
		if _, err := cl.SignUp(ctx, email, "client password"); err != nil {
			t.Fatal(err)
		}
		if si, _, err := cl.Session(ctx); err != nil || !si.Authenticated {
			t.Errorf("Session after signing up: %+v %v", si, err)
		}
	})
	t.Run("LogIn", func(t *testing.T) {
		cl := shopclient.New(c.URL, shopclient.Options{})
		_, err := cl.LogIn(ctx, email, "wrong password")
		var se *shopclient.StatusError
		if !errors.As(err, &se) || se.Status < 400 || se.Path != "/login" {
			t.Errorf("wrong password: %v, want a *StatusError for /login", err)
		}
		if _, err := cl.LogIn(ctx, email, "client password"); err != nil {
			t.Error(err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		cl := shopclient.New(c.URL, shopclient.Options{})
		_, err := cl.GetJSON(ctx, "/no-such-page", nil)
		var se *shopclient.StatusError
		if !errors.As(err, &se) || se.Status != http.StatusNotFound {
			t.Errorf("GET /no-such-page: %v, want a 404 *StatusError", err)
		}
	})
	t.Run("APIWithBearerAndNoCookies", func(t *testing.T) {
		api := shopclient.New(c.URL, shopclient.Options{NoCookies: true})
		r, err := api.CallJSON(ctx, http.MethodGet, "/api/v1/cart", nil)
		if err != nil || r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET /api/v1/cart without a token: %v %v, want 401", r.Response, err)
		}
		r, err = api.CallJSON(ctx, http.MethodPost, "/api/v1/tokens", map[string]string{"email": email, "password": "client password"})
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := r.Expect(http.StatusOK); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(r.Body, &tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("token answer %s: %v", r.Body, err)
		}
		api.Bearer = tok.AccessToken
		var cart shopclient.Cart
		if _, err := api.GetJSON(ctx, "/api/v1/cart", &cart); err != nil || cart.Count != 2 {
			t.Errorf("GET /api/v1/cart with the token: %+v %v; want the account's 2 items", cart, err)
		}
		if api.Cookie("session") != "" {
			t.Error("an API client kept a cookie")
		}
	})
}
