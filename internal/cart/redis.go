package cart

import (
	"context"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/the-shop/shop/internal/apperr"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

// RedisStore keeps each cart as a Redis hash (product id → quantity) with an
// expiry that every change pushes forward. Changes run as Lua scripts, which
// Redis executes atomically.
type RedisStore struct {
	pool       *redis.Pool
	prefix     string
	idemPrefix string
	ttl        time.Duration
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store whose keys start with prefix and live for
// ttl after their last change.
func NewRedisStore(pool *redis.Pool, prefix string, ttl time.Duration) *RedisStore {
	return &RedisStore{pool: pool, prefix: prefix + "cart:", idemPrefix: prefix + "idem:", ttl: ttl}
}

// addScript: KEYS[1] cart, ARGV product, qty, max, ttl ms.
var addScript = redis.NewScript(1, `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n > tonumber(ARGV[3]) then
  n = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], ARGV[1], n)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return n`)

// addOnceScript: KEYS[1] cart, KEYS[2] idempotency key, ARGV product, qty,
// max, ttl ms, idempotency ttl ms. Returns {applied, quantity}.
var addOnceScript = redis.NewScript(2, `
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[5]) then
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  return {0, tonumber(cur) or 0}
end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n > tonumber(ARGV[3]) then
  n = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], ARGV[1], n)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, n}`)

// setScript: KEYS[1] cart, ARGV product, qty (0 removes), ttl ms.
var setScript = redis.NewScript(1, `
if tonumber(ARGV[2]) == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1`)

// mergeScript: KEYS[1] from, KEYS[2] to, ARGV max, ttl ms.
var mergeScript = redis.NewScript(2, `
local lines = redis.call('HGETALL', KEYS[1])
if #lines == 0 then return 0 end
local max = tonumber(ARGV[1])
for i = 1, #lines, 2 do
  local n = redis.call('HINCRBY', KEYS[2], lines[i], lines[i+1])
  if n > max then redis.call('HSET', KEYS[2], lines[i], max) end
end
redis.call('DEL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return #lines / 2`)

func (s *RedisStore) key(k Key) string { return s.prefix + string(k) }

func (s *RedisStore) do(ctx context.Context, what string, fn func(redis.Conn) error) error {
	conn, err := s.pool.GetContext(ctx)
	if err != nil {
		return apperr.Unavailable(what, err)
	}
	defer conn.Close()
	if err := fn(conn); err != nil {
		if platformredis.IsUnavailable(err) {
			return apperr.Unavailable(what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Lines implements Store.
func (s *RedisStore) Lines(ctx context.Context, key Key) ([]Line, error) {
	var lines []Line
	err := s.do(ctx, "load cart "+string(key), func(c redis.Conn) error {
		m, err := redis.Int64Map(redis.DoContext(c, ctx, "HGETALL", s.key(key)))
		if err != nil {
			return err
		}
		for id, q := range m {
			pid, err := parseID(id)
			if err != nil {
				continue // a field the shop did not write; ignore it
			}
			lines = append(lines, Line{ProductID: pid, Quantity: int(q)})
		}
		return nil
	})
	return lines, err
}

// Add implements Store.
func (s *RedisStore) Add(ctx context.Context, key Key, productID int64, qty int) (int, error) {
	var n int
	err := s.do(ctx, "add to cart "+string(key), func(c redis.Conn) error {
		var err error
		n, err = redis.Int(addScript.DoContext(ctx, c, s.key(key), productID, qty, MaxQuantity, s.ttl.Milliseconds()))
		return err
	})
	return n, err
}

// AddOnce implements Store.
func (s *RedisStore) AddOnce(ctx context.Context, key Key, productID int64, qty int, idem string) (int, bool, error) {
	var n int
	var applied bool
	err := s.do(ctx, "add to cart "+string(key), func(c redis.Conn) error {
		res, err := redis.Ints(addOnceScript.DoContext(ctx, c, s.key(key), s.idemPrefix+idemKey(key, idem),
			productID, qty, MaxQuantity, s.ttl.Milliseconds(), IdempotencyTTL.Milliseconds()))
		if err != nil {
			return err
		}
		applied, n = res[0] == 1, res[1]
		return nil
	})
	return n, applied, err
}

// Set implements Store.
func (s *RedisStore) Set(ctx context.Context, key Key, productID int64, qty int) error {
	return s.do(ctx, "set cart line "+string(key), func(c redis.Conn) error {
		_, err := setScript.DoContext(ctx, c, s.key(key), productID, qty, s.ttl.Milliseconds())
		return err
	})
}

// Remove implements Store.
func (s *RedisStore) Remove(ctx context.Context, key Key, productID int64) error {
	return s.do(ctx, "remove cart line "+string(key), func(c redis.Conn) error {
		_, err := redis.DoContext(c, ctx, "HDEL", s.key(key), productID)
		return err
	})
}

// Merge implements Store.
func (s *RedisStore) Merge(ctx context.Context, from, to Key) error {
	return s.do(ctx, fmt.Sprintf("merge cart %s into %s", from, to), func(c redis.Conn) error {
		_, err := mergeScript.DoContext(ctx, c, s.key(from), s.key(to), MaxQuantity, s.ttl.Milliseconds())
		return err
	})
}

// Clear implements Store.
func (s *RedisStore) Clear(ctx context.Context, key Key) error {
	return s.do(ctx, "clear cart "+string(key), func(c redis.Conn) error {
		_, err := redis.DoContext(c, ctx, "DEL", s.key(key))
		return err
	})
}
