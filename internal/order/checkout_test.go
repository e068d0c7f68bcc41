package order_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/order"
)

func TestRulesQuote(t *testing.T) {
	t.Parallel()
	r := order.NewRules(495, 1295, 5000, 825)
	tests := []struct {
		name             string
		subtotal         int64
		option           string
		ship, tax, total int64
	}{
		{"StandardBelowTheFreeAmount", 2000, "standard", 495, 206, 2701}, // (2000+495) × 8.25% = 205.84 → 206
		{"StandardIsFreeFromTheAmount", 5000, "standard", 0, 413, 5413},  // 412.5 rounds half up
		{"ExpressIsNeverFree", 5000, "express", 1295, 519, 6814},         // 6295 × 8.25% = 519.3375
		{"EmptyOptionIsTheFirst", 100, "", 495, 49, 644},                 // 595 × 8.25% = 49.0875
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := r.Quote(tt.subtotal, tt.option)
			if err != nil {
				t.Fatal(err)
			}
			if q.ShippingCents != tt.ship || q.TaxCents != tt.tax || q.GrandTotalCents != tt.total {
				t.Errorf("Quote(%d, %q) = %+v; want shipping %d, tax %d, total %d", tt.subtotal, tt.option, q, tt.ship, tt.tax, tt.total)
			}
		})
	}
	if _, err := r.Quote(100, "teleport"); !errors.Is(err, order.ErrUnknownShipping) {
		t.Errorf("unknown option: %v, want ErrUnknownShipping", err)
	}
	for bp, want := range map[int64]string{800: "8%", 825: "8.25%", 750: "7.5%", 0: "0%", 5: "0.05%"} {
		if got := (order.Rules{TaxBasisPoints: bp}).TaxPercent(); got != want {
			t.Errorf("TaxPercent(%d) = %q, want %q", bp, got, want)
		}
	}
}

func TestAddressClean(t *testing.T) {
	t.Parallel()
	good := order.Address{Name: " Ada ", Line1: "1 Road", PostalCode: "123", City: "Town", Country: "Land"}
	a, err := good.Clean()
	if err != nil || a.Name != "Ada" {
		t.Fatalf("Clean(good) = %+v, %v", a, err)
	}
	bad := good
	bad.City, bad.Line2 = "", strings.Repeat("x", 201)
	_, err = bad.Clean()
	e := apperr.As(err)
	if e == nil || e.Code != "invalid_address" || e.Fields["city"] == "" || e.Fields["line2"] == "" || e.Fields["name"] != "" {
		t.Errorf("Clean(bad) = %v, want invalid_address naming city and line2", err)
	}
	bad = good
	bad.Name = "Ada\x00"
	if _, err := bad.Clean(); err == nil {
		t.Error("a control character is accepted")
	}
}
