package throttle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/platform/postgres"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

// RedisStore keeps each counter as a key that expires with its window.
type RedisStore struct {
	pool   *redis.Pool
	prefix string
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store whose keys start with prefix.
func NewRedisStore(pool *redis.Pool, prefix string) *RedisStore {
	return &RedisStore{pool: pool, prefix: prefix + "login-failures:"}
}

// failScript: KEYS[1] counter; ARGV window ms. The first failure opens the
// window; later ones count within it. Returns {count, window end ms}.
var failScript = redis.NewScript(1, `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PEXPIRETIME', KEYS[1])}`)

var countScript = redis.NewScript(1, `
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
return {tonumber(n), redis.call('PEXPIRETIME', KEYS[1])}`)

func (s *RedisStore) do(ctx context.Context, fn func(redis.Conn) (any, error)) (int, time.Time, error) {
	conn, err := s.pool.GetContext(ctx)
	if err != nil {
		return 0, time.Time{}, apperr.Unavailable("login throttle", err)
	}
	defer conn.Close()
	v, err := redis.Int64s(fn(conn))
	if err != nil {
		if platformredis.IsUnavailable(err) {
			return 0, time.Time{}, apperr.Unavailable("login throttle", err)
		}
		return 0, time.Time{}, fmt.Errorf("login throttle: %w", err)
	}
	if v[0] == 0 {
		return 0, time.Time{}, nil
	}
	return int(v[0]), time.UnixMilli(v[1]), nil
}

// Count implements Store.
func (s *RedisStore) Count(ctx context.Context, key string) (int, time.Time, error) {
	return s.do(ctx, func(c redis.Conn) (any, error) { return countScript.DoContext(ctx, c, s.prefix+key) })
}

// Fail implements Store.
func (s *RedisStore) Fail(ctx context.Context, key string, window time.Duration) (int, time.Time, error) {
	return s.do(ctx, func(c redis.Conn) (any, error) {
		return failScript.DoContext(ctx, c, s.prefix+key, window.Milliseconds())
	})
}

// Reset implements Store.
func (s *RedisStore) Reset(ctx context.Context, key string) error {
	_, _, err := s.do(ctx, func(c redis.Conn) (any, error) {
		_, err := redis.DoContext(c, ctx, "DEL", s.prefix+key)
		return []any{int64(0), int64(0)}, err
	})
	return err
}

// PostgresStore keeps counters in the login_failures table; the cleanup
// job deletes rows whose window has ended.
type PostgresStore struct {
	db *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a store on db.
func NewPostgresStore(db *pgxpool.Pool) *PostgresStore { return &PostgresStore{db: db} }

// Count implements Store.
func (s *PostgresStore) Count(ctx context.Context, key string) (int, time.Time, error) {
	var n int
	var until time.Time
	err := s.db.QueryRow(ctx, `SELECT failures, expires_at FROM login_failures WHERE key = $1 AND expires_at > now()`, key).Scan(&n, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	return n, until, postgres.Error("login throttle", err, nil)
}

// Fail implements Store: one upsert that opens a new window when the old
// one has ended.
func (s *PostgresStore) Fail(ctx context.Context, key string, window time.Duration) (int, time.Time, error) {
	var n int
	var until time.Time
	err := s.db.QueryRow(ctx, `INSERT INTO login_failures (key, failures, expires_at) VALUES ($1, 1, now() + $2::interval)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN login_failures.expires_at > now() THEN login_failures.failures + 1 ELSE 1 END,
			expires_at = CASE WHEN login_failures.expires_at > now() THEN login_failures.expires_at ELSE EXCLUDED.expires_at END
		RETURNING failures, expires_at`, key, window.String()).Scan(&n, &until)
	return n, until, postgres.Error("login throttle", err, nil)
}

// Reset implements Store.
func (s *PostgresStore) Reset(ctx context.Context, key string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
	return postgres.Error("login throttle", err, nil)
}

// MemoryStore keeps counters in this process (SESSION_STORE=memory: a
// workshop setting, where each replica counts on its own).
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]memCount
}

type memCount struct {
	n     int
	until time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string]memCount{}} }

// Count implements Store.
func (s *MemoryStore) Count(_ context.Context, key string) (int, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.m[key]
	if !c.until.After(time.Now()) {
		return 0, time.Time{}, nil
	}
	return c.n, c.until, nil
}

// Fail implements Store.
func (s *MemoryStore) Fail(_ context.Context, key string, window time.Duration) (int, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.m) > 10000 { // drop ended windows now and then
		for k, c := range s.m {
			if !c.until.After(now) {
				delete(s.m, k)
			}
		}
	}
	c := s.m[key]
	if !c.until.After(now) {
		c = memCount{until: now.Add(window)}
	}
	c.n++
	s.m[key] = c
	return c.n, c.until, nil
}

// Reset implements Store.
func (s *MemoryStore) Reset(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// DeleteExpired removes at most limit counters whose window has ended, and
// returns how many it removed; the cleanup job calls it in batches. Count
// and Fail already ignore such rows, so this only keeps the table small.
func (s *PostgresStore) DeleteExpired(ctx context.Context, limit int) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures WHERE expires_at < now() LIMIT $1)`, limit)
	if err != nil {
		return 0, postgres.Error("delete expired login failures", err, nil)
	}
	return tag.RowsAffected(), nil
}
