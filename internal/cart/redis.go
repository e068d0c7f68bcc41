package cart

import (
	"context"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"

	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

// RedisStore keeps each cart as a Redis hash (product id → quantity) with an
// expiry that every change pushes forward, and the cart's checkout
// generation in a key of its own beside it. Changes run as Lua scripts,
// which Redis executes atomically.
type RedisStore struct {
	pool       *redis.Pool
	prefix     string
	genPrefix  string
	idemPrefix string
	ttl        time.Duration
	guestTTL   time.Duration
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store whose keys start with prefix and live for
// ttl after their last change.
func NewRedisStore(pool *redis.Pool, prefix string, ttl time.Duration) *RedisStore {
	return &RedisStore{pool: pool, prefix: prefix + "cart:", genPrefix: prefix + "cartgen:", idemPrefix: prefix + "idem:", ttl: ttl, guestTTL: ttl}
}

// WithGuestTTL makes guest carts live for d after their last change
// instead of the ttl account carts keep (config.GuestCartTTL: no longer
// than a guest's session can reach them), and returns s.
func (s *RedisStore) WithGuestTTL(d time.Duration) *RedisStore {
	s.guestTTL = d
	return s
}

// ttlMS is the lifetime in milliseconds of the cart key, which depends on
// whose cart it is.
func (s *RedisStore) ttlMS(k Key) int64 {
	if k.IsGuest() {
		return s.guestTTL.Milliseconds()
	}
	return s.ttl.Milliseconds()
}

// keepGen is Lua shared by the scripts that write lines: the cart's
// generation key lives as long as the cart. It is made at the cart's first
// line from Redis's clock (milliseconds), so a generation is never reused
// after the key expired, and every write moves its expiry with the cart's.
// A read (snapshotScript) then writes nothing.
const keepGen = `
local function keepgen(gen, ttl)
  if redis.call('PEXPIRE', gen, ttl) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', gen, string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)), 'PX', ttl)
  end
end
`

// addScript: KEYS[1] cart, KEYS[2] its generation and, for an add at most
// once, KEYS[3] its idempotency key; ARGV product, qty, max, ttl ms,
// idempotency ttl ms, request fingerprint. Returns {applied, quantity};
// applied is -1 when the key was recorded for another request (a key
// written before fingerprints holds '1' and counts as the same request).
// The number of keys is passed per call (redigo's key count -1), so that
// one script serves both adds and every key it touches is declared.
var addScript = redis.NewScript(-1, keepGen+`
if #KEYS == 3 and not redis.call('SET', KEYS[3], ARGV[6], 'NX', 'PX', ARGV[5]) then
  local fp = redis.call('GET', KEYS[3])
  if fp and fp ~= ARGV[6] and fp ~= '1' then return {-1, 0} end
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  return {0, tonumber(cur) or 0}
end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n > tonumber(ARGV[3]) then
  n = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], ARGV[1], n)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
keepgen(KEYS[2], ARGV[4])
return {1, n}`)

// setScript: KEYS[1] cart, KEYS[2] its generation; ARGV product, qty (0
// removes), ttl ms.
var setScript = redis.NewScript(2, keepGen+`
if tonumber(ARGV[2]) == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  keepgen(KEYS[2], ARGV[3])
end
return 1`)

// mergeScript: KEYS[1] from, KEYS[2] to, KEYS[3] to's generation, KEYS[4]
// from's generation; ARGV max, ttl ms. The source goes, with its
// generation.
var mergeScript = redis.NewScript(4, keepGen+`
local lines = redis.call('HGETALL', KEYS[1])
if #lines == 0 then return 0 end
local max = tonumber(ARGV[1])
for i = 1, #lines, 2 do
  local n = redis.call('HINCRBY', KEYS[2], lines[i], lines[i+1])
  if n > max then redis.call('HSET', KEYS[2], lines[i], max) end
end
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
keepgen(KEYS[3], ARGV[2])
return #lines / 2`)

// snapshotScript: KEYS[1] cart, KEYS[2] generation, ARGV ttl ms. Returns
// {generation, lines}, and writes nothing: the writes keep the generation
// (keepGen). Only a cart stored before they did, with lines and no
// generation key, gets one here, once.
var snapshotScript = redis.NewScript(2, keepGen+`
local lines = redis.call('HGETALL', KEYS[1])
if #lines == 0 then return {0, lines} end
local g = redis.call('GET', KEYS[2])
if not g then
  keepgen(KEYS[2], ARGV[1])
  g = redis.call('GET', KEYS[2])
end
return {g, lines}`)

// completeScript: KEYS[1] cart, KEYS[2] generation, ARGV generation, ttl ms,
// then product, quantity pairs. Returns 1 when applied, 0 when the cart is
// at another generation.
var completeScript = redis.NewScript(2, `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do
  if redis.call('HINCRBY', KEYS[1], ARGV[i], -tonumber(ARGV[i+1])) <= 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`)

func (s *RedisStore) key(k Key) string    { return s.prefix + string(k) }
func (s *RedisStore) genKey(k Key) string { return s.genPrefix + string(k) }

func (s *RedisStore) do(ctx context.Context, what string, fn func(redis.Conn) error) error {
	return platformredis.Do(ctx, s.pool, what, fn)
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
	n, _, err := s.AddUpTo(ctx, key, productID, qty, MaxQuantity, "")
	return n, err
}

// AddOnce implements Store.
func (s *RedisStore) AddOnce(ctx context.Context, key Key, productID int64, qty int, idem string) (int, bool, error) {
	return s.AddUpTo(ctx, key, productID, qty, MaxQuantity, idem)
}

// AddUpTo implements Store.
func (s *RedisStore) AddUpTo(ctx context.Context, key Key, productID int64, qty, limit int, idem string) (int, bool, error) {
	keys := redis.Args{2, s.key(key), s.genKey(key)}
	if idem != "" {
		keys = redis.Args{3, s.key(key), s.genKey(key), s.idemPrefix + idemKey(key, idem)}
	}
	return s.add(ctx, keys, key, productID, qty, min(limit, MaxQuantity))
}

// add runs addScript on keys (the key count, the cart, its generation, and
// the idempotency key for an add at most once).
func (s *RedisStore) add(ctx context.Context, keys redis.Args, key Key, productID int64, qty, limit int) (int, bool, error) {
	var n int
	var applied, reused bool
	err := s.do(ctx, "add to cart "+string(key), func(c redis.Conn) error {
		res, err := redis.Ints(addScript.DoContext(ctx, c,
			keys.Add(productID, qty, limit, s.ttlMS(key), IdempotencyTTL.Milliseconds(), fingerprint(productID, qty))...))
		if err != nil {
			return err
		}
		reused = res[0] == -1
		applied, n = res[0] == 1, res[1]
		return nil
	})
	if err == nil && reused {
		err = ErrIdempotencyKeyReused
	}
	return n, applied, err
}

// Set implements Store.
func (s *RedisStore) Set(ctx context.Context, key Key, productID int64, qty int) error {
	return s.do(ctx, "set cart line "+string(key), func(c redis.Conn) error {
		_, err := setScript.DoContext(ctx, c, s.key(key), s.genKey(key), productID, qty, s.ttlMS(key))
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
		_, err := mergeScript.DoContext(ctx, c, s.key(from), s.key(to), s.genKey(to), s.genKey(from), MaxQuantity, s.ttlMS(to))
		return err
	})
}

// Clear implements Store.
func (s *RedisStore) Clear(ctx context.Context, key Key) error {
	return s.do(ctx, "clear cart "+string(key), func(c redis.Conn) error {
		_, err := redis.DoContext(c, ctx, "DEL", s.key(key), s.genKey(key))
		return err
	})
}

// Snapshot implements Store.
func (s *RedisStore) Snapshot(ctx context.Context, key Key) ([]Line, int64, error) {
	var lines []Line
	var gen int64
	err := s.do(ctx, "snapshot cart "+string(key), func(c redis.Conn) error {
		res, err := redis.Values(snapshotScript.DoContext(ctx, c, s.key(key), s.genKey(key), s.ttlMS(key)))
		if err != nil {
			return err
		}
		if len(res) != 2 {
			return fmt.Errorf("snapshot script returned %d values", len(res))
		}
		if gen, err = redis.Int64(res[0], nil); err != nil {
			return err
		}
		m, err := redis.Int64Map(res[1], nil)
		if err != nil {
			return err
		}
		for id, q := range m {
			if pid, err := parseID(id); err == nil {
				lines = append(lines, Line{ProductID: pid, Quantity: int(q)})
			}
		}
		return nil
	})
	return lines, gen, err
}

// CompleteCheckout implements Store.
func (s *RedisStore) CompleteCheckout(ctx context.Context, key Key, gen int64, ordered []Line) error {
	if gen == 0 {
		return nil // a cart without lines has nothing to complete
	}
	args := redis.Args{s.key(key), s.genKey(key), gen, s.ttlMS(key)}
	for _, l := range ordered {
		args = append(args, l.ProductID, l.Quantity)
	}
	return s.do(ctx, "complete checkout of cart "+string(key), func(c redis.Conn) error {
		_, err := completeScript.DoContext(ctx, c, args...)
		return err
	})
}
