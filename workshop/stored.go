package workshop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"

	"github.com/the-shop/shop/internal/platform/postgres"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

// storeKey is what the store keys a session by: the SHA-256 of the cookie
// value, base64url without padding (scs's HashTokenInStore), so a copy of
// the store cannot be replayed as cookies.
func storeKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sealed is the start of a session encrypted at rest, as
// internal/session/codec.go writes it: the magic "shE1", then the first 4
// bytes of the SHA-256 of the key that sealed it, then nonce and ciphertext.
var sealedMagic = []byte("shE1")

// keyID is the fingerprint a sealed session carries of its key, in hex.
func keyID(base64Key string) (string, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(base64Key))
	if err != nil {
		return "", fmt.Errorf("key %.6s…: not base64: %w", base64Key, err)
	}
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:4]), nil
}

// sealedBy returns the key fingerprint of a sealed session, or ok false for
// data that is not sealed.
func sealedBy(data []byte) (id string, ok bool) {
	if len(data) < len(sealedMagic)+4 || !bytes.Equal(data[:len(sealedMagic)], sealedMagic) {
		return "", false
	}
	return hex.EncodeToString(data[len(sealedMagic) : len(sealedMagic)+4]), true
}

// storedSession is a session's row or key as the store holds it.
type storedSession struct {
	where  string // "redis key shop:session:…" or "postgres sessions row …"
	data   []byte
	expiry time.Time
}

// readStored fetches the stored session for a cookie value from the store
// the shop uses; found is false when the store has none.
func (r *run) readStored(ctx context.Context, cookie string) (s storedSession, found bool, err error) {
	key := storeKey(cookie)
	switch r.env.Store {
	case "redis":
		pool, err := platformredis.Open(ctx, r.env.RedisURL)
		if err != nil {
			return s, false, fmt.Errorf("connect to Redis at %s: %w", r.env.RedisURL, err)
		}
		defer pool.Close()
		name := r.env.RedisPrefix + "session:" + key
		s.where = "Redis key " + name
		err = platformredis.Do(ctx, pool, "read session", func(c redis.Conn) error {
			data, err := redis.Bytes(redis.DoContext(c, ctx, "GET", name))
			if errors.Is(err, redis.ErrNil) {
				return nil
			}
			if err != nil {
				return err
			}
			ms, err := redis.Int64(redis.DoContext(c, ctx, "PEXPIRETIME", name))
			if err != nil {
				return err
			}
			s.data, s.expiry, found = data, time.UnixMilli(ms), true
			return nil
		})
		return s, found, err
	case "postgres":
		db, err := postgres.Open(ctx, r.env.DatabaseURL)
		if err != nil {
			return s, false, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		defer db.Close()
		s.where = fmt.Sprintf("sessions row token=%.10s…", key)
		err = db.QueryRow(ctx, `SELECT data, expiry FROM sessions WHERE token = $1`, key).Scan(&s.data, &s.expiry)
		if errors.Is(err, pgx.ErrNoRows) {
			return s, false, nil
		}
		if err != nil {
			return s, false, fmt.Errorf("read the sessions row: %w", err)
		}
		return s, true, nil
	}
	return s, false, fmt.Errorf("sessions in %q are not kept where a check can read them", r.env.Store)
}
