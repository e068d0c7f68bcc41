// Package session configures the shop's scs session manager on the chosen
// store (Redis, PostgreSQL or process memory) and gives handlers one explicit
// value per request, Session, with a small typed API over what the shop keeps
// in a session and one way to save it.
//
// scs's own idle timeout rewrites the whole session on every request. Here
// the Manager applies the idle timeout itself: a request that changes the
// session commits it; a request that changes nothing extends the expiry at
// most once per touch interval, with the cheapest write the store has.
package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/config"
)

// Keys of the values the shop keeps in a session.
const (
	keyUserID   = "user_id"
	keyAccount  = "account" // the account's public id
	keyEpoch    = "epoch"   // the account's session epoch at issue
	keyEmail    = "email"
	keyCartID   = "cart_id"
	keyFlash    = "flash"
	keyCreated  = "created"      // Unix seconds: gob needs no type registration for it
	keyRemember = "__rememberMe" // scs's own key for RememberMe
)

// Options configure a Manager.
type Options struct {
	// Kind names the store, for /session and the page footer.
	Kind             config.Kind
	CookieName       string
	CookieSecure     bool
	IdleTimeout      time.Duration
	Lifetime         time.Duration
	RememberLifetime time.Duration
	// TouchInterval is the least time between two expiry extensions of a
	// session that requests do not change.
	TouchInterval time.Duration
	// Replica is recorded as the replica that last served a session.
	Replica string
	// Codec encodes session data (nil: CompactCodec, which also reads
	// sessions that scs's gob codec wrote).
	Codec scs.Codec
	// Sealer, when set, encrypts session data at rest, bound to its id.
	Sealer *Sealer
	// Observer, when set, is told about every store operation.
	Observer Observer
	// Events, when set, is told when a session is created, renewed,
	// destroyed or revoked (metrics).
	Events func(Event)
	// Secret signs the tokens this shop mints for visitors without a
	// session, and the CSRF tokens; every replica behind one balancer
	// needs the same (nil: a random one of this process).
	Secret []byte
	// Accounts, when set, is asked on every load of a signed-in session
	// whether the account it names is still what it was when the session
	// was issued (its public id and session epoch).
	Accounts AccountCheck
}

// AccountCheck reports whether an identity a session carries is still the
// account's current one. account.Identities is one.
type AccountCheck interface {
	Current(ctx context.Context, id account.Identity) (bool, error)
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

// Backend is where sessions are kept: Redis, PostgreSQL or this process's
// memory. Only this package makes one; the composition root picks which.
type Backend struct{ b backend }

// RedisBackend keeps sessions in Redis under keys that start with prefix.
func RedisBackend(pool *redis.Pool, prefix string) Backend {
	return Backend{b: newRedisBackend(pool, prefix)}
}

// PostgresBackend keeps sessions in the sessions table.
func PostgresBackend(db *pgxpool.Pool) Backend { return Backend{b: &postgresBackend{db: db}} }

// MemoryBackend keeps sessions in this process: one replica only.
func MemoryBackend() Backend { return Backend{b: newMemoryBackend()} }

// Manager is the shop's session manager: scs underneath, the idle timeout
// with its touch interval, and the account's session list. It loads one
// Session per request.
type Manager struct {
	scs              *scs.SessionManager
	kind             config.Kind
	b                backend
	idle             time.Duration
	rememberLifetime time.Duration
	touchInterval    time.Duration
	replica          string
	events           func(Event)
	secret           []byte
	accounts         AccountCheck
}

// New returns a Manager that keeps sessions in b.
func New(opts Options, b Backend) (*Manager, error) {
	if b.b == nil {
		return nil, errors.New("session: no backend")
	}
	secret := opts.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("session: make a secret: %w", err)
		}
	}
	ob := observed{b: b.b, obs: opts.Observer}
	sm := scs.New()
	// The Manager applies the idle timeout (Session.Save); scs's would mark
	// every loaded session modified and rewrite it on every request.
	sm.IdleTimeout = 0
	sm.Lifetime = opts.Lifetime
	sm.Codec = CompactCodec{}
	if opts.Codec != nil {
		sm.Codec = opts.Codec
	}
	sm.Store = &store{b: ob, sealer: opts.Sealer, empty: func() ([]byte, error) {
		return sm.Codec.Encode(time.Now().Add(sm.Lifetime).UTC(), map[string]any{})
	}}
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
		scs:              sm,
		kind:             opts.Kind,
		b:                ob,
		idle:             opts.IdleTimeout,
		rememberLifetime: opts.RememberLifetime,
		touchInterval:    opts.TouchInterval,
		replica:          opts.Replica,
		events:           opts.Events,
		secret:           secret,
		accounts:         opts.Accounts,
	}, nil
}

func (m *Manager) event(e Event) {
	if m.events != nil {
		m.events(e)
	}
}

// Kind is the store kind: redis, postgres or memory.
func (m *Manager) Kind() config.Kind { return m.kind }

// CookieName is the name of the session cookie: with the __Host- prefix
// on a request that came over HTTPS (see Session.writeCookie).
func (m *Manager) CookieName(https bool) string {
	if https {
		return "__Host-" + m.scs.Cookie.Name
	}
	return m.scs.Cookie.Name
}

