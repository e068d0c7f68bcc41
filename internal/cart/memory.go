package cart

import (
	"context"
	"sync"
	"time"
)

// MemoryStore keeps carts in this process's memory. It exists for the
// workshop: with more than one replica each one has its own carts, which is
// exactly the pitfall the workshop shows.
type MemoryStore struct {
	mu       sync.Mutex
	ttl      time.Duration
	guestTTL time.Duration
	carts    map[Key]*memCart
	seen     map[string]memIdem // idempotency key → what it was used for
	swept    time.Time          // when seen was last cleared of expired keys
	now      func() time.Time
	seed     int64 // the last generation seed handed out
}

type memCart struct {
	lines   map[int64]int
	expires time.Time
	// gen is the checkout generation, started from the clock so that a cart
	// made again after it expired (or after a restart) never reuses one.
	gen int64
}

// memIdem is a recorded idempotency key: the request's fingerprint and
// when the key is forgotten.
type memIdem struct {
	fp      string
	expires time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store whose carts expire ttl after their
// last change.
func NewMemoryStore(ttl time.Duration) *MemoryStore {
	return &MemoryStore{ttl: ttl, guestTTL: ttl, carts: map[Key]*memCart{}, seen: map[string]memIdem{}, now: time.Now}
}

// WithGuestTTL makes guest carts expire d after their last change instead
// of ttl (see RedisStore.WithGuestTTL), and returns s.
func (s *MemoryStore) WithGuestTTL(d time.Duration) *MemoryStore {
	s.guestTTL = d
	return s
}

// ttlOf is the lifetime of the cart under key.
func (s *MemoryStore) ttlOf(key Key) time.Duration {
	if key.IsGuest() {
		return s.guestTTL
	}
	return s.ttl
}

// cart returns the live cart for key, creating it when create is set.
// The caller holds mu.
func (s *MemoryStore) cart(key Key, create bool) *memCart {
	c := s.carts[key]
	if c != nil && s.now().After(c.expires) {
		delete(s.carts, key)
		c = nil
	}
	if c == nil && create {
		c = &memCart{lines: map[int64]int{}, gen: s.nextSeed()}
		s.carts[key] = c
	}
	if c != nil && create {
		c.expires = s.now().Add(s.ttlOf(key))
	}
	return c
}

// nextSeed returns the first generation of a new cart: the clock's
// milliseconds, and never a value handed out before by this store, even if
// two carts start in the same millisecond or the clock steps back.
// The caller holds mu.
func (s *MemoryStore) nextSeed() int64 {
	s.seed = max(s.seed+1, s.now().UnixMilli())
	return s.seed
}

// Lines implements Store.
func (s *MemoryStore) Lines(_ context.Context, key Key) ([]Line, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []Line
	if c := s.cart(key, false); c != nil {
		for id, q := range c.lines {
			lines = append(lines, Line{ProductID: id, Quantity: q})
		}
	}
	return lines, nil
}

// Add implements Store.
func (s *MemoryStore) Add(ctx context.Context, key Key, productID int64, qty int) (int, error) {
	n, _, err := s.AddUpTo(ctx, key, productID, qty, MaxQuantity, "")
	return n, err
}

// AddOnce implements Store.
func (s *MemoryStore) AddOnce(ctx context.Context, key Key, productID int64, qty int, idem string) (int, bool, error) {
	return s.AddUpTo(ctx, key, productID, qty, MaxQuantity, idem)
}

// AddUpTo implements Store.
func (s *MemoryStore) AddUpTo(_ context.Context, key Key, productID int64, qty, limit int, idem string) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit = min(limit, MaxQuantity)
	if idem == "" {
		c := s.cart(key, true)
		c.lines[productID] = min(c.lines[productID]+qty, limit)
		return c.lines[productID], true, nil
	}
	now := s.now()
	// Clearing expired keys walks them all: once a minute, not on every
	// add (which made a busy store's adds slow down as keys piled up).
	if now.Sub(s.swept) >= time.Minute {
		for k, rec := range s.seen {
			if now.After(rec.expires) {
				delete(s.seen, k)
			}
		}
		s.swept = now
	}
	ik := idemKey(key, idem)
	fp := fingerprint(productID, qty)
	if rec, ok := s.seen[ik]; ok && !now.After(rec.expires) {
		if rec.fp != fp {
			return 0, false, ErrIdempotencyKeyReused
		}
		n := 0
		if c := s.cart(key, false); c != nil {
			n = c.lines[productID]
		}
		return n, false, nil
	}
	s.seen[ik] = memIdem{fp: fp, expires: now.Add(IdempotencyTTL)}
	c := s.cart(key, true)
	c.lines[productID] = min(c.lines[productID]+qty, limit)
	return c.lines[productID], true, nil
}

// Set implements Store.
func (s *MemoryStore) Set(_ context.Context, key Key, productID int64, qty int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cart(key, qty > 0)
	if c == nil {
		return nil
	}
	if qty == 0 {
		delete(c.lines, productID)
	} else {
		c.lines[productID] = qty
	}
	return nil
}

// Remove implements Store.
func (s *MemoryStore) Remove(ctx context.Context, key Key, productID int64) error {
	return s.Set(ctx, key, productID, 0)
}

// Merge implements Store.
func (s *MemoryStore) Merge(_ context.Context, from, to Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.cart(from, false)
	if src == nil || len(src.lines) == 0 {
		delete(s.carts, from)
		return nil
	}
	dst := s.cart(to, true)
	for id, q := range src.lines {
		dst.lines[id] = min(dst.lines[id]+q, MaxQuantity)
	}
	delete(s.carts, from)
	return nil
}

// Clear implements Store.
func (s *MemoryStore) Clear(_ context.Context, key Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.carts, key)
	return nil
}

// Snapshot implements Store.
func (s *MemoryStore) Snapshot(_ context.Context, key Key) ([]Line, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cart(key, false)
	if c == nil || len(c.lines) == 0 {
		return nil, 0, nil
	}
	lines := make([]Line, 0, len(c.lines))
	for id, q := range c.lines {
		lines = append(lines, Line{ProductID: id, Quantity: q})
	}
	return lines, c.gen, nil
}

// CompleteCheckout implements Store.
func (s *MemoryStore) CompleteCheckout(_ context.Context, key Key, gen int64, ordered []Line) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cart(key, false)
	if gen == 0 || c == nil || c.gen != gen {
		return nil
	}
	for _, l := range ordered {
		if n := c.lines[l.ProductID] - l.Quantity; n > 0 {
			c.lines[l.ProductID] = n
		} else {
			delete(c.lines, l.ProductID)
		}
	}
	c.gen++
	s.seed = max(s.seed, c.gen)
	c.expires = s.now().Add(s.ttlOf(key))
	return nil
}
