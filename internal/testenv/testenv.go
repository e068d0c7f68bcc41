// Package testenv gives tests real PostgreSQL and Redis, isolated per test:
// each call makes a throwaway database or a unique Redis key prefix and
// removes it when the test ends. TEST_DATABASE_URL and TEST_REDIS_URL choose
// the servers (defaults: the local ones).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/platform/postgres"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

// Default server URLs when the environment sets none.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// DatabaseURL is the admin URL tests create their databases through.
func DatabaseURL() string { return env("TEST_DATABASE_URL", DefaultDatabaseURL) }

// RedisURL is the Redis tests use.
func RedisURL() string { return env("TEST_REDIS_URL", DefaultRedisURL) }

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RandomName returns prefix followed by 12 random hex characters.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// MustEmptyDatabase creates a new, empty database and returns its URL. The
// database is dropped (with its connections) when the test ends.
func MustEmptyDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		tb.Fatalf("connect to TEST_DATABASE_URL (%s): %v", redact(DatabaseURL()), err)
	}
	defer admin.Close(context.Background())
	name := RandomName("shop_test_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, DatabaseURL())
		if err != nil {
			tb.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(DatabaseURL())
	if err != nil {
		tb.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// MustDatabase returns a pool on a new database with every migration
// applied. The pool is closed and the database dropped when the test ends.
func MustDatabase(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	ctx := context.Background()
	pool := MustPool(tb, MustEmptyDatabase(tb))
	m, err := postgres.NewMigrator(pool, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Up(ctx); err != nil {
		tb.Fatal(err)
	}
	return pool
}

// MustPool opens a pool on url and closes it when the test ends.
func MustPool(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// MustRedis returns a pool on the test Redis and a key prefix of the test's
// own; every key under the prefix is deleted when the test ends.
func MustRedis(tb testing.TB) (*redis.Pool, string) {
	tb.Helper()
	pool, err := platformredis.Open(context.Background(), RedisURL())
	if err != nil {
		tb.Fatalf("connect to TEST_REDIS_URL (%s): %v", redact(RedisURL()), err)
	}
	prefix := RandomName("test:") + ":"
	tb.Cleanup(func() {
		defer pool.Close()
		if err := DeleteKeys(pool, prefix); err != nil {
			tb.Errorf("delete redis keys %s*: %v", prefix, err)
		}
	})
	return pool, prefix
}

// DeleteKeys removes every key starting with prefix.
func DeleteKeys(pool *redis.Pool, prefix string) error {
	keys, err := scanKeys(pool, prefix)
	if err != nil || len(keys) == 0 {
		return err
	}
	conn := pool.Get()
	defer conn.Close()
	_, err = conn.Do("DEL", redis.Args{}.AddFlat(keys)...)
	return err
}

// Keys returns the keys starting with prefix.
func Keys(tb testing.TB, pool *redis.Pool, prefix string) []string {
	tb.Helper()
	keys, err := scanKeys(pool, prefix)
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

// scanKeys lists keys by prefix with SCAN (never KEYS, even in tests).
func scanKeys(pool *redis.Pool, prefix string) ([]string, error) {
	conn := pool.Get()
	defer conn.Close()
	var out []string
	cursor := 0
	for {
		vals, err := redis.Values(conn.Do("SCAN", cursor, "MATCH", prefix+"*", "COUNT", 1000))
		if err != nil {
			return nil, err
		}
		if cursor, err = redis.Int(vals[0], nil); err != nil {
			return nil, err
		}
		keys, err := redis.Strings(vals[1], nil)
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
		if cursor == 0 {
			return out, nil
		}
	}
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "unparsable URL"
	}
	return strings.Replace(p.Redacted(), "xxxxx", "***", 1)
}