// Request describes the HTTP request a session is loaded for.
type Request struct {
	IP        string
	UserAgent string
	// HTTPS makes the session cookie Secure even when not configured so.
	HTTPS bool
}

// Load reads the session whose cookie value is token ("" for none) for one
// request. The Session it returns is that request's alone.
//
// A request without a stored session gets a pending one: a token minted
// here, signed with the secret, that is stored only when something is
// written to it, and that its cookie carries from the first response on.
// The concurrent first requests of a new visitor then share one session
// (and one guest cart) instead of each starting its own.
//
// A signed-in session whose account has moved on (a password change, "sign
// out everywhere", a recreated database) is ended here and the request
// goes on as a guest's; Ended says so.
func (m *Manager) Load(ctx context.Context, token string, req Request) (*Session, error) {
	r := &request{ip: req.IP, userAgent: req.UserAgent, https: req.HTTPS, cookie: token}
	r.pending = token != "" && m.pendingToken(token)
	s, err := m.load(ctx, r, token)
	if err != nil {
		return nil, err
	}
	if s.r.id == "" {
		// Nothing stored and no pending token: this request mints one.
		fresh, err := m.loadMinted(ctx, req)
		if err == nil {
			fresh.r.announce, fresh.r.cookie = token == "", token
		}
		return fresh, err
	}
	if s.UserID() == 0 || m.accounts == nil {
		return s, nil
	}
	ok, err := m.accounts.Current(ctx, s.Account())
	if err != nil {
		return nil, fmt.Errorf("check the session's account: %w", err)
	}
	if ok {
		return s, nil
	}
	// A copy of an old session (a stale write, a restored backup) or one
	// of an account that is no more: it must not come back, ever.
	if err := m.b.delete(ctx, s.r.id, s.r.owner); err != nil {
		return nil, err
	}
	m.event(EventRevoked)
	fresh, err := m.loadMinted(ctx, req)
	if err != nil {
		return nil, err
	}
	fresh.endedAtLoad, fresh.r.cookie = true, token
	return fresh, nil
}

// loadMinted starts a pending session under a token minted now.
func (m *Manager) loadMinted(ctx context.Context, req Request) (*Session, error) {
	r := &request{ip: req.IP, userAgent: req.UserAgent, https: req.HTTPS, pending: true, minted: true}
	token, err := m.mint()
	if err != nil {
		return nil, err
	}
	return m.load(ctx, r, token)
}

func (m *Manager) load(ctx context.Context, r *request, token string) (*Session, error) {
	base := withRequest(ctx, r)
	data, err := m.scs.Load(base, token)
	if err != nil {
		return nil, err
	}
	s := &Session{m: m, base: base, data: data, r: r}
	r.owner = owner{userID: s.UserID(), account: s.Account().PublicID}
	return s, nil
}

// mint makes a pending token: 16 random bytes and the first 16 bytes of
// their HMAC, base64url as scs's own tokens (43 characters). Only this
// shop can make one, so a client cannot choose the id of its session.
func (m *Manager) mint() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b[:16]); err != nil {
		return "", fmt.Errorf("mint a session token: %w", err)
	}
	copy(b[16:], m.mac("pending-session", b[:16])[:16])
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// pendingToken reports whether token is one that mint made.
func (m *Manager) pendingToken(token string) bool {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 32 {
		return false
	}
	return hmac.Equal(b[16:], m.mac("pending-session", b[:16])[:16])
}

// mac is the HMAC-SHA256 of msg under the secret, for one purpose.
func (m *Manager) mac(purpose string, msg []byte) []byte {
	h := hmac.New(sha256.New, m.secret)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(msg)
	return h.Sum(nil)
}

// expiryAt is when the session expires if unused after now: the idle
// timeout, bounded by the absolute deadline. A remembered login lives until
// its deadline however long the user is away.
func (m *Manager) expiryAt(s *Session, now time.Time) time.Time {
	deadline := m.scs.Deadline(s.data)
	if s.Remembered() || m.idle == 0 {
		return deadline
	}
	if e := now.Add(m.idle).UTC(); e.Before(deadline) {
		return e
	}
	return deadline
}

// info describes the session as of now, for the store and the index.
func (m *Manager) info(s *Session, now time.Time) Info {
	return Info{
		UserID:    s.UserID(),
		Account:   s.Account().PublicID,
		CreatedAt: time.Unix(m.scs.GetInt64(s.data, keyCreated), 0).UTC(),
		LastSeen:  now,
		Expiry:    m.expiryAt(s, now),
		IP:        s.r.ip,
		UserAgent: s.r.userAgent,
		Replica:   m.replica,
	}
}

// Flash is a one-time message for the next page.
type Flash struct {
	// Kind is "success", "error" or "info".
	Kind    string
	Message string
}

// Listed is one of an account's live sessions as its owner sees it.
type Listed struct {
	Info
	// Current marks the session of the request that asks.
	Current bool
}

// ErrSessionNotFound answers a revocation of a session the account does not
// have (or no longer has).
var ErrSessionNotFound = apperr.NotFound("session_not_found", "That session has already ended.")
