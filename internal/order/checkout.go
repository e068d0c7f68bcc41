package order

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/platform/postgres"
)

// Address is where an order ships to. The account keeps its last one for
// the next checkout; an order keeps a copy.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	Country    string `json:"country"`
}

// AddressFields are the form fields of an address, in the order the form
// shows them.
var AddressFields = []string{"name", "line1", "line2", "postal_code", "city", "country"}

// maxAddressField is the most characters one address field takes.
const maxAddressField = 200

// Clean trims every field and checks the address: every field but the
// second line is required, and none may be longer than 200 characters or
// hold control characters. The error is an invalid_address with a message
// per field.
func (a Address) Clean() (Address, error) {
	a = Address{
		Name: strings.TrimSpace(a.Name), Line1: strings.TrimSpace(a.Line1), Line2: strings.TrimSpace(a.Line2),
		PostalCode: strings.TrimSpace(a.PostalCode), City: strings.TrimSpace(a.City), Country: strings.TrimSpace(a.Country),
	}
	fields := map[string]string{}
	check := func(field, label, v string, required bool) {
		switch {
		case required && v == "":
			fields[field] = "Enter " + label + "."
		case utf8.RuneCountInString(v) > maxAddressField:
			fields[field] = fmt.Sprintf("Use at most %d characters.", maxAddressField)
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			fields[field] = "Use letters, digits and punctuation only."
		}
	}
	check("name", "the name to ship to", a.Name, true)
	check("line1", "the street and number", a.Line1, true)
	check("line2", "", a.Line2, false)
	check("postal_code", "the postal code", a.PostalCode, true)
	check("city", "the city", a.City, true)
	check("country", "the country", a.Country, true)
	if len(fields) > 0 {
		return a, apperr.Invalid("invalid_address", "Please check the shipping address.", fields)
	}
	return a, nil
}

// IsZero reports whether no address was given.
func (a Address) IsZero() bool { return a == Address{} }

// Lines returns the address as the lines of a label.
func (a Address) Lines() []string {
	out := []string{a.Name, a.Line1}
	if a.Line2 != "" {
		out = append(out, a.Line2)
	}
	return append(out, strings.TrimSpace(a.PostalCode+" "+a.City), a.Country)
}

// SavedAddress returns the address the account used last, and false when
// it has none.
func (s *Service) SavedAddress(ctx context.Context, userID int64) (Address, bool, error) {
	var a Address
	err := s.db.QueryRow(ctx, `SELECT name, line1, line2, postal_code, city, country
		FROM shipping_addresses WHERE user_id = $1`, userID).
		Scan(&a.Name, &a.Line1, &a.Line2, &a.PostalCode, &a.City, &a.Country)
	if errors.Is(err, pgx.ErrNoRows) {
		return Address{}, false, nil
	}
	if err != nil {
		return Address{}, false, postgres.Error(fmt.Sprintf("load address of user %d", userID), err, nil)
	}
	return a, true, nil
}

