// Package order turns carts into orders: one PostgreSQL transaction checks
// and takes the stock, writes the order with the prices of the moment, and
// the cart store then lets go of what was ordered. Checkout is idempotent per
// version of a cart, so a double submit or a retry through another replica
// writes one order.
package order

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/platform/postgres"
)

// Line is one product of an order, with the name, SKU and price it had when
// the order was placed.
type Line struct {
	ProductID      int64  `json:"product_id,string"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
	// Image is the product's picture when it was ordered (a path inside
	// static/).
	Image string `json:"-"`
}

// Order is a placed order as pages and JSON show it.
type Order struct {
	ID        int64     `json:"id,string"`
	CreatedAt time.Time `json:"created_at"`
	Items     []Line    `json:"items"`
	Count     int       `json:"count"`
	// TotalCents is what the items cost; GrandTotalCents adds shipping and
	// tax.
	TotalCents      int64 `json:"total_cents"`
	ShippingCents   int64 `json:"shipping_cents"`
	TaxCents        int64 `json:"tax_cents"`
	GrandTotalCents int64 `json:"grand_total_cents"`
	// Status is placed, paid or shipped; PaidAt and ShippedAt say when it
	// got there.
	Status         string     `json:"status"`
	PaidAt         *time.Time `json:"paid_at,omitempty"`
	ShippedAt      *time.Time `json:"shipped_at,omitempty"`
	PaymentMethod  string     `json:"payment_method"`
	ShippingOption string     `json:"shipping_option"`
	// ShipTo is the address the order ships to; nil for an order placed
	// without one (by a JSON client, or before addresses existed).
	ShipTo *Address `json:"ship_to,omitempty"`

	UserID int64 `json:"-"`
	// CartKey and CartGeneration name the version of the cart the order
	// was made from: there is at most one order for each.
	CartKey        cart.Key `json:"-"`
	CartGeneration int64    `json:"-"`
}

// Summary is one order in the account's list.
type Summary struct {
	ID              int64     `json:"id,string"`
	CreatedAt       time.Time `json:"created_at"`
	Count           int       `json:"count"`
	TotalCents      int64     `json:"total_cents"`
	GrandTotalCents int64     `json:"grand_total_cents"`
	Status          string    `json:"status"`
}

// ListLimit is how many of the newest orders List returns.
const ListLimit = 100

// Errors of this package.
var (
	ErrNotFound  = apperr.NotFound("order_not_found", "We could not find that order.")
	ErrCartEmpty = apperr.Invalid("cart_empty", "Your cart is empty. Add something to it before checking out.", nil)
)

// Carts is what checkout needs of the cart store: cart.Service and every
// cart.Store have it.
type Carts interface {
	Snapshot(ctx context.Context, key cart.Key) ([]cart.Line, int64, error)
	CompleteCheckout(ctx context.Context, key cart.Key, gen int64, ordered []cart.Line) error
}

// Service places and loads orders.
type Service struct {
	db    *pgxpool.Pool
	carts Carts
	rules Rules
}

// NewService returns a Service on db that takes the lines from carts and
// prices shipping and tax with DefaultRules.
func NewService(db *pgxpool.Pool, carts Carts) *Service {
	return &Service{db: db, carts: carts, rules: DefaultRules()}
}

// WithRules makes s price shipping and tax with r, and returns s.
func (s *Service) WithRules(r Rules) *Service {
	s.rules = r
	return s
}

// Rules returns the shipping and tax rules s prices with.
func (s *Service) Rules() Rules { return s.rules }

// Result is the outcome of a checkout.
type Result struct {
	Order Order
	// Repeat is set when the order had been placed by an earlier submit
	// of the same cart (another tab, a double click, a retry through
	// nginx): nothing was ordered or charged this time.
	Repeat bool
}

// Checkout turns the account's cart into an order. seenGen is the cart
// generation the checkout form was rendered with (0 when the client sent
// none): when the cart has moved on since and that generation has an order,
// the request is a resubmit of a checkout that completed, and its order is
// returned.
//
// A product without enough stock fails the whole checkout with a conflict
// naming it, and nothing changes. If the order is written but the cart
// store cannot be reached to empty the cart, the error says so; a retry
// finds the order and completes the cart then.
func (s *Service) Checkout(ctx context.Context, userID int64, key cart.Key, seenGen int64) (Result, error) {
	return s.CheckoutWith(ctx, userID, key, seenGen, Details{})
}

// CheckoutWith is Checkout with what the checkout's steps chose: the
// address (checked; none for a JSON client that sends none), the shipping
// option and the payment method. Shipping and tax are priced by the rules
// in the same transaction as the items.
func (s *Service) CheckoutWith(ctx context.Context, userID int64, key cart.Key, seenGen int64, d Details) (Result, error) {
	if _, err := s.rules.Option(d.Shipping); err != nil {
		return Result{}, err
	}
	if _, err := PaymentName(d.Payment); err != nil {
		return Result{}, err
	}
	if d.Shipping == "" {
		d.Shipping = s.rules.Shipping[0].Code
	}
	if d.Payment == "" {
		d.Payment = PayOnDelivery
	}
	var shipTo *Address
	if !d.Address.IsZero() {
		a, err := d.Address.Clean()
		if err != nil {
			return Result{}, err
		}
		shipTo = &a
	}
	lines, gen, err := s.carts.Snapshot(ctx, key)
	if err != nil {
		return Result{}, err
	}
	if seenGen != 0 && seenGen != gen {
		o, err := s.byCart(ctx, userID, key, seenGen)
		if err == nil {
			return Result{Order: o, Repeat: true}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Result{}, err
		}
	}
	if len(lines) == 0 {
		return Result{}, ErrCartEmpty
	}
	p, err := s.place(ctx, userID, key, gen, lines, d, shipTo)
	if err != nil {
		return Result{}, err
	}
	done := append(p.order.cartLines(), p.gone...)
	if err := s.carts.CompleteCheckout(ctx, key, gen, done); err != nil {
		return Result{}, fmt.Errorf("order %d placed; empty cart %s: %w", p.order.ID, key, err)
	}
	return Result{Order: p.order, Repeat: p.repeat}, nil
}

// cartLines are the order's lines as cart lines, to take out of the cart.
func (o Order) cartLines() []cart.Line {
	out := make([]cart.Line, len(o.Items))
	for i, l := range o.Items {
		out[i] = cart.Line{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	return out
}

// placed is what place did.
type placed struct {
	order Order
	// repeat is set when an earlier submit of the same cart generation
	// had placed the order.
	repeat bool
	// gone are cart lines whose product no longer exists; they are not
	// ordered, and leave the cart with the rest.
	gone []cart.Line
}

// place writes the order for generation gen of the cart in one
// transaction: claim the order row, lock the products, price the lines
// and check the stock, take the stock, write the lines. The order row goes
// in first: a second submit of the same generation waits on its unique key
// until the first commits and then finds that order, instead of competing
// for the stock the first one took.
func (s *Service) place(ctx context.Context, userID int64, key cart.Key, gen int64, lines []cart.Line, d Details, shipTo *Address) (placed, error) {
	what := fmt.Sprintf("place order for cart %s generation %d", key, gen)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return placed{}, postgres.Error(what, err, nil)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	o, claimed, err := claimOrder(ctx, tx, userID, key, gen, d, shipTo)
	if err != nil {
		return placed{}, postgres.Error(what, err, nil)
	}
	if !claimed {
		// An earlier submit of this cart generation committed its order.
		_ = tx.Rollback(ctx)
		o, err := s.byCart(ctx, userID, key, gen)
		if errors.Is(err, ErrNotFound) {
			// The order is another account's: cart keys are per account,
			// so this is a bug, not something a user can cause.
			return placed{}, fmt.Errorf("%s: the order for this cart belongs to another account", what)
		}
		return placed{order: o, repeat: true}, err
	}

	want := wanted(lines)
	products, err := catalog.LockForOrder(ctx, tx, want.ids)
	if err != nil {
		return placed{}, fmt.Errorf("%s: %w", what, err)
	}
	gone, err := o.price(products, want)
	if err != nil {
		return placed{}, err
	}
	q, err := s.rules.Quote(o.TotalCents, d.Shipping)
	if err != nil {
		return placed{}, err
	}
	o.ShippingCents, o.TaxCents, o.GrandTotalCents = q.ShippingCents, q.TaxCents, q.GrandTotalCents
	if err := catalog.TakeStock(ctx, tx, o.takes()); err != nil {
		return placed{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := writeLines(ctx, tx, o); err != nil {
		return placed{}, postgres.Error(what, err, nil)
	}
	if err := tx.Commit(ctx); err != nil {
		return placed{}, postgres.Error(what, err, nil)
	}
	return placed{order: o, gone: gone}, nil
}

// claimOrder inserts the order row for generation gen of the cart, without
// lines and total yet. claimed is false, with no error, when that
// generation already has an order.
func claimOrder(ctx context.Context, tx pgx.Tx, userID int64, key cart.Key, gen int64, d Details, shipTo *Address) (o Order, claimed bool, err error) {
	o = Order{UserID: userID, CartKey: key, CartGeneration: gen, Status: StatusPlaced,
		PaymentMethod: d.Payment, ShippingOption: d.Shipping, ShipTo: shipTo}
	err = tx.QueryRow(ctx, `INSERT INTO orders (user_id, cart_key, cart_generation, total_cents, payment_method, shipping_option, ship_to)
		VALUES ($1, $2, $3, 0, $4, $5, $6)
		ON CONFLICT (cart_key, cart_generation) DO NOTHING
		RETURNING id, created_at`, userID, string(key), gen, d.Payment, d.Shipping, shipTo).Scan(&o.ID, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, false, nil
	}
	if err != nil {
		return Order{}, false, err
	}
	return o, true, nil
}

// wants is the quantity of each product a cart asks for.
type wants struct {
	qty map[int64]int
	ids []int64 // each product once, in the cart's order
}

// wanted adds up the cart's lines per product.
func wanted(lines []cart.Line) wants {
	w := wants{qty: make(map[int64]int, len(lines)), ids: make([]int64, 0, len(lines))}
	for _, l := range lines {
		if _, dup := w.qty[l.ProductID]; !dup {
			w.ids = append(w.ids, l.ProductID)
		}
		w.qty[l.ProductID] += l.Quantity
	}
	return w
}

// price fills the order's lines, count and total from the locked products
// at their current prices. It fails with OutOfStock naming every product
// without enough stock, and with ErrCartEmpty when none of the products
// exists any more; gone are the wanted products that do not exist.
func (o *Order) price(products []catalog.Product, want wants) (gone []cart.Line, err error) {
	var short []string
	found := make(map[int64]bool, len(products))
	for _, p := range products {
		found[p.ID] = true
		l := Line{ProductID: p.ID, SKU: p.SKU, Name: p.Name, Quantity: want.qty[p.ID], UnitPriceCents: p.PriceCents, Image: p.Image}
		l.LineTotalCents = l.UnitPriceCents * int64(l.Quantity)
		switch {
		case p.Stock == 0:
			short = append(short, p.Name+" is sold out")
		case p.Stock < l.Quantity:
			short = append(short, fmt.Sprintf("%s has only %d left", p.Name, p.Stock))
		}
		o.Items = append(o.Items, l)
		o.Count += l.Quantity
		o.TotalCents += l.LineTotalCents
	}
	for _, id := range want.ids {
		if !found[id] {
			gone = append(gone, cart.Line{ProductID: id, Quantity: want.qty[id]})
		}
	}
	if len(short) > 0 {
		return nil, OutOfStock(short)
	}
	if len(o.Items) == 0 {
		return nil, ErrCartEmpty
	}
	return gone, nil
}

// takes is what the order takes from the stock.
func (o Order) takes() []catalog.Take {
	out := make([]catalog.Take, len(o.Items))
	for i, l := range o.Items {
		out[i] = catalog.Take{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	return out
}

// writeLines writes the order's lines, with the names, SKUs and prices of
// the moment, and its total.
func writeLines(ctx context.Context, tx pgx.Tx, o Order) error {
	pids := make([]int64, len(o.Items))
	qtys := make([]int32, len(o.Items))
	names := make([]string, len(o.Items))
	skus := make([]string, len(o.Items))
	prices := make([]int64, len(o.Items))
	totals := make([]int64, len(o.Items))
	images := make([]string, len(o.Items))
	for i, l := range o.Items {
		pids[i], qtys[i], names[i], skus[i], prices[i], totals[i], images[i] = l.ProductID, int32(l.Quantity), l.Name, l.SKU, l.UnitPriceCents, l.LineTotalCents, l.Image
	}
	if _, err := tx.Exec(ctx, `INSERT INTO order_lines
		(order_id, product_id, quantity, name, sku, unit_price_cents, line_total_cents, image)
		SELECT $1, * FROM unnest($2::bigint[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[])`,
		o.ID, pids, qtys, names, skus, prices, totals, images); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE orders SET total_cents = $2, shipping_cents = $3, tax_cents = $4 WHERE id = $1`,
		o.ID, o.TotalCents, o.ShippingCents, o.TaxCents)
	return err
}

