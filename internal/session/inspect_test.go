package session_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/testenv"
)

// The inspect helpers read what a Manager really wrote: the store key scs
// derives from the cookie, the sealed format of the encrypted codec, and
// Postgres rows past their expiry.
func TestInspectStored(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	for _, kind := range []string{session.KindRedis, session.KindPostgres} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, prefix := testenv.MustRedis(t)
			db := testenv.MustDatabase(t)
			find := func(cookie string) (session.Stored, bool) {
				t.Helper()
				var s session.Stored
				var found bool
				var err error
				if kind == session.KindRedis {
					s, found, err = session.FindStoredRedis(ctx, pool, prefix, cookie)
				} else {
					s, found, err = session.FindStoredPostgres(ctx, db, cookie)
				}
				if err != nil {
					t.Fatalf("find stored session: %v", err)
				}
				return s, found
			}
			commit := func(encrypt bool) string {
				t.Helper()
				opts := options(kind, prefix)
				if encrypt {
					codec, err := session.NewEncryptedCodec(session.CompactCodec{}, [][]byte{key})
					if err != nil {
						t.Fatal(err)
					}
					opts.Codec = codec
				}
				m, err := session.New(opts, db, pool)
				if err != nil {
					t.Fatal(err)
				}
				sctx := mustLoad(t, m, "")
				m.SetCartID(sctx, "inspect-marker")
				return mustCommit(t, m, sctx)
			}

			t.Run("SealedByTheFirstKey", func(t *testing.T) {
				cookie := commit(true)
				s, found := find(cookie)
				if !found {
					t.Fatalf("no stored session for the cookie (looked at %s)", s.Where)
				}
				if !strings.Contains(s.Where, session.StoreKey(cookie)[:10]) || strings.Contains(s.Where, cookie) {
					t.Errorf("Where = %q: want the store key %s, never the cookie", s.Where, session.StoreKey(cookie))
				}
				if until := time.Until(s.Expiry); until <= 0 || until > 24*time.Hour {
					t.Errorf("expiry %v from now, want within the lifetime", until)
				}
				if got, sealed := session.SealedBy(s.Data); !sealed || got != session.KeyID(key) {
					t.Errorf("SealedBy = %q, %v; want %q, true", got, sealed, session.KeyID(key))
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
				if id, sealed := session.SealedBy(s.Data); sealed {
					t.Errorf("plaintext reads as sealed by %s", id)
				}
			})
			t.Run("UnknownCookie", func(t *testing.T) {
				if _, found := find(testenv.RandomName("no-such-cookie-")); found {
					t.Error("found a session for a cookie nobody was given")
				}
			})
			if kind == session.KindRedis {
				t.Run("RedisKey", func(t *testing.T) {
					cookie := commit(false)
					conn := pool.Get()
					defer conn.Close()
					if n, err := redis.Int(conn.Do("EXISTS", session.RedisKey(prefix, cookie))); err != nil || n != 1 {
						t.Errorf("EXISTS %s = %d, %v; want 1", session.RedisKey(prefix, cookie), n, err)
					}
				})
			} else {
				t.Run("ExpiredRowIsStillRead", func(t *testing.T) {
					cookie := commit(false)
					if _, err := db.Exec(ctx, `UPDATE sessions SET expiry = now() - interval '1 minute' WHERE token = $1`,
						session.StoreKey(cookie)); err != nil {
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
		if id, sealed := session.SealedBy(data); sealed {
			t.Errorf("SealedBy(%q) = %q, true; want not sealed", data, id)
		}
	}
}
