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
	"github.com/the-shop/shop/internal/app"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/testenv"
)

// backend is the state several shop instances can share: one database and
// one Redis prefix, as replicas behind a load balancer do.
type backend struct {
	kind   config.Kind
	db     *pgxpool.Pool
	redis  *redis.Pool
	prefix string
	// tweak, when set, changes the configuration of every instance.
	tweak func(*config.Config)
	// metrics, when set, observes every instance (stores, sessions,
	// requests), as cmd/shop wires it.
	metrics *metrics.Metrics
	// logs, when set, receives every instance's log as JSON lines.
	logs io.Writer
}

func newBackend(t testing.TB, kind config.Kind) *backend {
	t.Helper()
	b := &backend{kind: kind, db: testenv.MustDatabase(t)}
	if kind == config.StoreRedis {
		b.redis, b.prefix = testenv.MustRedis(t)
	}
	return b
}

// testConfig is the configuration of a test replica: the documented
// defaults with the test's store and the cheapest password hashing.
func testConfig(t testing.TB, kind config.Kind, replica string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(name string) string {
		return map[string]string{
			"SESSION_STORE": string(kind),
			"REPLICA_NAME":  replica,
			"PASSWORD_COST": "4",
			// Every test client comes from loopback: the race tests alone
			// sign up and log in far more than a minute's budget of one
			// address. The test of the budget sets it.
			"PASSWORD_HASHES_PER_IP": "0",
		}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// shop is one running instance of the shop.
type shop struct {
	URL string
	App *app.App
}

// startShop runs a shop instance on b behind an httptest server, wired by
// the composition root cmd/shop uses (app.New), on b's shared pools.
func startShop(t testing.TB, b *backend, replica string) *shop {
	t.Helper()
	cfg := testConfig(t, b.kind, replica)
	cfg.RedisKeyPrefix = b.prefix
	// Every replica behind one balancer shares the API signing key.
	cfg.JWTSecret = testJWTSecret
	if b.tweak != nil {
		b.tweak(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if b.logs != nil {
		logger = slog.New(slog.NewJSONHandler(b.logs, nil))
	}
	a, err := app.New(cfg, logger, app.Pools{DB: b.db, Redis: b.redis}, app.Options{Metrics: b.metrics})
	if err != nil {
		t.Fatal(err)
	}
	e, err := handlers.New(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	// As cmd/shop serve does: every replica sends queued mails (when the
	// test gave it an SMTP_URL).
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.RunMail(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &shop{URL: srv.URL, App: a}
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
