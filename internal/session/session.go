// Package session configures the shop's scs session manager on the chosen
// store (Redis, PostgreSQL or process memory) and gives handlers a small typed
// API over the values the shop keeps in a session.
//
// scs's own idle timeout rewrites the whole session on every request. Here
// the Manager applies the idle timeout itself: a request that changes the
// session commits it; a request that changes nothing extends the expiry at
// most once per touch interval, with the cheapest write the store has.
package session

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/apperr"
)

// Store kinds.
const (
	KindRedis    = "redis"
	KindPostgres = "postgres"
	KindMemory   = "memory"
)

// Keys of the values the shop keeps in a session.
const (
	keyUserID   = "user_id"
	keyEmail    = "email"
	keyCartID   = "cart_id"
	keyFlash    = "flash"
	keyCreated  = "created"      // Unix seconds: gob needs no type registration for it
	keyRemember = "__rememberMe" // scs's own key for RememberMe
)

// Options configure a Manager.
type Options struct {
	Kind             string
	CookieName       string
	CookieSecure     bool
	IdleTimeout      time.Duration
	Lifetime         time.Duration
	RememberLifetime time.Duration
	// TouchInterval is the least time between two expiry extensions of a
	// session that requests do not change.
	TouchInterval time.Duration
	// RedisPrefix starts the session keys in Redis.
	RedisPrefix string
	// Replica is recorded as the replica that last served a session.
	Replica string
	// Codec encodes session data (nil: CompactCodec, which also reads
	// sessions that scs's gob codec wrote).
	Codec scs.Codec
	// Observer, when set, is told about every store operation.
	Observer Observer
	// Events, when set, is told when a session is created, renewed,
	// destroyed or revoked (metrics).
	Events func(Event)
}

// Event is a change in a session's life, for metrics.
type Event string

// The session events a Manager reports.
const (
	// EventCreated: a new session was stored for the first time.
	EventCreated Event = "created"
	// EventRenewed: a session got a new token (login, password change).
	EventRenewed Event = "renewed"
	// EventDestroyed: a session ended by logout.
	EventDestroyed Event = "destroyed"
	// EventRevoked: an account ended another of its sessions.
	EventRevoked Event = "revoked"
)

// Manager is the shop's session manager: scs plus typed accessors, the
// idle timeout with its touch interval, and the account's session list.
type Manager struct {
	*scs.SessionManager
	kind             string
	b                backend
	idle             time.Duration
	rememberLifetime time.Duration
	touchInterval    time.Duration
	replica          string
	events           func(Event)
}

// New returns a Manager on the store named by opts.Kind. Postgres needs db,
// Redis needs pool; the other may be nil.
func New(opts Options, db *pgxpool.Pool, pool *redis.Pool) (*Manager, error) {
	var b backend
	switch opts.Kind {
	case KindRedis:
		if pool == nil {
			return nil, fmt.Errorf("session store redis: no redis pool")
		}
		b = newRedisBackend(pool, opts.RedisPrefix)
	case KindPostgres:
		if db == nil {
			return nil, fmt.Errorf("session store postgres: no database pool")
		}
		b = &postgresBackend{db: db}
	case KindMemory:
		b = newMemoryBackend()
	default:
		return nil, fmt.Errorf("unknown session store %q", opts.Kind)
	}
	b = observed{b: b, obs: opts.Observer}
	sm := scs.New()
	sm.Store = &store{b: b}
	// The Manager applies the idle timeout (Commit, Save); scs's would mark
	// every loaded session modified and rewrite it on every request.
	sm.IdleTimeout = 0
	sm.Lifetime = opts.Lifetime
	sm.Codec = CompactCodec{}
	if opts.Codec != nil {
		sm.Codec = opts.Codec
	}
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
	return &Manager{
		SessionManager:   sm,
		kind:             opts.Kind,
		b:                b,
		idle:             opts.IdleTimeout,
		rememberLifetime: opts.RememberLifetime,
		touchInterval:    opts.TouchInterval,
		replica:          opts.Replica,
		events:           opts.Events,
	}, nil
}

