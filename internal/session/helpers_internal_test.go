package session

import (
	"context"
	"crypto/rand"
	"math/big"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// storage is a backend of one kind on isolated real storage, with what it
// stands on (the database, or the Redis pool and key prefix).
type storage struct {
	backend Backend
	db      *pgxpool.Pool
	pool    *redis.Pool
	prefix  string
}

func newTestStorage(tb testing.TB, kind config.Kind) storage {
	tb.Helper()
	switch kind {
	case config.StoreRedis:
		pool, prefix := testenv.MustRedis(tb)
		return storage{backend: RedisBackend(pool, prefix), pool: pool, prefix: prefix}
	case config.StorePostgres:
		db := testenv.MustDatabase(tb)
		return storage{backend: PostgresBackend(db), db: db}
	}
	return storage{backend: MemoryBackend()}
}

// newTestManager builds a Manager of opts.Kind on isolated real storage.
func newTestManager(tb testing.TB, opts Options) (*Manager, storage) {
	tb.Helper()
	st := newTestStorage(tb, opts.Kind)
	m, err := New(opts, st.backend)
	if err != nil {
		tb.Fatal(err)
	}
	return m, st
}

func mustLoad(tb testing.TB, m *Manager, token string) *Session {
	tb.Helper()
	s, err := m.Load(context.Background(), token, Request{IP: "192.0.2.1", UserAgent: "test-agent"})
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return s
}

// mustSave saves s and returns the token the next request carries: the
// cookie the response set, else (the browser keeps the cookie it has) the
// session's token.
func mustSave(tb testing.TB, s *Session) string {
	tb.Helper()
	rec := httptest.NewRecorder()
	if err := s.Save(context.Background(), rec); err != nil {
		tb.Fatalf("Save: %v", err)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == s.m.CookieName(false) {
			return c.Value
		}
	}
	return s.Token()
}

// put and getString reach values the shop's typed API does not name.
func (s *Session) put(key string, v any)       { s.m.scs.Put(s.data, key, v) }
func (s *Session) getString(key string) string { return s.m.scs.GetString(s.data, key) }

// ident is an account identity for Managers built without an account
// check (Options.Accounts), which take the session's word for it.
func ident(id int64) account.Identity {
	return account.Identity{ID: id, PublicID: "account-" + strconv.FormatInt(id, 10), Epoch: 1}
}

// newUser is an account the session can belong to: a row of users where
// sessions reference it (PostgreSQL), else a made-up identity.
func newUser(tb testing.TB, st storage) account.Identity {
	tb.Helper()
	if st.db == nil {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<40))
		return ident(n.Int64() + 1)
	}
	var id account.Identity
	err := st.db.QueryRow(context.Background(),
		`INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id, public_id::text, session_epoch`,
		testenv.RandomName("u")+"@example.com").Scan(&id.ID, &id.PublicID, &id.Epoch)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
