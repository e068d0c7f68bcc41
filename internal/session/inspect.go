package session

// Looking inside the store from outside the request path: the workshop
// shows attendees their own session as the store holds it (a hash of the
// cookie, not the cookie; ciphertext when encryption is on). These helpers
// keep the key layout, the SQL and the sealed format in this package, so a
// tool that reads them cannot drift from what the shop writes.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/platform/postgres"
)

// StoreKey returns what the store keys the session of a cookie value by:
// the SHA-256 of the value, base64url without padding. scs computes it
// (HashTokenInStore, set by New) so that a copy of the store cannot be
// replayed as cookies; it is also Info.ID.
func StoreKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// RedisKey returns the Redis key that holds the data of the session of a
// cookie value, for a shop whose REDIS_KEY_PREFIX is prefix.
func RedisKey(prefix, cookie string) string {
	return newRedisBackend(nil, prefix).keyPrefix + StoreKey(cookie)
}

// KeyID returns the fingerprint that data sealed by key carries (see
// SealedBy): hex of the first bytes of the key's SHA-256. It names a key
// without showing it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:keyIDLen])
}

// SealedBy reports whether stored session data is encrypted at rest (by a
// Sealer, or the shop's first sealed format), and if so the KeyID of the
// key that sealed it.
func SealedBy(data []byte) (keyID string, sealed bool) {
	if len(data) < len(sealMagic)+keyIDLen || !(bytes.HasPrefix(data, sealMagic) || bytes.HasPrefix(data, oldSealMagic)) {
		return "", false
	}
	return hex.EncodeToString(data[len(sealMagic) : len(sealMagic)+keyIDLen]), true
}

// Stored is a session as its store holds it.
type Stored struct {
	// Where names the place for people: "Redis key shop:session:…" or
	// "sessions row token=…".
	Where  string
	Data   []byte
	Expiry time.Time
}

// FindStoredRedis reads the session of a cookie value from Redis, for a
// shop whose REDIS_KEY_PREFIX is prefix; found is false when there is none
// (Redis drops a key when it expires).
func FindStoredRedis(ctx context.Context, pool *redis.Pool, prefix, cookie string) (s Stored, found bool, err error) {
	b := newRedisBackend(pool, prefix)
	id := StoreKey(cookie)
	s.Where = "Redis key " + b.keyPrefix + id
	data, st, found, err := b.find(ctx, id)
	if err != nil || !found {
		return s, false, err
	}
	s.Data, s.Expiry = data, st.expiry
	return s, true, nil
}

// FindStoredPostgres reads the sessions row of a cookie value, also when
// it has expired: a row stays until the cleanup job deletes it, and every
// read of the shop filters on expiry.
func FindStoredPostgres(ctx context.Context, db *pgxpool.Pool, cookie string) (s Stored, found bool, err error) {
	id := StoreKey(cookie)
	s.Where = fmt.Sprintf("sessions row token=%.10s…", id)
	err = db.QueryRow(ctx, `SELECT data, expiry FROM sessions WHERE token = $1`, id).Scan(&s.Data, &s.Expiry)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, postgres.Error("read stored session", err, nil)
	}
	return s, true, nil
}