func (m *Manager) event(e Event) {
	if m.events != nil {
		m.events(e)
	}
}

// Kind is the store kind: redis, postgres or memory.
func (m *Manager) Kind() string { return m.kind }

// Load reads the session whose cookie value is token ("" for none) and
// returns a context that carries it. ip and userAgent describe the request
// for the account's session list.
func (m *Manager) Load(ctx context.Context, token, ip, userAgent string) (context.Context, error) {
	return m.LoadRequest(ctx, token, Request{IP: ip, UserAgent: userAgent})
}

// Request describes the HTTP request a session is loaded for.
type Request struct {
	IP        string
	UserAgent string
	// HTTPS makes the session cookie Secure even when not configured so.
	HTTPS bool
}

// LoadRequest is Load with everything known about the request.
func (m *Manager) LoadRequest(ctx context.Context, token string, req Request) (context.Context, error) {
	r := &request{ip: req.IP, userAgent: req.UserAgent, https: req.HTTPS}
	ctx, err := m.SessionManager.Load(withRequest(ctx, r), token)
	if err != nil {
		return nil, err
	}
	r.userID = m.UserID(ctx)
	return ctx, nil
}

// expiryAt is when the session expires if unused after now: the idle
// timeout, bounded by the absolute deadline. A remembered login lives until
// its deadline however long the user is away.
func (m *Manager) expiryAt(ctx context.Context, now time.Time) time.Time {
	deadline := m.Deadline(ctx)
	if m.Remembered(ctx) || m.idle == 0 {
		return deadline
	}
	if e := now.Add(m.idle).UTC(); e.Before(deadline) {
		return e
	}
	return deadline
}

// info describes the session as of now, for the store and the index.
func (m *Manager) info(ctx context.Context, now time.Time) Info {
	r := requestFrom(ctx)
	return Info{
		UserID:    m.UserID(ctx),
		CreatedAt: time.Unix(m.GetInt64(ctx, keyCreated), 0).UTC(),
		LastSeen:  now,
		Expiry:    m.expiryAt(ctx, now),
		IP:        r.ip,
		UserAgent: r.userAgent,
		Replica:   m.replica,
	}
}

// Commit saves the session and returns its token and expiry.
func (m *Manager) Commit(ctx context.Context) (string, time.Time, error) {
	now := time.Now().UTC()
	if m.GetInt64(ctx, keyCreated) == 0 {
		m.Put(ctx, keyCreated, now.Unix())
	}
	r := requestFrom(ctx)
	// A session the request did not find in the store is new to it.
	created := r.id == ""
	r.commit = m.info(ctx, now)
	token, _, err := m.SessionManager.Commit(ctx)
	if err == nil && created {
		m.event(EventCreated)
	}
	return token, r.commit.Expiry, err
}

// RenewToken gives the session a new token (scs deletes the old one from
// the store at the next commit), so a token known before is worthless.
func (m *Manager) RenewToken(ctx context.Context) error {
	if err := m.SessionManager.RenewToken(ctx); err != nil {
		return err
	}
	m.event(EventRenewed)
	return nil
}

// Save ends a request: a changed session is committed and its cookie
// written, a destroyed one gets an expired cookie, and an unchanged one is
// touched (its expiry extended, without rewriting its data) when the touch
// interval has passed since it was last seen.
func (m *Manager) Save(ctx context.Context, w http.ResponseWriter) error {
	switch m.Status(ctx) {
	case scs.Modified:
		token, expiry, err := m.Commit(ctx)
		if err != nil {
			return err
		}
		m.writeCookie(ctx, w, token, expiry)
	case scs.Destroyed:
		m.writeCookie(ctx, w, "", time.Time{})
	default:
		r := requestFrom(ctx)
		now := time.Now().UTC()
		if r.id == "" || now.Sub(r.found.lastSeen) < m.touchInterval {
			return nil
		}
		in := m.info(ctx, now)
		in.ID = r.id
		if err := m.b.touch(ctx, r.id, in); err != nil {
			return err
		}
		r.found = stored{expiry: in.Expiry, lastSeen: now}
	}
	return nil
}

