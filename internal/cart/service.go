package cart

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/catalog"
)

// Products is what the cart needs of the catalog.
type Products interface {
	Get(ctx context.Context, id int64) (catalog.Product, error)
	GetMany(ctx context.Context, ids []int64) (map[int64]catalog.Product, error)
}

// Service validates cart changes and joins lines with their products.
type Service struct {
	store    Store
	products Products
}

// NewService returns a Service over store and products.
func NewService(store Store, products Products) *Service {
	return &Service{store: store, products: products}
}

// ErrUnknownProduct is the answer to adding a product id that does not exist.
var ErrUnknownProduct = apperr.Invalid("unknown_product", "That product does not exist.",
	map[string]string{"product_id": "Choose a product from the catalog."})

// ParseProductID parses a product id from a form or path.
func ParseProductID(s string) (int64, error) {
	id, err := parseID(s)
	if err != nil {
		return 0, ErrUnknownProduct
	}
	return id, nil
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("bad id %q", s)
	}
	return id, nil
}

// ParseQuantity parses a quantity from a form: empty means def; otherwise a
// whole number from min (1, or 0 where 0 removes the line) to MaxQuantity.
func ParseQuantity(s string, def, min int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	q, err := strconv.Atoi(s)
	if err != nil || q < min || q > MaxQuantity {
		return 0, apperr.Invalid("invalid_quantity",
			fmt.Sprintf("Quantity must be a whole number from %d to %d.", min, MaxQuantity),
			map[string]string{"quantity": fmt.Sprintf("Enter a number from %d to %d.", min, MaxQuantity)})
	}
	return q, nil
}

// Add adds qty units of productID to the cart and returns the product and
// the line's new quantity.
func (s *Service) Add(ctx context.Context, key Key, productID int64, qty int) (catalog.Product, int, error) {
	p, n, _, err := s.AddOnce(ctx, key, productID, qty, "")
	return p, n, err
}

// AddOnce is Add with an idempotency key from the client: a request retried
// (by nginx after a replica died, or by a double submit) is applied once.
// An empty key applies every time. applied is false for a repeat.
func (s *Service) AddOnce(ctx context.Context, key Key, productID int64, qty int, idem string) (p catalog.Product, n int, applied bool, err error) {
	if err := ValidateIdempotencyKey(idem); err != nil {
		return catalog.Product{}, 0, false, err
	}
	p, err = s.product(ctx, productID)
	if err != nil {
		return catalog.Product{}, 0, false, err
	}
	if !p.InStock() {
		return p, 0, false, soldOut(p)
	}
	// The line is capped at the stock of the moment by the store's atomic
	// add. The stock can still fall before the checkout: the checkout
	// transaction, which locks the products, settles that race.
	n, applied, err = s.store.AddUpTo(ctx, key, productID, qty, Limit(p), idem)
	return p, n, applied, err
}

// Limit is the most units of p that one cart line may hold: what is in
// stock, and never more than MaxQuantity.
func Limit(p catalog.Product) int { return max(0, min(p.Stock, MaxQuantity)) }

// StockNotice says, when a line of n units of p holds everything in stock
// (an add or an update was capped there, or took the last ones), how many
// are left; otherwise it returns "".
func StockNotice(p catalog.Product, n int) string {
	if p.Stock >= MaxQuantity || n < p.Stock {
		return ""
	}
	return fmt.Sprintf("Only %d left of %s: your cart holds all %d.", p.Stock, p.Name, p.Stock)
}

// soldOut is the answer to putting a sold-out product in the cart.
func soldOut(p catalog.Product) error {
	return apperr.Invalid("out_of_stock", p.Name+" is out of stock.",
		map[string]string{"quantity": "None left: " + p.Name + " is sold out."})
}

// ValidateIdempotencyKey accepts "" (no key) or 8 to 64 letters, digits,
// '-' and '_', which covers UUIDs and the keys the shop's forms carry.
func ValidateIdempotencyKey(idem string) error {
	if idem == "" {
		return nil
	}
	ok := len(idem) >= 8 && len(idem) <= 64
	for _, r := range idem {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			ok = false
		}
	}
	if !ok {
		return apperr.Invalid("invalid_idempotency_key",
			"The idempotency key must be 8 to 64 letters, digits, '-' or '_'.", nil)
	}
	return nil
}

// Set sets the quantity of a line (0 removes it), capped at what is in
// stock, and returns the product and the quantity set. A sold-out product
// can only be removed.
func (s *Service) Set(ctx context.Context, key Key, productID int64, qty int) (catalog.Product, int, error) {
	p, err := s.product(ctx, productID)
	if err != nil {
		return catalog.Product{}, 0, err
	}
	if qty > 0 && !p.InStock() {
		return p, 0, soldOut(p)
	}
	qty = min(qty, Limit(p))
	return p, qty, s.store.Set(ctx, key, productID, qty)
}

// Remove deletes a line.
func (s *Service) Remove(ctx context.Context, key Key, productID int64) error {
	return s.store.Remove(ctx, key, productID)
}

// Merge moves a guest cart into an account's cart.
func (s *Service) Merge(ctx context.Context, from, to Key) error {
	return s.store.Merge(ctx, from, to)
}

// Clear deletes the whole cart (an account being deleted).
func (s *Service) Clear(ctx context.Context, key Key) error { return s.store.Clear(ctx, key) }

// Count returns the number of units in a cart, for the header badge, without
// loading products.
func (s *Service) Count(ctx context.Context, key Key) (int, error) {
	lines, err := s.store.Lines(ctx, key)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range lines {
		n += l.Quantity
	}
	return n, nil
}

// View loads a cart with its products and totals, in catalog order. Lines
// whose product has been removed from the catalog are left out.
func (s *Service) View(ctx context.Context, key Key) (View, error) {
	lines, gen, err := s.store.Snapshot(ctx, key)
	if err != nil {
		return View{}, err
	}
	v := View{Items: []Item{}, Generation: gen}
	if len(lines) == 0 {
		return v, nil
	}
	v.Items = make([]Item, 0, len(lines))
	ids := make([]int64, len(lines))
	for i, l := range lines {
		ids[i] = l.ProductID
	}
	products, err := s.products.GetMany(ctx, ids)
	if err != nil {
		return View{}, err
	}
	slices.SortFunc(lines, func(a, b Line) int { return cmp.Compare(a.ProductID, b.ProductID) })
	for _, l := range lines {
		p, ok := products[l.ProductID]
		if !ok {
			continue
		}
		item := Item{
			ProductID:      p.ID,
			SKU:            p.SKU,
			Name:           p.Name,
			Image:          p.Image,
			Quantity:       l.Quantity,
			UnitPriceCents: p.PriceCents,
			LineTotalCents: p.PriceCents * int64(l.Quantity),
			Stock:          p.Stock,
		}
		v.Items = append(v.Items, item)
		v.Count += item.Quantity
		v.TotalCents += item.LineTotalCents
	}
	return v, nil
}

// Snapshot returns the cart's lines and generation (see Store.Snapshot).
func (s *Service) Snapshot(ctx context.Context, key Key) ([]Line, int64, error) {
	return s.store.Snapshot(ctx, key)
}

// CompleteCheckout empties what an order took from the cart (see
// Store.CompleteCheckout).
func (s *Service) CompleteCheckout(ctx context.Context, key Key, gen int64, ordered []Line) error {
	return s.store.CompleteCheckout(ctx, key, gen, ordered)
}

func (s *Service) product(ctx context.Context, id int64) (catalog.Product, error) {
	p, err := s.products.Get(ctx, id)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return catalog.Product{}, ErrUnknownProduct
	}
	return p, err
}
