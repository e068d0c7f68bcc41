package cart

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/the-shop/shop/internal/apperr"
)

// Key names one cart in the store: a guest cart ("g:<id>", the id kept in
// the session) or an account's cart ("a:<public id>"), which the browser
// and the API share. An account's cart is keyed by the account's random
// public id, never by its serial id, which a recreated database hands out
// again while Redis may keep the old carts.
type Key string

// GuestKey is the key of the guest cart with the given id.
func GuestKey(id string) Key { return Key("g:" + id) }

// AccountKey is the key of the cart of the account with the public id.
func AccountKey(publicID string) Key { return Key("a:" + publicID) }

// IsGuest reports whether k is a guest cart's key.
func (k Key) IsGuest() bool { return strings.HasPrefix(string(k), "g:") }

// NewGuestID returns a random id for a new guest cart.
func NewGuestID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate cart id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// IdempotencyTTL is how long an applied request's key is remembered: far
// longer than any retry by nginx or a user's double submit takes.
const IdempotencyTTL = 24 * time.Hour

// idemKey scopes a client's idempotency key to one cart, so that keys from
// different users can never collide.
func idemKey(key Key, idem string) string { return string(key) + ":" + idem }

// fingerprint names what an idempotency key was first used for. The key is
// already scoped to the cart, so the product and the quantity complete the
// request: a retry carries the same ones, a different request does not.
func fingerprint(productID int64, qty int) string {
	return strconv.FormatInt(productID, 10) + "x" + strconv.Itoa(qty)
}

// ErrIdempotencyKeyReused is the answer to an add whose idempotency key was
// used before, on this cart, for another product or quantity: applying it
// would add the wrong thing, ignoring it would claim an add that did not
// happen.
var ErrIdempotencyKeyReused = apperr.Invalid("idempotency_key_reused",
	"This idempotency key was already used for a different request: send a new key for each new add.", nil)

// Line is one product and its quantity in a cart, as stored.
type Line struct {
	ProductID int64
	Quantity  int
}

// Store keeps cart lines. Every method is one atomic operation in the
// backing store, so concurrent requests for the same cart, on any replica,
// never lose or double an update.
type Store interface {
	// Lines returns the cart's lines in no particular order.
	Lines(ctx context.Context, key Key) ([]Line, error)
	// Add adds qty units of a product, capping the line at MaxQuantity, and
	// returns the line's new quantity.
	Add(ctx context.Context, key Key, productID int64, qty int) (int, error)
	// AddOnce is Add that applies at most once per idempotency key: the key
	// is recorded by the same atomic operation that changes the line, and
	// kept for IdempotencyTTL together with the fingerprint of the request
	// (product and quantity). applied is false when the key was seen
	// before for the same request; the returned quantity is then the
	// line's current one. A key seen before for another request changes
	// nothing and returns ErrIdempotencyKeyReused.
	AddOnce(ctx context.Context, key Key, productID int64, qty int, idem string) (n int, applied bool, err error)
	// AddUpTo is AddOnce (Add when idem is "") that caps the line at limit
	// instead of MaxQuantity: the service passes what is in stock, and the
	// cap is applied by the same atomic operation that adds, so two
	// concurrent adds never take a line past it. A line already above
	// limit (the stock fell since) is brought down to it.
	AddUpTo(ctx context.Context, key Key, productID int64, qty, limit int, idem string) (n int, applied bool, err error)
	// Set sets a line's quantity; 0 removes the line.
	Set(ctx context.Context, key Key, productID int64, qty int) error
	// Remove deletes a line; a missing line is not an error.
	Remove(ctx context.Context, key Key, productID int64) error
	// Merge adds every line of from into to (capped at MaxQuantity) and
	// deletes from, atomically.
	Merge(ctx context.Context, from, to Key) error
	// Clear deletes the whole cart.
	Clear(ctx context.Context, key Key) error

	// Snapshot returns the cart's lines and its generation, read together.
	// The generation names this version of the cart for checkout: it stays
	// the same while lines change and moves on only when a checkout
	// completes, so two submits of one cart see the same generation. A cart
	// that does not exist has no lines and generation 0. A new generation
	// counter starts at the clock's milliseconds, so a cart that expired or
	// was cleared never reuses a generation an order was written for.
	Snapshot(ctx context.Context, key Key) (lines []Line, gen int64, err error)
	// CompleteCheckout finishes the checkout of generation gen, atomically
	// and only if the cart is still at gen: it subtracts each ordered
	// quantity from its line (deleting lines that reach zero, so that items
	// added after the snapshot survive) and moves the cart to the next
	// generation. When the cart has moved on already (the checkout was
	// completed by another attempt) it changes nothing and is not an error.
	CompleteCheckout(ctx context.Context, key Key, gen int64, ordered []Line) error
}