// writeCookie is scs's WriteSessionCookie, plus Secure whenever the
// request came over HTTPS (directly or through a proxy that says so), not
// only when configured.
func (m *Manager) writeCookie(ctx context.Context, w http.ResponseWriter, token string, expiry time.Time) {
	if !requestFrom(ctx).https || m.Cookie.Secure {
		m.WriteSessionCookie(ctx, w, token, expiry)
		return
	}
	rec := &headerOnly{h: http.Header{}}
	m.WriteSessionCookie(ctx, rec, token, expiry)
	for _, v := range rec.h.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", v+"; Secure")
	}
	for _, v := range rec.h.Values("Cache-Control") {
		w.Header().Add("Cache-Control", v)
	}
}

// headerOnly collects the headers scs writes.
type headerOnly struct{ h http.Header }

func (r *headerOnly) Header() http.Header         { return r.h }
func (r *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerOnly) WriteHeader(int)             {}

// Remembered reports whether the user asked to be remembered at login.
func (m *Manager) Remembered(ctx context.Context) bool { return m.GetBool(ctx, keyRemember) }

// Expiry returns when this session expires if unused from now on (idle) and
// at the latest (absolute), as stored after this request's Save. Both are
// zero for a request without a stored session.
func (m *Manager) Expiry(ctx context.Context) (idle, absolute time.Time) {
	r := requestFrom(ctx)
	if r.id == "" {
		return time.Time{}, time.Time{}
	}
	return r.found.expiry, m.Deadline(ctx)
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
	// From the account's point of view this is a new session.
	m.Put(ctx, keyCreated, time.Now().Unix())
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
	m.event(EventDestroyed)
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

// Email returns the signed-in account's email ("" for a guest). It is kept
// in the session so that pages need no database read to greet the user.
func (m *Manager) Email(ctx context.Context) string { return m.GetString(ctx, keyEmail) }

// Listed is one of an account's live sessions as its owner sees it.
type Listed struct {
	Info
	// Current marks the session of the request that asks.
	Current bool
}

// ErrSessionNotFound answers a revocation of a session the account does not
// have (or no longer has).
var ErrSessionNotFound = apperr.NotFound("session_not_found", "That session has already ended.")

// Sessions lists the signed-in account's live sessions, most recently seen
// first. It reads the account's index: one lookup, never a scan.
func (m *Manager) Sessions(ctx context.Context) ([]Listed, error) {
	uid := m.UserID(ctx)
	if uid == 0 {
		return nil, nil
	}
	infos, err := m.b.list(ctx, uid)
	if err != nil {
		return nil, err
	}
	cur := requestFrom(ctx).id
	out := make([]Listed, 0, len(infos))
	for _, in := range infos {
		out = append(out, Listed{Info: in, Current: in.ID == cur})
	}
	slices.SortFunc(out, func(a, b Listed) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	return out, nil
}

// Revoke ends one of the account's sessions. The session is deleted from
// the store, so every replica refuses its cookie on the very next request.
// Revoking the current session logs out.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	uid := m.UserID(ctx)
	list, err := m.Sessions(ctx)
	if err != nil {
		return err
	}
	for _, s := range list {
		if s.ID != id {
			continue
		}
		if s.Current {
			return m.Logout(ctx)
		}
		if err := m.b.delete(ctx, id, uid); err != nil {
			return err
		}
		m.event(EventRevoked)
		return nil
	}
	return ErrSessionNotFound
}

// RevokeOthers ends every session of the account but the current one and
// returns how many it ended.
func (m *Manager) RevokeOthers(ctx context.Context) (int, error) {
	uid := m.UserID(ctx)
	list, err := m.Sessions(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list {
		if s.Current {
			continue
		}
		if err := m.b.delete(ctx, s.ID, uid); err != nil {
			return n, err
		}
		m.event(EventRevoked)
		n++
	}
	return n, nil
}
