package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/handlers"
	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apitoken"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/order"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/throttle"
)

// backend is the state several shop instances can share: one database and
// one Redis prefix, as replicas behind a load balancer do.
type backend struct {
	kind   string
	db     *pgxpool.Pool
	redis  *redis.Pool
	prefix string
	// observer, when set, sees every session store operation.
	observer session.Observer
	// tweak, when set, changes the configuration of every instance.
	tweak func(*config.Config)
	// metrics, when set, observes every instance (stores, sessions,
	// requests), as cmd/shop wires it.
	metrics *metrics.Metrics
	// logs, when set, receives every instance's log as JSON lines.
	logs io.Writer
}

func newBackend(t testing.TB, kind string) *backend {
	t.Helper()
	b := &backend{kind: kind, db: testenv.MustDatabase(t)}
	if kind == config.StoreRedis {
		b.redis, b.prefix = testenv.MustRedis(t)
	}
	return b
}

// testConfig is the configuration of a test replica: the contract's
// defaults with the test's store and the cheapest password hashing.
func testConfig(t testing.TB, kind, replica string) config.Config {
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
func startShop(t testing.TB, b *backend, replica string) *shop {
	t.Helper()
	cfg := testConfig(t, b.kind, replica)
	cfg.RedisKeyPrefix = b.prefix
	if b.tweak != nil {
		b.tweak(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if b.logs != nil {
		logger = slog.New(slog.NewJSONHandler(b.logs, nil))
	}
	obs := b.observer
	if b.metrics != nil {
		obs = b.metrics.SessionObserver(b.kind)
	}
	opts, err := session.OptionsFrom(cfg, obs)
	if err != nil {
		t.Fatal(err)
	}
	if b.metrics != nil {
		opts.Events = b.metrics.SessionEvent
	}
	sm, err := session.New(opts, b.db, b.redis)
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
	if cfg.JWTSecret == "" {
		cfg.JWTSecret = testJWTSecret
	}
	tokens, err := apitoken.New([]byte(cfg.JWTSecret), cfg.JWTTTL)
	if err != nil {
		t.Fatal(err)
	}
	if b.metrics != nil {
		store = cart.Observe(store, b.metrics.CartObserver(b.kind))
	}
	carts := cart.NewService(store, products)
	failures, err := throttle.NewStore(b.kind, b.db, b.redis, b.prefix)
	if err != nil {
		t.Fatal(err)
	}
	guard := throttle.NewGuard(failures, throttle.Limits{
		PerAccount: cfg.LoginMaxFailures, PerIP: cfg.LoginMaxFailuresPerIP, Window: cfg.LoginFailureWindow,
	})
	if b.metrics != nil {
		guard.Observer = b.metrics.ThrottleEvent
	}
	e, err := handlers.New(handlers.Deps{
		Config:   cfg,
		Logger:   logger,
		Sessions: sm,
		Products: products,
		Carts:    carts,
		Accounts: accounts,
		Orders:   order.NewService(b.db, carts),
		Tokens:   tokens,
		Guard:    guard,
		Checks:   checks,
		Metrics:  b.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &shop{URL: srv.URL, Sessions: sm}
}

// client is one browser (testenv.Browser) with the test's shorthand. Like
// the browser, it takes the test to fail on each call, so a client shared
// by subtests fails the subtest that used it.
type client struct {
	*testenv.Browser
}

type response = testenv.Response

func newClient(t *testing.T) *client { return &client{Browser: testenv.NewBrowser(t)} }

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
	r.JSON(t, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error = %+v, want code %q with a message", e.Error, code)
	}
	return e
}

// signup creates an account through the shop and leaves the client logged in.
func (c *client) signup(t *testing.T, base, email, password string) {
	t.Helper()
	r := c.Post(t, base, "/signup", url.Values{"email": {email}, "password": {password}}, c.Token(t, base), false)
	wantStatus(t, r, http.StatusSeeOther)
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
