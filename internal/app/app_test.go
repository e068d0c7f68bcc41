package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/the-shop/shop/internal/app"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/testenv"
)

// testConfig is the documented configuration with the test's stores.
func testConfig(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(name string) string { return vars[name] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestOpen opens the app on each store kind against the real services, as
// cmd/shop does: the migrations run, the checks name and reach each store
// the kind needs, the services work, and Close releases the pools.
func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		kind   config.Kind
		checks string
	}{
		{config.StoreRedis, "postgres redis"},
		{config.StorePostgres, "postgres"},
		{config.StoreMemory, "postgres"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			_, prefix := testenv.MustRedis(t)
			cfg := testConfig(t, map[string]string{
				"SESSION_STORE":    string(tc.kind),
				"DATABASE_URL":     testenv.MustEmptyDatabase(t),
				"REDIS_URL":        testenv.RedisURL(),
				"REDIS_KEY_PREFIX": prefix,
				"MIGRATE_ON_START": "true",
				"PASSWORD_COST":    "4",
			})
			var logs bytes.Buffer
			a, err := app.Open(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), app.Options{Metrics: metrics.New()})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()

			var names []string
			for _, c := range a.Checks {
				names = append(names, c.Name)
				if err := c.Ping(t.Context()); err != nil {
					t.Errorf("check %s: %v", c.Name, err)
				}
			}
			if got := strings.Join(names, " "); got != tc.checks {
				t.Errorf("checks = %q, want %q", got, tc.checks)
			}
			if (a.Pools.Redis != nil) != (tc.kind == config.StoreRedis) {
				t.Errorf("redis pool opened = %v for store %s", a.Pools.Redis != nil, tc.kind)
			}
			if a.Sessions.Kind() != tc.kind {
				t.Errorf("session kind = %q, want %q", a.Sessions.Kind(), tc.kind)
			}
			// The migrations ran: the catalog is there.
			ps, err := a.Products.List(t.Context())
			if err != nil || len(ps) == 0 {
				t.Fatalf("products after Open = %d, %v; want the seeded catalog", len(ps), err)
			}
			warned := strings.Contains(logs.String(), "SESSION_STORE=memory")
			if warned != (tc.kind == config.StoreMemory) {
				t.Errorf("memory warning logged = %v for store %s", warned, tc.kind)
			}
			res, err := a.Cleanup.Run(t.Context())
			if err != nil || !res.Ran {
				t.Errorf("cleanup pass: %+v, %v", res, err)
			}

			a.Close()
			if err := a.Pools.DB.Ping(context.Background()); err == nil {
				t.Error("the database pool still answers after Close")
			}
			if a.Pools.Redis != nil {
				if _, err := a.Pools.Redis.Get().Do("PING"); err == nil {
					t.Error("the redis pool still answers after Close")
				}
			}
		})
	}
}

