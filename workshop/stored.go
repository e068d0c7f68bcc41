package workshop

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/the-shop/shop/internal/platform/postgres"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
	"github.com/the-shop/shop/internal/session"
)

// keyID is the fingerprint a sealed session carries of its key, for a key
// as SESSION_ENCRYPTION_KEYS holds it (base64).
func keyID(base64Key string) (string, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(base64Key))
	if err != nil {
		return "", fmt.Errorf("key %.6s…: not base64: %w", base64Key, err)
	}
	return session.KeyID(k), nil
}

// readStored fetches the stored session for a cookie value from the store
// the shop uses, through the session package's own key layout and SQL;
// found is false when the store has none.
func (r *run) readStored(ctx context.Context, cookie string) (s session.Stored, found bool, err error) {
	switch r.env.Store {
	case "redis":
		pool, err := platformredis.Open(ctx, r.env.RedisURL)
		if err != nil {
			return s, false, fmt.Errorf("connect to Redis at %s: %w", r.env.RedisURL, err)
		}
		defer pool.Close()
		return session.FindStoredRedis(ctx, pool, r.env.RedisPrefix, cookie)
	case "postgres":
		db, err := postgres.Open(ctx, r.env.DatabaseURL)
		if err != nil {
			return s, false, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		defer db.Close()
		return session.FindStoredPostgres(ctx, db, cookie)
	}
	return s, false, fmt.Errorf("sessions in %q are not kept where a check can read them", r.env.Store)
}
