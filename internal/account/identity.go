package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/platform/postgres"
)

// Identity is what a session or an API token must still match for the
// account it names: the random public id (a recreated database reuses
// serial ids, never these) and the session epoch it was issued under.
type Identity struct {
	ID       int64
	PublicID string
	Epoch    int64
}

// Identities answers "is this identity still current?" for every signed-in
// request, without a database round trip on the hot path: each replica
// caches the accounts' current identities, and PostgreSQL tells every
// replica at once (LISTEN/NOTIFY, see Listen) when an account's epoch or
// public id changes or the account goes. Entries also expire after a TTL,
// which bounds staleness in the cases no notification covers.
//
// The cache can only err towards a database read, never towards accepting
// a stale identity: an identity that does not match what is cached is
// checked against the database before it is refused or accepted, and
// while no notification connection is up nothing is cached at all.
type Identities struct {
	db     *pgxpool.Pool
	ttl    time.Duration
	logger *slog.Logger

	mu      sync.RWMutex
	current map[int64]cached
	// listening is true while the notification connection is up; only
	// then may entries be cached.
	listening atomic.Bool
	// forgets counts Forget and forgetAll calls (under mu): a read that
	// saw one happen while it queried does not cache what it read, which
	// may be older than the change that caused the forget.
	forgets uint64
	// reads counts database reads, for tests and metrics.
	reads atomic.Int64
}

type cached struct {
	Identity
	until time.Time
}

// notifyChannel is the channel the users table's trigger notifies
// (migrations/00008_account_identity.sql); "*" means every account.
const notifyChannel = "account_changed"

// DefaultIdentityTTL bounds how long a cached identity is trusted without
// a notification.
const DefaultIdentityTTL = 30 * time.Second

// NewIdentities returns an empty cache over db. Call Listen to fill it;
// until then every check reads the database.
func NewIdentities(db *pgxpool.Pool, ttl time.Duration, logger *slog.Logger) *Identities {
	return &Identities{db: db, ttl: ttl, logger: logger, current: map[int64]cached{}}
}

// Reads is the number of database reads the checks have made.
func (ids *Identities) Reads() int64 { return ids.reads.Load() }

// Current reports whether id is still the account's current identity: the
// account exists, its public id is id.PublicID and its epoch is id.Epoch.
func (ids *Identities) Current(ctx context.Context, id Identity) (bool, error) {
	if id.ID == 0 || id.PublicID == "" {
		return false, nil
	}
	ids.mu.RLock()
	c, ok := ids.current[id.ID]
	ids.mu.RUnlock()
	if ok && time.Now().Before(c.until) && c.Identity == id {
		return true, nil
	}
	// Not cached, expired, or different: the database decides. A session
	// newer than the cache (its epoch moved on a moment ago on another
	// replica) is accepted once the database agrees.
	fresh, found, err := ids.read(ctx, id.ID)
	if err != nil {
		return false, err
	}
	return found && fresh == id, nil
}

// Forget drops an account from the cache, for the replica that changed it
// (the notification reaches it too, a moment later).
func (ids *Identities) Forget(id int64) {
	ids.mu.Lock()
	delete(ids.current, id)
	ids.forgets++
	ids.mu.Unlock()
}

func (ids *Identities) forgetAll() {
	ids.mu.Lock()
	clear(ids.current)
	ids.forgets++
	ids.mu.Unlock()
}

// read loads an account's identity and caches it while notifications are
// being received.
func (ids *Identities) read(ctx context.Context, id int64) (Identity, bool, error) {
	ids.reads.Add(1)
	ids.mu.RLock()
	before := ids.forgets
	ids.mu.RUnlock()
	cur := Identity{ID: id}
	err := ids.db.QueryRow(ctx, `SELECT public_id::text, session_epoch FROM users WHERE id = $1`, id).
		Scan(&cur.PublicID, &cur.Epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		ids.Forget(id)
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, postgres.Error(fmt.Sprintf("read identity of account %d", id), err, nil)
	}
	if ids.ttl > 0 {
		ids.mu.Lock()
		if ids.listening.Load() && ids.forgets == before {
			ids.current[id] = cached{Identity: cur, until: time.Now().Add(ids.ttl)}
		}
		ids.mu.Unlock()
	}
	return cur, true, nil
}

// Listen receives the users table's notifications until ctx ends, and
// reconnects after a failure (with the cache emptied and off meanwhile).
// Run it in a goroutine of its own.
func (ids *Identities) Listen(ctx context.Context) {
	postgres.Listen(ctx, ids.db, notifyChannel, postgres.Listener{
		Up: func() {
			// Anything cached before this LISTEN may have missed a
			// notification.
			ids.forgetAll()
			ids.listening.Store(true)
		},
		Notify: func(payload string) {
			if id, err := strconv.ParseInt(payload, 10, 64); err == nil {
				ids.Forget(id)
			} else { // "*": every account
				ids.forgetAll()
			}
		},
		Down: func(err error, retry time.Duration) {
			ids.listening.Store(false)
			ids.forgetAll()
			if ids.logger != nil && retry > 0 {
				ids.logger.Warn("account change notifications lost; checking every session against the database until they are back",
					"err", err, "retry_in", retry)
			}
		},
	})
}
