package catalog

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/the-shop/shop/internal/platform/postgres"
	"golang.org/x/sync/singleflight"
)

// Cache serves the catalog from memory: every cart view, add to cart,
// catalog and product page reads products, and reading them from
// PostgreSQL was the largest single cost of a cart view (issue 12: about a
// sixth of a replica's CPU). Each replica keeps a snapshot of the whole
// products table (a shop's catalog is small next to its traffic), and
// PostgreSQL tells every replica at once when the table changes
// (LISTEN/NOTIFY, see Listen and migrations/00011_products_changed.sql):
// the snapshot is dropped and the next read loads a new one. A snapshot
// also expires after a TTL, which bounds staleness in the cases no
// notification covers (a change with triggers disabled, a restore).
//
// The cache only ever shows a price or a stock level: checkout locks the
// product rows and reads price and stock inside its transaction
// (LockForOrder), so a stale snapshot can never sell at a wrong price or
// sell stock that is gone.
//
// While no notification connection is up nothing is cached and every read
// goes to the database, as Store's do.
type Cache struct {
	store  *Store
	ttl    time.Duration
	logger *slog.Logger

	mu   sync.RWMutex
	snap *snapshot // nil: none (never loaded, or forgotten)
	// forgets counts forget calls (under mu): a load that saw one happen
	// while it queried does not keep what it read, which may be older
	// than the change that caused the forget.
	forgets uint64
	// listening is true while the notification connection is up; only
	// then may a snapshot be kept.
	listening atomic.Bool
	loads     singleflight.Group
	// reads counts database reads, for tests.
	reads atomic.Int64
}

// snapshot is the products table at one moment. It is never changed once
// made: readers share it without a lock.
type snapshot struct {
	list  []Product // catalog order (by id)
	byID  map[int64]Product
	until time.Time
}

// productsChannel is the channel the products table's triggers notify
// (migrations/00012_products_changed.sql).
const productsChannel = "products_changed"

// loadTimeout bounds a load of the table, which the requests that join it
// wait for whatever their own deadlines.
const loadTimeout = 10 * time.Second

// DefaultCacheTTL bounds how long a snapshot is trusted without a
// notification.
const DefaultCacheTTL = 5 * time.Minute

// NewCache returns an empty cache over db. Call Listen to fill it; until
// then every read goes to the database.
func NewCache(db *pgxpool.Pool, ttl time.Duration, logger *slog.Logger) *Cache {
	return &Cache{store: NewStore(db), ttl: ttl, logger: logger}
}

// Search finds products by words, in the database (full-text search is
// no hot path, and its index lives there). No words is the whole catalog,
// from memory: the catalog page is a hot path.
func (c *Cache) Search(ctx context.Context, query string) ([]Product, error) {
	if strings.TrimSpace(query) == "" {
		return c.List(ctx)
	}
	return c.store.Search(ctx, query)
}

// Reads is the number of times the cache read the products from the
// database.
func (c *Cache) Reads() int64 { return c.reads.Load() }

// Listening reports whether the notification connection is up (and so
// whether reads may be served from memory).
func (c *Cache) Listening() bool { return c.listening.Load() }

// List returns every product, in catalog order. The slice is the caller's.
func (c *Cache) List(ctx context.Context) ([]Product, error) {
	s, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.list), nil
}

// Get returns one product, or ErrNotFound. An answer that would turn the
// visitor away (no such product, or out of stock) is checked against the
// database first: the cache may only err towards a database read, never
// towards refusing a product that was added or restocked a moment ago on
// another connection, before its notification arrived.
func (c *Cache) Get(ctx context.Context, id int64) (Product, error) {
	s, err := c.current(ctx)
	if err != nil {
		return Product{}, err
	}
	if p, ok := s.byID[id]; ok && p.InStock() {
		return p, nil
	}
	c.reads.Add(1)
	p, err := c.store.Get(ctx, id)
	if err != nil {
		return Product{}, err
	}
	if p != s.byID[id] {
		c.Forget() // the snapshot is behind: its notification is on its way
	}
	return p, nil
}

// GetMany returns the products with the given ids, keyed by id. Ids that do
// not exist are absent from the map. Ids the snapshot lacks are read from
// the database (a product added a moment ago; a deleted product whose line
// is still in a cart costs that read until checkout drops the line).
func (c *Cache) GetMany(ctx context.Context, ids []int64) (map[int64]Product, error) {
	out := make(map[int64]Product, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	s, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	var missing []int64
	for _, id := range ids {
		if p, ok := s.byID[id]; ok {
			out[id] = p
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	c.reads.Add(1)
	more, err := c.store.GetMany(ctx, missing)
	if err != nil {
		return nil, err
	}
	if len(more) > 0 {
		c.Forget()
	}
	for id, p := range more {
		out[id] = p
	}
	return out, nil
}

// current returns the snapshot to read from: the cached one while it is
// valid, or a new one from the database.
func (c *Cache) current(ctx context.Context) (*snapshot, error) {
	c.mu.RLock()
	s, gen := c.snap, c.forgets
	c.mu.RUnlock()
	if s != nil && time.Now().Before(s.until) {
		return s, nil
	}
	// One load at a time per generation: a notification lets every
	// request in flight miss at once, and they should not all read the
	// table. A request that arrives after a forget starts a load of its
	// own (a new key) instead of joining one that may predate the change.
	// The load outlives the request that started it (others may be
	// waiting for it), within a bound of its own.
	v, err, _ := c.loads.Do(strconv.FormatUint(gen, 10), func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return c.load(lctx, gen)
	})
	if err != nil {
		return nil, err
	}
	return v.(*snapshot), nil
}

// load reads the whole table and keeps it while notifications are being
// received and nothing was forgotten since gen.
func (c *Cache) load(ctx context.Context, gen uint64) (*snapshot, error) {
	c.reads.Add(1)
	list, err := c.store.List(ctx)
	if err != nil {
		return nil, err
	}
	s := &snapshot{list: list, byID: make(map[int64]Product, len(list)), until: time.Now().Add(c.ttl)}
	for _, p := range list {
		s.byID[p.ID] = p
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if c.listening.Load() && c.forgets == gen {
			c.snap = s
		}
		c.mu.Unlock()
	}
	return s, nil
}

// Forget drops the snapshot, for the replica that changed a product (the
// notification reaches it too, a moment later).
func (c *Cache) Forget() {
	c.mu.Lock()
	c.snap = nil
	c.forgets++
	c.mu.Unlock()
}

// Listen receives the products table's notifications until ctx ends, and
// reconnects after a failure (with the cache emptied and off meanwhile).
// Run it in a goroutine of its own.
func (c *Cache) Listen(ctx context.Context) {
	postgres.Listen(ctx, c.store.db, productsChannel, postgres.Listener{
		Up: func() {
			// Anything loaded before this LISTEN may have missed a
			// notification.
			c.Forget()
			c.listening.Store(true)
		},
		Notify: func(string) { c.Forget() },
		Down: func(err error, retry time.Duration) {
			c.listening.Store(false)
			c.Forget()
			if c.logger != nil && retry > 0 {
				c.logger.Warn("product change notifications lost; reading products from the database until they are back",
					"err", err, "retry_in", retry)
			}
		},
	})
}
