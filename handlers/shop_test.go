package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/handlers"
	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/config"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/testenv"
)

// backend is the state several shop instances can share: one database and
// one Redis prefix, as replicas behind a load balancer do.
type backend struct {
	kind   string
	db     *pgxpool.Pool
	redis  *redis.Pool
	prefix string
	// carts is shared by instances only for the memory kind's own test,
	// where each instance must have its own (nil means: make one each).
	memCarts cart.Store
}

func newBackend(t *testing.T, kind string) *backend {
	t.Helper()
	b := &backend{kind: kind, db: testenv.MustDatabase(t)}
	if kind == config.StoreRedis {
		b.redis, b.prefix = testenv.MustRedis(t)
	}
	return b
}

// testConfig is the configuration of a test replica: the contract's
// defaults with the test's store and the cheapest password hashing.
func testConfig(t *testing.T, kind, replica string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(name string) string {
		return map[string]string{
			"SESSION_STORE": kind,
			"REPLICA_NAME":  replica,
			"PASSWORD_COST": "4",
		}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// shop is one running instance of the shop.
type shop struct {
	URL      string
	Sessions *session.Manager
}

// startShop runs a shop instance on b behind an httptest server.
func startShop(t *testing.T, b *backend, replica string) *shop {
	t.Helper()
	cfg := testConfig(t, b.kind, replica)
	cfg.RedisKeyPrefix = b.prefix
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sm, err := session.New(session.Options{
		Kind:             b.kind,
		CookieName:       cfg.SessionCookieName,
		IdleTimeout:      cfg.SessionIdleTimeout,
		Lifetime:         cfg.SessionLifetime,
		RememberLifetime: cfg.SessionRememberLifetime,
		RedisPrefix:      cfg.RedisKeyPrefix,
	}, b.db, b.redis)
	if err != nil {
		t.Fatal(err)
	}
	products := catalog.NewStore(b.db)
	accounts, err := account.NewService(b.db, cfg.PasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	var store cart.Store
	checks := []handlers.Check{{Name: "postgres", Ping: b.db.Ping}}
	switch b.kind {
	case config.StoreRedis:
		store = cart.NewRedisStore(b.redis, b.prefix, cfg.CartTTL)
		checks = append(checks, handlers.Check{Name: "redis", Ping: func(ctx context.Context) error { return platformredis.Ping(ctx, b.redis) }})
	case config.StorePostgres:
		store = cart.NewPostgresStore(b.db)
	default:
		store = cart.NewMemoryStore(cfg.CartTTL)
	}
	e, err := handlers.New(handlers.Deps{
		Config:   cfg,
		Logger:   logger,
		Sessions: sm,
		Products: products,
		Carts:    cart.NewService(store, products),
		Accounts: accounts,
		Checks:   checks,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &shop{URL: srv.URL, Sessions: sm}
}

// client is one browser: a cookie jar shared across every shop instance it
// talks to (they stand behind one load balancer), no redirect following.
type client struct {
	t    *testing.T
	http *http.Client
	csrf string
}

func newClient(t *testing.T) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, http: &http.Client{
		Jar:     &hostlessJar{jar: jar},
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// hostlessJar keeps one set of cookies for every 127.0.0.1 port, as a
// browser sees a single origin behind nginx.
type hostlessJar struct{ jar *cookiejar.Jar }

var jarURL = &url.URL{Scheme: "http", Host: "shop.test", Path: "/"}

func (j *hostlessJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.jar.SetCookies(jarURL, cs) }
func (j *hostlessJar) Cookies(*url.URL) []*http.Cookie          { return j.jar.Cookies(jarURL) }

// cookie returns the value of a cookie the client holds ("" if none).
func (c *client) cookie(name string) string {
	for _, ck := range c.http.Jar.Cookies(nil) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// setCookie replaces a cookie, as an attacker replaying an old one would.
func (c *client) setCookie(name, value string) {
	c.http.Jar.SetCookies(nil, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	Body string
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("decode JSON (status %d): %v\n%s", r.StatusCode, err, r.Body)
	}
}

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{Response: res, Body: string(b)}
}

// get fetches a page as HTML (or JSON with asJSON), remembering the page's
// CSRF token.
func (c *client) get(base, path string, asJSON bool) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if asJSON {
		req.Header.Set("Accept", "application/json")
	} else {
		req.Header.Set("Accept", "text/html")
	}
	r := c.do(req)
	if m := csrfMeta.FindStringSubmatch(r.Body); m != nil {
		c.csrf = m[1]
	}
	return r
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// token returns the CSRF token, fetching the catalog page once to get one.
func (c *client) token(base string) string {
	c.t.Helper()
	if c.csrf == "" {
		c.get(base, "/", false)
		if c.csrf == "" {
			c.t.Fatal("no csrf-token meta on /")
		}
	}
	return c.csrf
}

// post submits a form. csrf "" sends none; asJSON asks for JSON.
func (c *client) post(base, path string, form url.Values, csrf string, asJSON bool) response {
	c.t.Helper()
	if csrf != "" {
		form = cloneValues(form)
		form.Set("csrf_token", csrf)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	return c.do(req)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// cartJSON is GET /cart as JSON.
type cartJSON struct {
	Items []struct {
		ProductID      string `json:"product_id"`
		Name           string `json:"name"`
		Quantity       int    `json:"quantity"`
		UnitPriceCents int64  `json:"unit_price_cents"`
		LineTotalCents int64  `json:"line_total_cents"`
	} `json:"items"`
	Count      int   `json:"count"`
	TotalCents int64 `json:"total_cents"`
}

func (c *client) cart(base string) cartJSON {
	c.t.Helper()
	r := c.get(base, "/cart", true)
	if r.StatusCode != http.StatusOK {
		c.t.Fatalf("GET /cart: status %d: %s", r.StatusCode, r.Body)
	}
	var v cartJSON
	r.json(c.t, &v)
	return v
}

// quantities maps product id to quantity.
func (v cartJSON) quantities() map[string]int {
	out := map[string]int{}
	for _, it := range v.Items {
		out[it.ProductID] = it.Quantity
	}
	return out
}

// sessionInfo is GET /session.
type sessionInfo struct {
	Store         string `json:"store"`
	Replica       string `json:"replica"`
	Exists        bool   `json:"exists"`
	Authenticated bool   `json:"authenticated"`
	RememberMe    bool   `json:"remember_me"`
}

func (c *client) session(base string) sessionInfo {
	c.t.Helper()
	var v sessionInfo
	c.get(base, "/session", true).json(c.t, &v)
	return v
}

// errorJSON is the contract's JSON error.
type errorJSON struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d\n%.600s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.Body)
	}
}

func wantError(t *testing.T, r response, status int, code string) errorJSON {
	t.Helper()
	wantStatus(t, r, status)
	var e errorJSON
	r.json(t, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error = %+v, want code %q with a message", e.Error, code)
	}
	return e
}

// signup creates an account through the shop and leaves the client logged in.
func (c *client) signup(base, email, password string) {
	c.t.Helper()
	r := c.post(base, "/signup", url.Values{"email": {email}, "password": {password}}, c.token(base), false)
	wantStatus(c.t, r, http.StatusSeeOther)
}

// sessionCookies counts the Set-Cookie headers for the session cookie.
func sessionCookies(r response) int {
	n := 0
	for _, ck := range r.Cookies() {
		if ck.Name == "session" {
			n++
		}
	}
	return n
}
