package session

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// The inspect helpers read what a Manager really wrote: the store key scs
// derives from the cookie, the sealed format of the encrypted codec, and
// Postgres rows past their expiry.
func TestInspectStored(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	for _, kind := range []config.Kind{config.StoreRedis, config.StorePostgres} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := newTestStorage(t, kind)
			pool, prefix, db := st.pool, st.prefix, st.db
			find := func(cookie string) (Stored, bool) {
				t.Helper()
				var s Stored
				var found bool
				var err error
				if kind == config.StoreRedis {
					s, found, err = FindStoredRedis(ctx, pool, prefix, cookie)
				} else {
					s, found, err = FindStoredPostgres(ctx, db, cookie)
				}
				if err != nil {
					t.Fatalf("find stored session: %v", err)
				}
				return s, found
			}
			commit := func(encrypt bool) string {
				t.Helper()
				opts := options(kind)
				if encrypt {
					sealer, err := NewSealer([][]byte{key}, false)
					if err != nil {
						t.Fatal(err)
					}
					opts.Sealer = sealer
				}
				m, err := New(opts, st.backend)
				if err != nil {
					t.Fatal(err)
				}
				s := mustLoad(t, m, "")
				s.SetCartID("inspect-marker")
				return mustSave(t, s)
			}

			t.Run("SealedByTheFirstKey", func(t *testing.T) {
				cookie := commit(true)
				s, found := find(cookie)
				if !found {
					t.Fatalf("no stored session for the cookie (looked at %s)", s.Where)
				}
				if !strings.Contains(s.Where, StoreKey(cookie)[:10]) || strings.Contains(s.Where, cookie) {
					t.Errorf("Where = %q: want the store key %s, never the cookie", s.Where, StoreKey(cookie))
				}
				if until := time.Until(s.Expiry); until <= 0 || until > 24*time.Hour {
					t.Errorf("expiry %v from now, want within the lifetime", until)
				}
				if got, sealed := SealedBy(s.Data); !sealed || got != KeyID(key) {
					t.Errorf("SealedBy = %q, %v; want %q, true", got, sealed, KeyID(key))
				}
				if bytes.Contains(s.Data, []byte("inspect-marker")) {
					t.Error("sealed data holds the plaintext")
				}
			})
			t.Run("PlainIsNotSealed", func(t *testing.T) {
				s, found := find(commit(false))
				if !found || !bytes.Contains(s.Data, []byte("inspect-marker")) {
					t.Fatalf("plain session: found %v, data %q", found, s.Data)
				}
				if id, sealed := SealedBy(s.Data); sealed {
					t.Errorf("plaintext reads as sealed by %s", id)
				}
			})
			t.Run("UnknownCookie", func(t *testing.T) {
				if _, found := find(testenv.RandomName("no-such-cookie-")); found {
					t.Error("found a session for a cookie nobody was given")
				}
			})
			if kind == config.StoreRedis {
				t.Run("RedisKey", func(t *testing.T) {
					cookie := commit(false)
					conn := pool.Get()
					defer conn.Close()
					if n, err := redis.Int(conn.Do("EXISTS", RedisKey(prefix, cookie))); err != nil || n != 1 {
						t.Errorf("EXISTS %s = %d, %v; want 1", RedisKey(prefix, cookie), n, err)
					}
				})
			} else {
				t.Run("ExpiredRowIsStillRead", func(t *testing.T) {
					cookie := commit(false)
					if _, err := db.Exec(ctx, `UPDATE sessions SET expiry = now() - interval '1 minute' WHERE token = $1`,
						StoreKey(cookie)); err != nil {
						t.Fatal(err)
					}
					s, found := find(cookie)
					if !found || !s.Expiry.Before(time.Now()) {
						t.Errorf("expired row: found %v, expiry %v; want found, in the past", found, s.Expiry)
					}
				})
			}
		})
	}
}

func TestSealedByShortData(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("shE"), []byte("shE1ab"), []byte("gob data that is longer")} {
		if id, sealed := SealedBy(data); sealed {
			t.Errorf("SealedBy(%q) = %q, true; want not sealed", data, id)
		}
	}
}
