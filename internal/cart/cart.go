// Package cart keeps shopping carts next to the sessions, in the configured
// store, and changes them only by atomic line operations so that concurrent
// requests through different replicas never lose an item.
package cart

// MaxQuantity is the most units of one product a cart line can hold.
const MaxQuantity = 99

// Item is one cart line joined with its product, as pages and JSON show it.
type Item struct {
	ProductID      int64  `json:"product_id,string"`
	SKU            string `json:"-"`
	Name           string `json:"name"`
	Image          string `json:"-"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
	// Stock is what is in stock now; a line holding more (the stock fell
	// after it was added) cannot be checked out as it is.
	Stock int `json:"stock"`
}

// Short reports whether the line holds more than is in stock.
func (i Item) Short() bool { return i.Quantity > i.Stock }

// View is a whole cart as pages and JSON show it.
type View struct {
	Items      []Item `json:"items"`
	Count      int    `json:"count"`
	TotalCents int64  `json:"total_cents"`
	// Generation is the version of the cart this view shows (see
	// Store.Snapshot); the checkout form sends it back, so that a resubmit
	// of an order already placed finds that order.
	Generation int64 `json:"-"`
	// Message is set on the answer to a change that the stock capped
	// ("Only 8 left of …").
	Message string `json:"message,omitempty"`
}

// Short returns the lines that hold more than is in stock.
func (v View) Short() []Item {
	var short []Item
	for _, it := range v.Items {
		if it.Short() {
			short = append(short, it)
		}
	}
	return short
}
