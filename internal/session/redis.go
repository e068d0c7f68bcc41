package session

import (
	"context"
	"encoding/json"
	"fmt"

	"time"

	"github.com/gomodule/redigo/redis"

	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

// redisBackend keeps a session as a hash under prefix+"session:"+token:
// its encoded data (d), version (v) and last-seen time in ms (s), with the
// session's expiry as the key's; a renewal marker holds only the account
// the session went to (r). Each account's sessions are listed in an index
// hash under prefix+"user-sessions:"+public id, id → Info as JSON, whose
// own expiry is the latest of its sessions'. Every operation is one round
// trip: a small script.
type redisBackend struct {
	pool        *redis.Pool
	keyPrefix   string // sessions
	indexPrefix string // per-account index hashes
}

var _ backend = (*redisBackend)(nil)

func newRedisBackend(pool *redis.Pool, prefix string) *redisBackend {
	return &redisBackend{
		pool:        pool,
		keyPrefix:   prefix + "session:",
		indexPrefix: prefix + "user-sessions:",
	}
}

func (s *redisBackend) indexKey(account string) string {
	if account == "" {
		return ""
	}
	return s.indexPrefix + account
}

// findScript: KEYS[1] session. The data, its expiry, the last-seen time
// (both ms) and the version in one round trip; nothing for a marker.
var findScript = redis.NewScript(1, `
local v = redis.call('HMGET', KEYS[1], 'd', 's', 'v')
if not v[1] then return false end
return {v[1], redis.call('PEXPIRETIME', KEYS[1]), tonumber(v[2] or '0'), tonumber(v[3] or '0')}`)

// commitScript: KEYS[1] session, KEYS[2] index or ""; ARGV data, expiry
// ms, now ms, id, info JSON, expected version (0: create). Answers {version}
// when written, {0} when another request wrote first, {-1} when the session
// is gone and {-2, account} when it was renewed into account. The index
// lives as long as its longest-lived session.
var commitScript = redis.NewScript(2, `
local cur = redis.call('HMGET', KEYS[1], 'v', 'r')
if cur[2] then return {-2, cur[2]} end
local expect = tonumber(ARGV[6])
local v = tonumber(cur[1] or '0')
if expect == 0 then
  if v ~= 0 then return {0} end
else
  if v == 0 then return {-1} end
  if v ~= expect then return {0} end
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 's', ARGV[3], 'v', v + 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if KEYS[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
  if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[2]) then
    redis.call('PEXPIREAT', KEYS[2], ARGV[2])
  end
end
return {v + 1}`)

// touchScript: KEYS[1] session, KEYS[2] index or ""; ARGV expiry ms, id,
// info JSON, now ms. Answers as commitScript, never creating anything.
var touchScript = redis.NewScript(2, `
local cur = redis.call('HMGET', KEYS[1], 'v', 'r')
if cur[2] then return {-2, cur[2]} end
if not cur[1] then return {-1} end
redis.call('HSET', KEYS[1], 's', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if KEYS[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[1]) then
    redis.call('PEXPIREAT', KEYS[2], ARGV[1])
  end
end
return {tonumber(cur[1])}`)

// retireScript: KEYS[1] session, KEYS[2] index or ""; ARGV id, account,
// marker lifetime ms.
var retireScript = redis.NewScript(2, `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if KEYS[2] ~= '' then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1`)

func (s *redisBackend) do(ctx context.Context, what string, fn func(redis.Conn) error) error {
	return platformredis.Do(ctx, s.pool, what, fn)
}

func (s *redisBackend) find(ctx context.Context, id string) ([]byte, stored, bool, error) {
	var data []byte
	var st stored
	err := s.do(ctx, "find session", func(c redis.Conn) error {
		vals, err := redis.Values(findScript.DoContext(ctx, c, s.keyPrefix+id))
		if err == redis.ErrNil {
			return nil
		}
		if err != nil {
			return err
		}
		if data, err = redis.Bytes(vals[0], nil); err != nil {
			return err
		}
		n, err := redis.Int64s(vals[1:], nil)
		if err != nil {
			return err
		}
		st = stored{expiry: time.UnixMilli(n[0]).UTC(), lastSeen: time.UnixMilli(n[1]).UTC(), version: n[2]}
		return nil
	})
	return data, st, data != nil, err
}

// outcome turns a script's answer into a version or the error it means.
func outcome(vals []any) (int64, error) {
	code, err := redis.Int64(vals[0], nil)
	if err != nil {
		return 0, err
	}
	switch {
	case code > 0:
		return code, nil
	case code == 0:
		return 0, errStale
	case code == -2 && len(vals) > 1:
		to, _ := redis.String(vals[1], nil)
		return 0, &gone{renewed: true, renewedTo: to}
	}
	return 0, &gone{}
}

func (s *redisBackend) indexEntry(in Info) (key string, info []byte, err error) {
	if in.Account == "" {
		return "", []byte("{}"), nil
	}
	if info, err = json.Marshal(in); err != nil {
		return "", nil, fmt.Errorf("encode session info: %w", err)
	}
	return s.indexKey(in.Account), info, nil
}

func (s *redisBackend) commit(ctx context.Context, id string, data []byte, in Info, expect int64) (int64, error) {
	index, info, err := s.indexEntry(in)
	if err != nil {
		return 0, err
	}
	var version int64
	err = s.do(ctx, "commit session", func(c redis.Conn) error {
		vals, err := redis.Values(commitScript.DoContext(ctx, c, s.keyPrefix+id, index,
			data, in.Expiry.UnixMilli(), in.LastSeen.UnixMilli(), id, info, expect))
		if err != nil {
			return err
		}
		version, err = outcome(vals)
		return err
	})
	return version, err
}

func (s *redisBackend) touch(ctx context.Context, id string, in Info) error {
	index, info, err := s.indexEntry(in)
	if err != nil {
		return err
	}
	return s.do(ctx, "touch session", func(c redis.Conn) error {
		vals, err := redis.Values(touchScript.DoContext(ctx, c, s.keyPrefix+id, index, in.Expiry.UnixMilli(), id, info, in.LastSeen.UnixMilli()))
		if err != nil {
			return err
		}
		_, err = outcome(vals)
		return err
	})
}

func (s *redisBackend) delete(ctx context.Context, id string, o owner) error {
	return s.do(ctx, "delete session", func(c redis.Conn) error {
		if err := c.Send("MULTI"); err != nil {
			return err
		}
		if err := c.Send("DEL", s.keyPrefix+id); err != nil {
			return err
		}
		if o.account != "" {
			if err := c.Send("HDEL", s.indexKey(o.account), id); err != nil {
				return err
			}
		}
		_, err := redis.DoContext(c, ctx, "EXEC")
		return err
	})
}

func (s *redisBackend) retire(ctx context.Context, id string, o owner, renewedTo string, ttl time.Duration) error {
	return s.do(ctx, "retire session", func(c redis.Conn) error {
		_, err := retireScript.DoContext(ctx, c, s.keyPrefix+id, s.indexKey(o.account), id, renewedTo, ttl.Milliseconds())
		return err
	})
}

func (s *redisBackend) list(ctx context.Context, o owner) ([]Info, error) {
	var out []Info
	if o.account == "" {
		return nil, nil
	}
	err := s.do(ctx, "list sessions", func(c redis.Conn) error {
		m, err := redis.StringMap(redis.DoContext(c, ctx, "HGETALL", s.indexKey(o.account)))
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
