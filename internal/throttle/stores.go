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

// reserveScript: KEYS[1] counter; ARGV n, limit (0: none), window ms.
// Check and increment are one script, so no two replicas can both see room
// for the last slot. A key without an expiry (none is written so, but a
// window must never become endless) gets the window. Returns {ok, count,
// window end ms}.
var reserveScript = redis.NewScript(1, `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local add, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if limit > 0 and n + add > limit then
  return {0, n, redis.call('PEXPIRETIME', KEYS[1])}
end
n = redis.call('INCRBY', KEYS[1], add)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {1, n, redis.call('PEXPIRETIME', KEYS[1])}`)

// releaseScript: KEYS[1] counter; ARGV n, window end ms. Only the window
// the slots were reserved in gives them back: once it has ended, the key
// (if any) counts a new window's attempts, which are not ours to take.
var releaseScript = redis.NewScript(1, `
if redis.call('PEXPIRETIME', KEYS[1]) ~= tonumber(ARGV[2]) then return 0 end
local n = tonumber(redis.call('GET', KEYS[1])) - tonumber(ARGV[1])
if n < 0 then n = 0 end
redis.call('SET', KEYS[1], n, 'KEEPTTL')
return 1`)

var countScript = redis.NewScript(1, `
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
return {tonumber(n), redis.call('PEXPIRETIME', KEYS[1])}`)

func (s *RedisStore) do(ctx context.Context, what string, fn func(redis.Conn) (any, error)) ([]int64, error) {
	conn, err := s.pool.GetContext(ctx)
	if err != nil {
		return nil, apperr.Unavailable(what, err)
	}
	defer conn.Close()
	v, err := redis.Int64s(fn(conn))
	if err != nil {
		if platformredis.IsUnavailable(err) {
			return nil, apperr.Unavailable(what, err)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

func windowEnd(ms int64) time.Time {
	if ms <= 0 { // no key (-2) or no expiry (-1)
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Count implements Store.
func (s *RedisStore) Count(ctx context.Context, key string) (int, time.Time, error) {
	v, err := s.do(ctx, "count login attempts", func(c redis.Conn) (any, error) {
		return countScript.DoContext(ctx, c, s.prefix+key)
	})
	if err != nil || v[0] == 0 {
		return 0, time.Time{}, err
	}
	return int(v[0]), windowEnd(v[1]), nil
}

// Reserve implements Store.
func (s *RedisStore) Reserve(ctx context.Context, key string, n, limit int, window time.Duration) (Reservation, error) {
	v, err := s.do(ctx, "reserve a login attempt", func(c redis.Conn) (any, error) {
		return reserveScript.DoContext(ctx, c, s.prefix+key, n, max(limit, 0), window.Milliseconds())
	})
	if err != nil {
		return Reservation{}, err
	}
	return Reservation{OK: v[0] == 1, Count: int(v[1]), Until: windowEnd(v[2])}, nil
}

// Release implements Store.
func (s *RedisStore) Release(ctx context.Context, key string, n int, until time.Time) error {
	_, err := s.do(ctx, "release a login attempt", func(c redis.Conn) (any, error) {
		ok, err := redis.Int64(releaseScript.DoContext(ctx, c, s.prefix+key, n, until.UnixMilli()))
		return []any{ok}, err
	})
	return err
}

// PostgresStore keeps counters in the login_failures table (named for
// what it first held; it counts reserved attempts now); the cleanup job
// deletes rows whose window has ended.
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
	return n, until, postgres.Error("count login attempts", err, nil)
}

// reserveSQL is one statement. The upsert takes the row lock and its WHERE
// sees the latest committed count, so concurrent reservations queue on the
// row and each finds the room the previous ones left; an ended window
// starts again. When there is no room, nothing is written and the second
// branch reads the count and window end for the refusal's message.
const reserveSQL = `WITH up AS (
	INSERT INTO login_failures AS f (key, failures, expires_at)
	SELECT $1::text, $2::int, now() + $4::interval WHERE $3::int <= 0 OR $2::int <= $3::int
	ON CONFLICT (key) DO UPDATE SET
		failures   = CASE WHEN f.expires_at > now() THEN f.failures + EXCLUDED.failures ELSE EXCLUDED.failures END,
		expires_at = CASE WHEN f.expires_at > now() THEN f.expires_at ELSE EXCLUDED.expires_at END
	WHERE f.expires_at <= now() OR $3::int <= 0 OR f.failures + EXCLUDED.failures <= $3::int
	RETURNING f.failures, f.expires_at
)
SELECT true, failures, expires_at FROM up
UNION ALL
SELECT false, failures, expires_at FROM login_failures
	WHERE key = $1::text AND expires_at > now() AND NOT EXISTS (SELECT FROM up)`

// Reserve implements Store.
func (s *PostgresStore) Reserve(ctx context.Context, key string, n, limit int, window time.Duration) (Reservation, error) {
	var r Reservation
	err := s.db.QueryRow(ctx, reserveSQL, key, n, limit, window.String()).Scan(&r.OK, &r.Count, &r.Until)
	if errors.Is(err, pgx.ErrNoRows) { // no room, and no window open either (n > limit)
		return Reservation{}, nil
	}
	return r, postgres.Error("reserve a login attempt", err, nil)
}

// Release implements Store.
func (s *PostgresStore) Release(ctx context.Context, key string, n int, until time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE login_failures SET failures = greatest(failures - $2, 0) WHERE key = $1 AND expires_at = $3`, key, n, until)
	return postgres.Error("release a login attempt", err, nil)
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

// current returns key's counter if its window is open.
func (s *MemoryStore) current(key string, now time.Time) memCount {
	c := s.m[key]
	if !c.until.After(now) {
		return memCount{}
	}
	return c
}

// Count implements Store.
func (s *MemoryStore) Count(_ context.Context, key string) (int, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.current(key, time.Now())
	return c.n, c.until, nil
}

// Reserve implements Store.
func (s *MemoryStore) Reserve(_ context.Context, key string, n, limit int, window time.Duration) (Reservation, error) {
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
	c := s.current(key, now)
	if limit > 0 && c.n+n > limit {
		return Reservation{Count: c.n, Until: c.until}, nil
	}
	if c.until.IsZero() {
		c.until = now.Add(window)
	}
	c.n += n
	s.m[key] = c
	return Reservation{OK: true, Count: c.n, Until: c.until}, nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key string, n int, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.current(key, time.Now())
	if c.until.IsZero() || !c.until.Equal(until) {
		return nil
	}
	c.n = max(c.n-n, 0)
	s.m[key] = c
	return nil
}

// DeleteExpired removes at most limit counters whose window has ended, and
// returns how many it removed; the cleanup job calls it in batches. Count
// and Reserve already ignore such rows, so this only keeps the table small.
func (s *PostgresStore) DeleteExpired(ctx context.Context, limit int) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures WHERE expires_at < now() LIMIT $1)`, limit)
	if err != nil {
		return 0, postgres.Error("delete expired login failures", err, nil)
	}
	return tag.RowsAffected(), nil
}
