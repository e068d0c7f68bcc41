// Package session configures the shop's scs session manager on the chosen
// store (Redis, PostgreSQL or process memory) and gives handlers a small typed
// API over the values the shop keeps in a session.
package session

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store kinds.
const (
	KindRedis    = "redis"
	KindPostgres = "postgres"
	KindMemory   = "memory"
)

// Keys of the values the shop keeps in a session.
const (
	keyUserID = "user_id"
	keyCartID = "cart_id"
	keyFlash  = "flash"
)

// Options configure a Manager.
type Options struct {
	Kind             string
	CookieName       string
	CookieSecure     bool
	IdleTimeout      time.Duration
	Lifetime         time.Duration
	RememberLifetime time.Duration
	// RedisPrefix starts the session keys in Redis.
	RedisPrefix string
}

// Manager is the shop's session manager: scs plus typed accessors.
type Manager struct {
	*scs.SessionManager
	kind             string
	rememberLifetime time.Duration
}

// New returns a Manager on the store named by opts.Kind. Postgres needs db,
// Redis needs pool; the other may be nil.
func New(opts Options, db *pgxpool.Pool, pool *redis.Pool) (*Manager, error) {
	sm := scs.New()
	m := &Manager{SessionManager: sm, kind: opts.Kind, rememberLifetime: opts.RememberLifetime}
	switch opts.Kind {
	case KindRedis:
		if pool == nil {
			return nil, fmt.Errorf("session store redis: no redis pool")
		}
		sm.Store = redisstore.NewWithPrefix(pool, opts.RedisPrefix+"session:")
	case KindPostgres:
		if db == nil {
			return nil, fmt.Errorf("session store postgres: no database pool")
		}
		sm.Store = NewPostgresStore(db)
	case KindMemory:
		// The sweeper goroutine lives as long as the process: memstore's
		// StopCleanup races with the goroutine's start (go test -race
		// flags it), and one goroutine per process costs nothing.
		sm.Store = memstore.NewWithCleanupInterval(time.Minute)
	default:
		return nil, fmt.Errorf("unknown session store %q", opts.Kind)
	}
	sm.Store = &store{inner: sm.Store}
	sm.IdleTimeout = opts.IdleTimeout
	sm.Lifetime = opts.Lifetime
	// Only a hash of the token reaches the store: a leaked copy of the store
	// (a backup, a Redis replica) cannot be replayed as cookies.
	sm.HashTokenInStore = true
	sm.Cookie.Name = opts.CookieName
	sm.Cookie.HttpOnly = true
	sm.Cookie.Path = "/"
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = opts.CookieSecure
	// A browser-session cookie unless the user asks to be remembered.
	sm.Cookie.Persist = false
	return m, nil
}

// Kind is the store kind: redis, postgres or memory.
func (m *Manager) Kind() string { return m.kind }

// Commit saves the session and returns its token and expiry. It passes the
// signed-in user id to stores that index sessions by user, and keeps a
// remembered login until its absolute deadline instead of the idle expiry.
func (m *Manager) Commit(ctx context.Context) (string, time.Time, error) {
	info := commitInfo{userID: m.UserID(ctx)}
	if m.Remembered(ctx) {
		info.rememberUntil = m.Deadline(ctx)
	}
	token, expiry, err := m.SessionManager.Commit(withCommitInfo(ctx, info))
	if err == nil && !info.rememberUntil.IsZero() {
		expiry = info.rememberUntil
	}
	return token, expiry, err
}

// Remembered reports whether the user asked to be remembered at login.
func (m *Manager) Remembered(ctx context.Context) bool { return m.GetBool(ctx, "__rememberMe") }

// Expiry returns when this session expires if unused from now on (idle) and
// at the latest (absolute), as the commit of the current request sets them.
// A remembered login has no idle expiry short of its deadline.
func (m *Manager) Expiry(ctx context.Context, now time.Time) (idle, absolute time.Time) {
	absolute = m.Deadline(ctx)
	idle = now.Add(m.IdleTimeout).UTC()
	if m.Remembered(ctx) || m.IdleTimeout == 0 || absolute.Before(idle) {
		idle = absolute
	}
	return idle, absolute
}

// UserID returns the signed-in account's id, or 0 for a guest.
func (m *Manager) UserID(ctx context.Context) int64 { return m.GetInt64(ctx, keyUserID) }

// Login makes the session belong to userID. The token is renewed first, so a
// token planted before login (session fixation) is worthless after it.
// remember gives a persistent cookie and the longer lifetime.
func (m *Manager) Login(ctx context.Context, userID int64, email string, remember bool) error {
	if err := m.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session token at login: %w", err)
	}
	m.Put(ctx, keyUserID, userID)
	m.Put(ctx, keyEmail, email)
	if remember {
		m.RememberMe(ctx, true)
		m.SetDeadline(ctx, time.Now().Add(m.rememberLifetime).UTC())
	}
	return nil
}

// Logout ends the session: the stored session is deleted, so the old cookie
// stops working everywhere, and the next value put starts a new one with a
// new token.
func (m *Manager) Logout(ctx context.Context) error {
	if err := m.Destroy(ctx); err != nil {
		return fmt.Errorf("destroy session at logout: %w", err)
	}
	return nil
}

// CartID returns the id of this session's guest cart ("" when none).
func (m *Manager) CartID(ctx context.Context) string { return m.GetString(ctx, keyCartID) }

// SetCartID records the id of this session's guest cart.
func (m *Manager) SetCartID(ctx context.Context, id string) { m.Put(ctx, keyCartID, id) }

// ClearCartID forgets the guest cart (after it merged into an account's).
func (m *Manager) ClearCartID(ctx context.Context) { m.Remove(ctx, keyCartID) }

// Flash is a one-time message for the next page.
type Flash struct {
	// Kind is "success", "error" or "info".
	Kind    string
	Message string
}

// AddFlash queues a message for the next page this session sees.
func (m *Manager) AddFlash(ctx context.Context, kind, message string) {
	var list []string
	if v, ok := m.Get(ctx, keyFlash).([]string); ok {
		list = v
	}
	m.Put(ctx, keyFlash, append(list, kind, message))
}

// PopFlashes returns and removes the queued messages. A session without
// messages is not modified.
func (m *Manager) PopFlashes(ctx context.Context) []Flash {
	if !m.Exists(ctx, keyFlash) {
		return nil
	}
	list, _ := m.Pop(ctx, keyFlash).([]string)
	var out []Flash
	for i := 0; i+1 < len(list); i += 2 {
		out = append(out, Flash{Kind: list[i], Message: list[i+1]})
	}
	return out
}

const keyEmail = "email"

// Email returns the signed-in account's email ("" for a guest). It is kept
// in the session so that pages need no database read to greet the user.
func (m *Manager) Email(ctx context.Context) string { return m.GetString(ctx, keyEmail) }