// OutOfStock is the checkout error for products without enough stock; each
// problem names its product ("Brass Desk Lamp is sold out").
func OutOfStock(problems []string) *apperr.Error {
	msg := "Sorry: " + strings.Join(problems, "; ") +
		". Nothing was ordered; please change your cart and check out again."
	return apperr.Conflict("out_of_stock", msg, nil)
}

const orderColumns = `id, user_id, cart_key, cart_generation, total_cents, created_at,
	shipping_cents, tax_cents, status, paid_at, shipped_at, payment_method, shipping_option, ship_to`

func scanOrder(row pgx.Row) (Order, error) {
	var o Order
	var key string
	err := row.Scan(&o.ID, &o.UserID, &key, &o.CartGeneration, &o.TotalCents, &o.CreatedAt,
		&o.ShippingCents, &o.TaxCents, &o.Status, &o.PaidAt, &o.ShippedAt, &o.PaymentMethod, &o.ShippingOption, &o.ShipTo)
	o.CartKey = cart.Key(key)
	o.GrandTotalCents = o.TotalCents + o.ShippingCents + o.TaxCents
	return o, err
}

// Get returns one of the account's orders with its lines; another
// account's order is ErrNotFound, as if it did not exist.
func (s *Service) Get(ctx context.Context, userID, id int64) (Order, error) {
	o, err := scanOrder(s.db.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1 AND user_id = $2`, id, userID))
	if err != nil {
		return Order{}, postgres.Error(fmt.Sprintf("get order %d", id), err, ErrNotFound)
	}
	return s.withLines(ctx, o)
}

// byCart returns the account's order for one generation of a cart.
func (s *Service) byCart(ctx context.Context, userID int64, key cart.Key, gen int64) (Order, error) {
	o, err := scanOrder(s.db.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders
		WHERE cart_key = $1 AND cart_generation = $2 AND user_id = $3`, string(key), gen, userID))
	if err != nil {
		return Order{}, postgres.Error(fmt.Sprintf("get order of cart %s generation %d", key, gen), err, ErrNotFound)
	}
	return s.withLines(ctx, o)
}

