package session

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"

	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

// redisBackend keeps a session as a string key (laid out as scs's
// redisstore does: the encoded data under prefix+"session:"+token), its
// last-seen time in a companion key with the same expiry, and each
// account's sessions in an index hash, id → Info as JSON, whose own expiry
// is the latest of its sessions'. Every operation is one round trip: a
// small script (redisstore's Commit would take a round trip of its own
// before the last-seen and index writes, and it cannot read the expiry
// with the data or extend the expiry alone).
type redisBackend struct {
	pool        *redis.Pool
	keyPrefix   string // session keys
	seenPrefix  string // last-seen companions
	indexPrefix string // per-account index hashes
}

var _ backend = (*redisBackend)(nil)

func newRedisBackend(pool *redis.Pool, prefix string) *redisBackend {
	return &redisBackend{
		pool:        pool,
		keyPrefix:   prefix + "session:",
		seenPrefix:  prefix + "session-seen:",
		indexPrefix: prefix + "user-sessions:",
	}
}

func (s *redisBackend) indexKey(userID int64) string {
	return s.indexPrefix + strconv.FormatInt(userID, 10)
}

// findScript: KEYS[1] session, KEYS[2] last seen. The data, its expiry and
// the last-seen time (both ms) in one round trip.
var findScript = redis.NewScript(2, `
local v = redis.call('GET', KEYS[1])
if not v then return false end
return {v, redis.call('PEXPIRETIME', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0')}`)

// commitScript: KEYS[1] session, KEYS[2] last seen, KEYS[3] index or "";
// ARGV data, expiry ms, now ms, id, info JSON. Writes the data, the
// last-seen time and the index entry in one round trip; the index lives as
// long as its longest-lived session.
var commitScript = redis.NewScript(3, `
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PXAT', ARGV[2])
if KEYS[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
  if redis.call('PEXPIRETIME', KEYS[3]) < tonumber(ARGV[2]) then
    redis.call('PEXPIREAT', KEYS[3], ARGV[2])
  end
end
return 1`)

// touchScript: KEYS[1] session, KEYS[2] last seen, KEYS[3] index or "";
// ARGV expiry ms, id, info JSON, now ms. Nothing happens for a session that
// is gone.
var touchScript = redis.NewScript(3, `
if redis.call('PEXPIREAT', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[4], 'PXAT', ARGV[1])
if KEYS[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
  if redis.call('PEXPIRETIME', KEYS[3]) < tonumber(ARGV[1]) then
    redis.call('PEXPIREAT', KEYS[3], ARGV[1])
  end
end
return 1`)

func (s *redisBackend) do(ctx context.Context, what string, fn func(redis.Conn) error) error {
	return platformredis.Do(ctx, s.pool, what, fn)
}

func (s *redisBackend) find(ctx context.Context, id string) ([]byte, stored, bool, error) {
	var data []byte
	var st stored
	err := s.do(ctx, "find session", func(c redis.Conn) error {
		vals, err := redis.Values(findScript.DoContext(ctx, c, s.keyPrefix+id, s.seenPrefix+id))
		if err == redis.ErrNil {
			return nil
		}
		if err != nil {
			return err
		}
		if data, err = redis.Bytes(vals[0], nil); err != nil {
			return err
		}
		ms, err := redis.Int64s(vals[1:], nil)
		if err != nil {
			return err
		}
		st = stored{expiry: time.UnixMilli(ms[0]).UTC(), lastSeen: time.UnixMilli(ms[1]).UTC()}
		return nil
	})
	return data, st, data != nil, err
}

func (s *redisBackend) commit(ctx context.Context, id string, data []byte, in Info) error {
	index, info := "", []byte("{}")
	if in.UserID != 0 {
		index = s.indexKey(in.UserID)
		var err error
		if info, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode session info: %w", err)
		}
	}
	return s.do(ctx, "commit session", func(c redis.Conn) error {
		_, err := commitScript.DoContext(ctx, c, s.keyPrefix+id, s.seenPrefix+id, index,
			data, in.Expiry.UnixMilli(), in.LastSeen.UnixMilli(), id, info)
		return err
	})
}