// SaveAddress checks a (see Address.Clean) and keeps it as the account's
// address for the next checkout, replacing the one before.
func (s *Service) SaveAddress(ctx context.Context, userID int64, a Address) (Address, error) {
	a, err := a.Clean()
	if err != nil {
		return a, err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO shipping_addresses (user_id, name, line1, line2, postal_code, city, country)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, line1 = EXCLUDED.line1, line2 = EXCLUDED.line2,
			postal_code = EXCLUDED.postal_code, city = EXCLUDED.city, country = EXCLUDED.country, updated_at = now()`,
		userID, a.Name, a.Line1, a.Line2, a.PostalCode, a.City, a.Country)
	if err != nil {
		return a, postgres.Error(fmt.Sprintf("save address of user %d", userID), err, nil)
	}
	return a, nil
}

// ShippingOption is one way to ship an order, with its price.
type ShippingOption struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Cents int64  `json:"cents"`
	// FreeFromCents makes the option free for orders whose items cost at
	// least this much; 0: never free.
	FreeFromCents int64 `json:"-"`
}

// PriceFor is what the option costs an order whose items cost subtotal.
func (o ShippingOption) PriceFor(subtotal int64) int64 {
	if o.FreeFromCents > 0 && subtotal >= o.FreeFromCents {
		return 0
	}
	return o.Cents
}

// Payment methods. The shop can reach no payment provider, so an order is
// paid on delivery or by invoice; a provider would add a method here and
// take the payment between the review and the order (see docs/http.md).
const (
	PayOnDelivery = "on_delivery"
	PayByInvoice  = "invoice"
)

// PaymentMethods names every payment method, in the order the review page
// offers them.
var PaymentMethods = []struct{ Code, Name string }{
	{PayOnDelivery, "Pay on delivery"},
	{PayByInvoice, "Pay by invoice within 14 days"},
}

// Order statuses: placed by the shopper, paid when the money came in,
// shipped when it left the warehouse. The shop itself only places orders;
// the others are set by whoever fulfils them (today with SQL: see
// docs/http.md).
const (
	StatusPlaced  = "placed"
	StatusPaid    = "paid"
	StatusShipped = "shipped"
)

// Rules price shipping and tax. They are simple on purpose: a flat price
// per shipping option (standard free above an amount) and one tax rate on
// the items and the shipping, all from configuration.
type Rules struct {
	Shipping []ShippingOption
	// TaxBasisPoints is the tax rate in hundredths of a percent (800 is
	// 8%).
	TaxBasisPoints int64
}

// DefaultRules are the rules of the documented defaults.
func DefaultRules() Rules {
	return NewRules(495, 1295, 5000, 800)
}

// NewRules returns the rules with a standard and an express option, the
// amount from which standard shipping is free (0: never) and the tax rate
// in basis points.
func NewRules(standardCents, expressCents, freeFromCents, taxBasisPoints int64) Rules {
	return Rules{
		Shipping: []ShippingOption{
			{Code: "standard", Name: "Standard, 3 to 5 working days", Cents: standardCents, FreeFromCents: freeFromCents},
			{Code: "express", Name: "Express, next working day", Cents: expressCents},
		},
		TaxBasisPoints: taxBasisPoints,
	}
}

// ErrUnknownShipping and ErrUnknownPayment answer a checkout form with an
// option the shop does not offer.
var (
	ErrUnknownShipping = apperr.Invalid("invalid_shipping", "Choose one of the shipping options.",
		map[string]string{"shipping": "Choose one of the shipping options."})
	ErrUnknownPayment = apperr.Invalid("invalid_payment", "Choose how you will pay.",
		map[string]string{"payment": "Choose how you will pay."})
)

// Option returns the shipping option with the code; "" is the first.
func (r Rules) Option(code string) (ShippingOption, error) {
	if code == "" && len(r.Shipping) > 0 {
		return r.Shipping[0], nil
	}
	for _, o := range r.Shipping {
		if o.Code == code {
			return o, nil
		}
	}
	return ShippingOption{}, ErrUnknownShipping
}

// PaymentName returns the name of a payment method; "" is the first.
func PaymentName(code string) (string, error) {
	for _, m := range PaymentMethods {
		if m.Code == code || code == "" {
			return m.Name, nil
		}
	}
	return "", ErrUnknownPayment
}

// Quote is what an order costs beyond its items.
type Quote struct {
	Shipping      ShippingOption `json:"-"`
	ShippingCents int64          `json:"shipping_cents"`
	TaxCents      int64          `json:"tax_cents"`
	// GrandTotalCents is the items, the shipping and the tax: what the
	// shopper pays.
	GrandTotalCents int64 `json:"grand_total_cents"`
}

// Quote prices shipping with the option and the tax for items costing
// subtotal. Tax is rounded half up to the cent.
func (r Rules) Quote(subtotal int64, option string) (Quote, error) {
	o, err := r.Option(option)
	if err != nil {
		return Quote{}, err
	}
	q := Quote{Shipping: o, ShippingCents: o.PriceFor(subtotal)}
	q.TaxCents = ((subtotal+q.ShippingCents)*r.TaxBasisPoints + 5000) / 10000
	q.GrandTotalCents = subtotal + q.ShippingCents + q.TaxCents
	return q, nil
}

// TaxPercent is the tax rate as people read it ("8%", "7.25%").
func (r Rules) TaxPercent() string {
	whole, frac := r.TaxBasisPoints/100, r.TaxBasisPoints%100
	switch {
	case frac == 0:
		return fmt.Sprintf("%d%%", whole)
	case frac%10 == 0:
		return fmt.Sprintf("%d.%d%%", whole, frac/10)
	}
	return fmt.Sprintf("%d.%02d%%", whole, frac)
}

// Details are what the checkout's steps chose: where to ship, how, and how
// to pay. The zero Details (a JSON client that sends none) ship with the
// first option, without an address, paid on delivery.
type Details struct {
	Address  Address
	Shipping string
	Payment  string
}