func (s *Service) withLines(ctx context.Context, o Order) (Order, error) {
	what := fmt.Sprintf("get lines of order %d", o.ID)
	rows, err := s.db.Query(ctx, `SELECT product_id, sku, name, quantity, unit_price_cents, line_total_cents, image
		FROM order_lines WHERE order_id = $1 ORDER BY product_id`, o.ID)
	if err != nil {
		return Order{}, postgres.Error(what, err, nil)
	}
	o.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Line, error) {
		var l Line
		err := r.Scan(&l.ProductID, &l.SKU, &l.Name, &l.Quantity, &l.UnitPriceCents, &l.LineTotalCents, &l.Image)
		return l, err
	})
	if err != nil {
		return Order{}, postgres.Error(what, err, nil)
	}
	for _, l := range o.Items {
		o.Count += l.Quantity
	}
	return o, nil
}

// List returns the account's newest orders (at most ListLimit), newest
// first.
func (s *Service) List(ctx context.Context, userID int64) ([]Summary, error) {
	what := fmt.Sprintf("list orders of user %d", userID)
	rows, err := s.db.Query(ctx, `SELECT o.id, o.created_at, COALESCE(sum(l.quantity), 0), o.total_cents,
			o.total_cents + o.shipping_cents + o.tax_cents, o.status
		FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id
		WHERE o.user_id = $1
		GROUP BY o.id
		ORDER BY o.id DESC
		LIMIT $2`, userID, ListLimit)
	if err != nil {
		return nil, postgres.Error(what, err, nil)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Summary, error) {
		var s Summary
		err := r.Scan(&s.ID, &s.CreatedAt, &s.Count, &s.TotalCents, &s.GrandTotalCents, &s.Status)
		return s, err
	})
	if err != nil {
		return nil, postgres.Error(what, err, nil)
	}
	if list == nil {
		list = []Summary{}
	}
	return list, nil
}