func (s *redisBackend) touch(ctx context.Context, id string, in Info) error {
	index, info := "", []byte("{}")
	if in.UserID != 0 {
		index = s.indexKey(in.UserID)
		var err error
		if info, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode session info: %w", err)
		}
	}
	return s.do(ctx, "touch session", func(c redis.Conn) error {
		_, err := touchScript.DoContext(ctx, c, s.keyPrefix+id, s.seenPrefix+id, index, in.Expiry.UnixMilli(), id, info, in.LastSeen.UnixMilli())
		return err
	})
}

func (s *redisBackend) delete(ctx context.Context, id string, userID int64) error {
	return s.do(ctx, "delete session", func(c redis.Conn) error {
		if err := c.Send("MULTI"); err != nil {
			return err
		}
		if err := c.Send("DEL", s.keyPrefix+id, s.seenPrefix+id); err != nil {
			return err
		}
		if userID != 0 {
			if err := c.Send("HDEL", s.indexKey(userID), id); err != nil {
				return err
			}
		}
		_, err := redis.DoContext(c, ctx, "EXEC")
		return err
	})
}

func (s *redisBackend) list(ctx context.Context, userID int64) ([]Info, error) {
	var out []Info
	err := s.do(ctx, "list sessions", func(c redis.Conn) error {
		m, err := redis.StringMap(redis.DoContext(c, ctx, "HGETALL", s.indexKey(userID)))
		if err != nil {
			return err
		}
		now := time.Now()
		for _, v := range m {
			var in Info
			if json.Unmarshal([]byte(v), &in) == nil && in.Expiry.After(now) {
				out = append(out, in)
			}
		}
		return nil
	})
	return out, err
}

// pruneIndex removes the entries of sessions that expired from one
// account's index; the cleanup job calls it for every index it finds.
func (s *redisBackend) pruneIndex(ctx context.Context, key string) (int, error) {
	removed := 0
	err := s.do(ctx, "prune session index", func(c redis.Conn) error {
		m, err := redis.StringMap(redis.DoContext(c, ctx, "HGETALL", key))
		if err != nil {
			return err
		}
		now := time.Now()
		for id, v := range m {
			var in Info
			if json.Unmarshal([]byte(v), &in) != nil || !in.Expiry.After(now) {
				n, err := redis.Int(redis.DoContext(c, ctx, "HDEL", key, id))
				if err != nil {
					return err
				}
				removed += n
			}
		}
		return nil
	})
	return removed, err
}

// PruneRedisIndexes removes the entries of expired sessions from the
// accounts' session indexes under prefix (the indexes expire on their own
// once all their sessions have; this keeps a busy account's index small),
// and returns how many it removed. It walks the indexes with SCAN, in
// steps, never KEYS, and stops after the index at which it has removed
// limit entries, so that the cleanup job can pause between batches; the
// next call starts the walk again, and finds nothing left in the indexes
// already pruned.
func PruneRedisIndexes(ctx context.Context, pool *redis.Pool, prefix string, limit int) (int64, error) {
	b := newRedisBackend(pool, prefix)
	var removed int64
	cursor := 0
	for {
		var keys []string
		err := b.do(ctx, "scan session indexes", func(c redis.Conn) error {
			vals, err := redis.Values(redis.DoContext(c, ctx, "SCAN", cursor, "MATCH", b.indexPrefix+"*", "COUNT", 500))
			if err != nil {
				return err
			}
			if cursor, err = redis.Int(vals[0], nil); err != nil {
				return err
			}
			keys, err = redis.Strings(vals[1], nil)
			return err
		})
		if err != nil {
			return removed, err
		}
		for _, k := range keys {
			n, err := b.pruneIndex(ctx, k)
			if err != nil {
				return removed, err
			}
			removed += int64(n)
			if removed >= int64(limit) {
				return removed, nil
			}
		}
		if cursor == 0 {
			return removed, nil
		}
	}
}
