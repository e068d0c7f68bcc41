package cart

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
)

// Key names one cart in the store: a guest cart ("g:<random id>", the id
// kept in the session) or an account's cart ("u:<user id>"), which the
// browser and the API share.
type Key string

// GuestKey is the key of the guest cart with the given id.
func GuestKey(id string) Key { return Key("g:" + id) }

// UserKey is the key of an account's cart.
func UserKey(userID int64) Key { return Key("u:" + strconv.FormatInt(userID, 10)) }

// NewGuestID returns a random id for a new guest cart.
func NewGuestID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate cart id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

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
	// Set sets a line's quantity; 0 removes the line.
	Set(ctx context.Context, key Key, productID int64, qty int) error
	// Remove deletes a line; a missing line is not an error.
	Remove(ctx context.Context, key Key, productID int64) error
	// Merge adds every line of from into to (capped at MaxQuantity) and
	// deletes from, atomically.
	Merge(ctx context.Context, from, to Key) error
	// Clear deletes the whole cart.
	Clear(ctx context.Context, key Key) error
}
