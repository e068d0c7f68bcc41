// Package catalog holds the products the shop sells and loads them from
// PostgreSQL.
package catalog

// Product is one item of the catalog. Prices are integer cents.
type Product struct {
	ID          int64  `json:"id,string"`
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"-"`
	PriceCents  int64  `json:"price_cents"`
	Stock       int    `json:"stock"`
	// Image is a path inside static/, for example "img/products/mug.svg".
	Image string `json:"-"`
}

// InStock reports whether at least one unit can be sold.
func (p Product) InStock() bool { return p.Stock > 0 }
