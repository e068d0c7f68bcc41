package handlers

import (
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/session"
)

// Page is what every HTML template receives as its root value ("."). Page
// templates read their own data from .Data and form state from .Form; the
// layout reads the rest.
type Page struct {
	// Title is the <title> and the page heading.
	Title string
	// Name is the template name of the page ("catalog", "product", "cart",
	// "login", "signup", "error"); the layout uses it to mark the active nav link.
	Name string
	// CSRFToken goes into <meta name="csrf-token"> and every form's hidden
	// csrf_token field.
	CSRFToken string
	// User is nil for guests.
	User *UserView
	// SessionExpiresAt is when a signed-in user's session ends if unused
	// (RFC 3339); static/js/session.js warns before it does.
	SessionExpiresAt string
	// CartCount is the sum of quantities in this session's cart (header badge).
	CartCount int
	// Flashes are one-time messages set by the previous request, as the
	// session queued them.
	Flashes []session.Flash
	// Replica and StoreKind feed the workshop footer; ShowServedBy turns it on.
	Replica      string
	StoreKind    string
	ShowServedBy bool
	// Zone is the shopper's time zone (an IANA name, "" for UTC), for
	// the localTime template function.
	Zone string
	// Form carries the submitted values and per-field errors of a form page.
	Form *Form
	// Data is the page's own data; see the *Data types below.
	Data any
}

// UserView is the signed-in account as the layout shows it.
type UserView struct {
	Email string
}

// Form holds what a user submitted and what was wrong with it, so a form can be
// re-rendered (422) with errors next to their fields.
type Form struct {
	Values map[string]string
	Errors map[string]string
}

// Value returns the submitted value of a field ("" when absent).
func (f *Form) Value(field string) string {
	if f == nil {
		return ""
	}
	return f.Values[field]
}

// Error returns the error message of a field ("" when the field is fine).
func (f *Form) Error(field string) string {
	if f == nil {
		return ""
	}
	return f.Errors[field]
}

// ErrorData is the Data of the "error" page.
type ErrorData struct {
	Status    int
	Message   string
	RequestID string
}

// CatalogData is the Data of the "catalog" page.
type CatalogData struct {
	Products []catalog.Product
	// Query is the search the products answer ("" for the whole catalog).
	Query string
}

// ProductData is the Data of the "product" page.
type ProductData struct {
	Product catalog.Product
}

// CartData is the Data of the "cart" page.
type CartData struct {
	Cart cart.View
}