// TestNew: New builds on pools the caller owns (several apps share them,
// like replicas) and refuses what cannot work.
func TestNew(t *testing.T) {
	t.Parallel()
	db := testenv.MustDatabase(t)
	pool, prefix := testenv.MustRedis(t)
	redisCfg := testConfig(t, map[string]string{"SESSION_STORE": "redis", "REDIS_KEY_PREFIX": prefix, "PASSWORD_COST": "4"})

	t.Run("SharesThePoolsAndLeavesThemOpen", func(t *testing.T) {
		a, err := app.New(redisCfg, discard(), app.Pools{DB: db, Redis: pool}, app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := app.New(redisCfg, discard(), app.Pools{DB: db, Redis: pool}, app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		b.Close()
		if err := db.Ping(t.Context()); err != nil {
			t.Errorf("Close of an app built by New closed the caller's database pool: %v", err)
		}
	})

	for _, tc := range []struct {
		name  string
		cfg   config.Config
		pools app.Pools
		want  string
	}{
		{"RejectsRedisWithoutPool", redisCfg, app.Pools{DB: db}, "needs a redis pool"},
		{"RejectsNoDatabase", redisCfg, app.Pools{Redis: pool}, "no database pool"},
		{"RejectsUnknownKind", func() config.Config { c := redisCfg; c.SessionStore = "mysql"; return c }(), app.Pools{DB: db}, `unknown session store "mysql"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := app.New(tc.cfg, discard(), tc.pools, app.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, %v; want an error containing %q", a, err, tc.want)
			}
		})
	}
}

// TestOpenFailsClearly: a store that does not answer stops the start with
// an error that names it.
func TestOpenFailsClearly(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, map[string]string{
		"SESSION_STORE": "redis",
		"DATABASE_URL":  testenv.MustEmptyDatabase(t),
		// Port 1 on loopback: nothing listens there.
		"REDIS_URL": "redis://127.0.0.1:1/0",
	})
	a, err := app.Open(t.Context(), cfg, discard(), app.Options{})
	if err == nil {
		a.Close()
		t.Fatal("Open with an unreachable Redis succeeded")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "redis") {
		t.Errorf("error %q does not name Redis", err)
	}
}

// TestGuestCartsLiveAsLongAsTheirSession: a guest cart can only be reached
// through a guest session, which lives at most SESSION_LIFETIME (a guest
// cannot choose "remember me"), so the wiring gives guest carts that
// bound in Redis while account carts keep CART_TTL. (The PostgreSQL
// cleanup of guest carts: internal/cleanup's tests.)
func TestGuestCartsLiveAsLongAsTheirSession(t *testing.T) {
	t.Parallel()
	pool, prefix := testenv.MustRedis(t)
	cfg := testConfig(t, map[string]string{
		"SESSION_STORE":    "redis",
		"REDIS_KEY_PREFIX": prefix,
		"SESSION_LIFETIME": "2h",
		"CART_TTL":         "720h",
	})
	a, err := app.New(cfg, discard(), app.Pools{DB: testenv.MustDatabase(t), Redis: pool}, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	guest, account := cart.GuestKey(testenv.RandomName("")), cart.AccountKey(testenv.RandomName("acct-"))
	for _, k := range []cart.Key{guest, account} {
		if _, _, err := a.Carts.Add(ctx, k, 1, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Carts.View(ctx, k); err != nil { // writes the generation key
			t.Fatal(err)
		}
	}
	for _, k := range testenv.Keys(t, pool, prefix) {
		ttl := pttl(t, pool, k)
		switch {
		case strings.Contains(k, string(guest)):
			if ttl <= 0 || ttl > 2*time.Hour {
				t.Errorf("guest key %s lives %v, want at most SESSION_LIFETIME (2h)", k, ttl)
			}
		case strings.Contains(k, string(account)):
			if ttl <= 2*time.Hour || ttl > 720*time.Hour {
				t.Errorf("account key %s lives %v, want CART_TTL (720h)", k, ttl)
			}
		}
	}
}

func pttl(t *testing.T, pool *redis.Pool, key string) time.Duration {
	t.Helper()
	c := pool.Get()
	defer c.Close()
	ms, err := redis.Int64(c.Do("PTTL", key))
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ms) * time.Millisecond
}

// TestRedisPoolIsCapped: with REDIS_MAX_CONNECTIONS=2, a third request for
// a connection waits until one is returned instead of opening another.
func TestRedisPoolIsCapped(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.MustRedis(t)
	cfg := testConfig(t, map[string]string{
		"SESSION_STORE":         "redis",
		"DATABASE_URL":          testenv.MustEmptyDatabase(t),
		"REDIS_URL":             testenv.RedisURL(),
		"REDIS_KEY_PREFIX":      prefix,
		"MIGRATE_ON_START":      "false",
		"REDIS_MAX_CONNECTIONS": "2",
	})
	a, err := app.Open(t.Context(), cfg, discard(), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var held []redis.Conn
	for range 2 {
		c, err := a.Pools.Redis.GetContext(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if c, err := a.Pools.Redis.GetContext(ctx); err == nil {
		c.Close()
		t.Fatalf("a third connection was handed out past REDIS_MAX_CONNECTIONS=2 (active %d)", a.Pools.Redis.ActiveCount())
	}
	// Returning one lets a waiter through.
	got := make(chan error, 1)
	go func() {
		c, err := a.Pools.Redis.GetContext(t.Context())
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	held[0].Close()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("waiting request: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a waiting request did not get the returned connection")
	}
	held[1].Close()
}
