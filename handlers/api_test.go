package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/the-shop/shop/internal/testenv"
)

// testJWTSecret signs the API tokens of every test shop, so that tests can
// make tokens of their own: expired, for another audience, and so on.
const testJWTSecret = "test-secret-of-the-shop-32-bytes-long"

// apiCall is one request of an API client: no cookie jar, no CSRF token,
// nothing but the bearer token.
func apiCall(t *testing.T, method, base, path, token, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{Response: res, Body: string(b)}
	if cookies := res.Header.Values("Set-Cookie"); len(cookies) > 0 {
		t.Errorf("%s %s set cookies %v; the API keeps no session", method, path, cookies)
	}
	return r
}

// apiToken gets a token for an account through POST /api/v1/tokens.
func apiToken(t *testing.T, base, email, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	r := apiCall(t, http.MethodPost, base, "/api/v1/tokens", "", string(body))
	wantStatus(t, r, http.StatusOK)
	var v struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	r.JSON(t, &v)
	if v.AccessToken == "" || v.TokenType != "Bearer" || v.ExpiresIn != 900 {
		t.Fatalf("token response = %+v, want a Bearer token for 900 s (JWT_TTL 15m)", v)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	return v.AccessToken
}

func apiCart(t *testing.T, base, token string) testenv.Cart {
	t.Helper()
	r := apiCall(t, http.MethodGet, base, "/api/v1/cart", token, "")
	wantStatus(t, r, http.StatusOK)
	var v testenv.Cart
	r.JSON(t, &v)
	return v
}

// signToken makes a token with the test secret (or another key) and
// claims changed from valid ones for account uid.
func signToken(t *testing.T, uid string, key string, change func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{
		"iss": "the-shop", "aud": "the-shop-api", "sub": uid,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	if change != nil {
		change(c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// subject reads the account id out of a token without checking it.
func subject(t *testing.T, token string) string {
	t.Helper()
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatal(err)
	}
	return c.Subject
}

func TestAPI(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			s := startShop(t, b, "replica-a")
			testAPI(t, b, s)
		})
	}
}

func testAPI(t *testing.T, b *backend, s *shop) {
	t.Run("TokenForCredentials", func(t *testing.T) {
		t.Parallel()
		email := testenv.RandomName("api") + "@example.com"
		newClient(t).signup(t, s.URL, email, "api password")
		tok := apiToken(t, s.URL, strings.ToUpper(email), "api password")
		if subject(t, tok) == "" {
			t.Error("token names no account")
		}
		wantError(t, apiCall(t, http.MethodPost, s.URL, "/api/v1/tokens", "", `{"email":"`+email+`","password":"wrong password"}`),
			http.StatusUnauthorized, "invalid_credentials")
		wantError(t, apiCall(t, http.MethodPost, s.URL, "/api/v1/tokens", "", `{"email":"nobody-`+email+`","password":"api password"}`),
			http.StatusUnauthorized, "invalid_credentials")
		wantError(t, apiCall(t, http.MethodPost, s.URL, "/api/v1/tokens", "", `{}`), http.StatusUnprocessableEntity, "invalid_login")
		wantError(t, apiCall(t, http.MethodPost, s.URL, "/api/v1/tokens", "", `{"email":`), http.StatusBadRequest, "bad_request")
		form := apiCall(t, http.MethodPost, s.URL, "/api/v1/tokens", "", "", "Content-Type", "application/x-www-form-urlencoded")
		wantError(t, form, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})

	t.Run("SameCartAsTheBrowser", func(t *testing.T) {
		t.Parallel()
		email := testenv.RandomName("sam") + "@example.com"
		browser := newClient(t)
		browser.signup(t, s.URL, email, "sam's password")
		browser.add(t, s.URL, "1", 2)

		tok := apiToken(t, s.URL, email, "sam's password")
		if got := apiCart(t, s.URL, tok).Quantities(); got["1"] != 2 || len(got) != 1 {
			t.Fatalf("API cart = %v, want the browser's 2 mugs", got)
		}
		// product_id as a number or a string; quantity defaults to 1.
		for _, body := range []string{`{"product_id": 3, "quantity": 2}`, `{"product_id": "5"}`, `{"product_id": 3, "quantity": "1"}`} {
			r := apiCall(t, http.MethodPost, s.URL, "/api/v1/cart/items", tok, body)
			wantStatus(t, r, http.StatusOK)
		}
		want := map[string]int{"1": 2, "3": 3, "5": 1}
		if got := apiCart(t, s.URL, tok).Quantities(); !maps.Equal(got, want) {
			t.Errorf("API cart = %v, want %v", got, want)
		}
		if got := browser.Cart(t, s.URL).Quantities(); !maps.Equal(got, want) {
			t.Errorf("browser cart = %v, want %v (one cart per account)", got, want)
		}
		// And what the API put in the cart, the browser checks out.
		r := browser.Post(t, s.URL, "/checkout", nil, browser.CSRF(), true)
		wantStatus(t, r, http.StatusOK)
		if got := apiCart(t, s.URL, tok); got.Count != 0 {
			t.Errorf("API cart after the browser's checkout = %v, want empty", got.Quantities())
		}
	})

	t.Run("IdempotencyKeyAppliesOnce", func(t *testing.T) {
		t.Parallel()
		email := testenv.RandomName("tia") + "@example.com"
		newClient(t).signup(t, s.URL, email, "tia's password")
		tok := apiToken(t, s.URL, email, "tia's password")
		for range 3 {
			r := apiCall(t, http.MethodPost, s.URL, "/api/v1/cart/items", tok, `{"product_id": 7, "quantity": 2}`, "Idempotency-Key", "retry-0000-0001")
			wantStatus(t, r, http.StatusOK)
		}
		if got := apiCart(t, s.URL, tok).Quantities()["7"]; got != 2 {
			t.Errorf("quantity after three tries with one key = %d, want 2", got)
		}
		wantError(t, apiCall(t, http.MethodPost, s.URL, "/api/v1/cart/items", tok, `{"product_id": 7}`, "Idempotency-Key", "bad key!"),
			http.StatusUnprocessableEntity, "invalid_idempotency_key")
		// The key again with another request: refused, and nothing added.
		wantError(t, apiCall(t, http.MethodPost, s.URL, "/api/v1/cart/items", tok, `{"product_id": 7, "quantity": 5}`, "Idempotency-Key", "retry-0000-0001"),
			http.StatusUnprocessableEntity, "idempotency_key_reused")
		if got := apiCart(t, s.URL, tok).Quantities()["7"]; got != 2 {
			t.Errorf("quantity after a reused key = %d, want 2", got)
		}
	})

	t.Run("BadItemsAreRefused", func(t *testing.T) {
		t.Parallel()
		email := testenv.RandomName("uma") + "@example.com"
		newClient(t).signup(t, s.URL, email, "uma's password")
		tok := apiToken(t, s.URL, email, "uma's password")
		for _, tc := range []struct{ body, code string }{
			{`{"product_id": "abc"}`, "unknown_product"},
			{`{"product_id": 999}`, "unknown_product"},
			{`{"product_id": true}`, "unknown_product"},
			{`{"product_id": 1.5}`, "unknown_product"},
			{`{}`, "unknown_product"},
			{`{"product_id": 1, "quantity": 0}`, "invalid_quantity"},
			{`{"product_id": 1, "quantity": 100}`, "invalid_quantity"},
			{`{"product_id": 1, "quantity": "lots"}`, "invalid_quantity"},
			{`{"product_id": 1, "quantity": [2]}`, "invalid_quantity"},
		} {
			wantError(t, apiCall(t, http.MethodPost, s.URL, "/api/v1/cart/items", tok, tc.body), http.StatusUnprocessableEntity, tc.code)
		}
		wantError(t, apiCall(t, http.MethodPost, s.URL, "/api/v1/cart/items", tok, `{"product_id": 1`), http.StatusBadRequest, "bad_request")
		if got := apiCart(t, s.URL, tok); got.Count != 0 {
			t.Errorf("refused requests changed the cart: %v", got.Quantities())
		}
	})

	t.Run("BadTokensAre401", func(t *testing.T) {
		t.Parallel()
		email := testenv.RandomName("val") + "@example.com"
		newClient(t).signup(t, s.URL, email, "val's password")
		good := apiToken(t, s.URL, email, "val's password")
		uid := subject(t, good)
		parts := strings.Split(good, ".")
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		// Another account's id: uid with a digit appended, never uid itself.
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claims), `"sub":"`+uid+`"`, `"sub":"`+uid+`7"`, 1))) + "." + parts[2]
		if tampered == good {
			t.Fatal("tampering left the token unchanged")
		}
		none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
			"iss": "the-shop", "aud": "the-shop-api", "sub": uid, "exp": time.Now().Add(time.Minute).Unix(),
		}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, header, code string
		}{
			{"NoHeader", "", "missing_token"},
			{"BasicAuth", "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":val's password")), "missing_token"},
			{"Garbage", "Bearer not-a-token", "invalid_token"},
			{"Expired", "Bearer " + signToken(t, uid, testJWTSecret, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "invalid_token"},
			{"Tampered", "Bearer " + tampered, "invalid_token"},
			{"AlgNone", "Bearer " + none, "invalid_token"},
			{"OtherKey", "Bearer " + signToken(t, uid, strings.Repeat("x", 40), nil), "invalid_token"},
			{"WrongAudience", "Bearer " + signToken(t, uid, testJWTSecret, func(c jwt.MapClaims) { c["aud"] = "someone-else" }), "invalid_token"},
			{"WrongIssuer", "Bearer " + signToken(t, uid, testJWTSecret, func(c jwt.MapClaims) { c["iss"] = "someone-else" }), "invalid_token"},
			{"NoExpiry", "Bearer " + signToken(t, uid, testJWTSecret, func(c jwt.MapClaims) { delete(c, "exp") }), "invalid_token"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, call := range []struct{ method, path, body string }{
					{http.MethodGet, "/api/v1/cart", ""},
					{http.MethodPost, "/api/v1/cart/items", `{"product_id": 1}`},
				} {
					hdr := []string{}
					if tc.header != "" {
						hdr = []string{"Authorization", tc.header}
					}
					r := apiCall(t, call.method, s.URL, call.path, "", call.body, hdr...)
					wantError(t, r, http.StatusUnauthorized, tc.code)
					if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s %s: WWW-Authenticate = %q, want a Bearer challenge", call.method, call.path, r.Header.Get("WWW-Authenticate"))
					}
				}
			})
		}
		if got := apiCart(t, s.URL, good); got.Count != 0 {
			t.Errorf("refused requests changed the cart: %v", got.Quantities())
		}
	})

	t.Run("SessionCookieDoesNotAuthorize", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		c.signup(t, s.URL, testenv.RandomName("wes")+"@example.com", "wes's password")
		// The browser's jar sends its session cookie (and a CSRF token).
		wantError(t, c.Get(t, s.URL, "/api/v1/cart", true), http.StatusUnauthorized, "missing_token")
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/cart/items", strings.NewReader(`{"product_id": 1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", c.CSRF())
		wantError(t, c.Do(t, req), http.StatusUnauthorized, "missing_token")
	})

	t.Run("DeletedAccountsTokenIs401", func(t *testing.T) {
		t.Parallel()
		email := testenv.RandomName("xia") + "@example.com"
		newClient(t).signup(t, s.URL, email, "xia's password")
		tok := apiToken(t, s.URL, email, "xia's password")
		apiCart(t, s.URL, tok)
		if _, err := b.db.Exec(context.Background(), `DELETE FROM users WHERE lower(email) = lower($1)`, email); err != nil {
			t.Fatal(err)
		}
		wantError(t, apiCall(t, http.MethodGet, s.URL, "/api/v1/cart", tok, ""), http.StatusUnauthorized, "invalid_token")
	})

	t.Run("UnknownAPIRouteIs404JSON", func(t *testing.T) {
		t.Parallel()
		wantError(t, apiCall(t, http.MethodGet, s.URL, "/api/v1/nothing", "", ""), http.StatusNotFound, "not_found")
	})
}

// TestAPITokenWorksOnEveryReplica issues a token on one instance and uses
// it on another: with one JWT_SECRET the API needs no shared state.
func TestAPITokenWorksOnEveryReplica(t *testing.T) {
	b := newBackend(t, stores[0])
	a, other := startShop(t, b, "replica-a"), startShop(t, b, "replica-b")
	email := testenv.RandomName("yul") + "@example.com"
	newClient(t).signup(t, a.URL, email, "yul's password")
	tok := apiToken(t, a.URL, email, "yul's password")
	wantStatus(t, apiCall(t, http.MethodPost, other.URL, "/api/v1/cart/items", tok, `{"product_id": 2}`), http.StatusOK)
	if got := apiCart(t, a.URL, tok).Quantities(); got["2"] != 1 {
		t.Errorf("cart via replica-a after an add via replica-b = %v", got)
	}
}
