package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// TestCheckoutSteps: shipping address and option, review, place order,
// and the order page with its status, address and times in the shopper's
// zone; on both stores.
func TestCheckoutSteps(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			s := startShop(t, b, "replica-a")
			testCheckoutSteps(t, b, s, kind)
		})
	}
}

func testCheckoutSteps(t *testing.T, b *backend, s *shop, _ config.Kind) {
	t.Run("GuestIsSentToLogIn", func(t *testing.T) {
		t.Parallel()
		r := newClient(t).Get(t, s.URL, "/checkout", false)
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
			t.Errorf("guest GET /checkout = %d to %q, want 303 to the login form", r.StatusCode, loc)
		}
	})

	t.Run("AddressErrorsAreShownAndNothingIsSaved", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		c.signup(t, s.URL, testenv.RandomName("err")+"@example.com", "a fine password")
		c.add(t, s.URL, newProduct(t, b, "Step Mug", 1000, 5), 1)
		form := testAddress()
		form.Set("city", " ")
		r := c.Post(t, s.URL, "/checkout/shipping", form, c.CSRF(), false)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		for _, want := range []string{"Enter the city.", `value="Ada Lovelace"`, `aria-invalid="true"`} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("re-rendered shipping step lacks %q", want)
			}
		}
		e := wantError(t, c.Post(t, s.URL, "/checkout/shipping", form, c.CSRF(), true), http.StatusUnprocessableEntity, "invalid_address")
		if e.Error.Fields["city"] == "" {
			t.Errorf("fields = %v, want city", e.Error.Fields)
		}
		form = testAddress()
		form.Set("shipping", "teleport")
		wantError(t, c.Post(t, s.URL, "/checkout/shipping", form, c.CSRF(), true), http.StatusUnprocessableEntity, "invalid_shipping")
		// No address was saved: the review sends the shopper to the step.
		r = c.Get(t, s.URL, "/checkout/review?shipping=standard", false)
		if loc := r.Header.Get("Location"); loc != "/checkout" {
			t.Errorf("review without an address went to %q, want /checkout", loc)
		}
	})

	t.Run("StepsPlaceTheOrderWithAddressShippingTaxAndPayment", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		c.signup(t, s.URL, testenv.RandomName("steps")+"@example.com", "a fine password")
		id := newProduct(t, b, "Step Kettle", 2000, 5)
		c.add(t, s.URL, id, 1)

		// Step 1 offers the options with this cart's prices.
		page := c.Get(t, s.URL, "/checkout", false)
		wantStatus(t, page, http.StatusOK)
		for _, want := range []string{`action="/checkout/shipping"`, "Standard, 3 to 5 working days", "$4.95", "Express, next working day", "$12.95"} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("shipping step lacks %q", want)
			}
		}
		form := testAddress()
		form.Set("shipping", "express")
		r := c.Post(t, s.URL, "/checkout/shipping", form, c.CSRF(), false)
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/checkout/review?shipping=express" {
			t.Fatalf("shipping step went to %q", loc)
		}
		// The address is kept for next time.
		if page := c.Get(t, s.URL, "/checkout", false); !strings.Contains(page.Body, `value="12 St James&#39;s Square"`) {
			t.Errorf("the shipping step does not show the saved address:\n%.3000s", page.Body)
		}
		// The review: every line, the totals, the address.
		review := c.Get(t, s.URL, "/checkout/review?shipping=express", false)
		wantStatus(t, review, http.StatusOK)
		// $20.00 + $12.95 express = $32.95; 8% tax = $2.64; $35.59.
		for _, want := range []string{"Step Kettle", "$20.00", "$12.95", "Tax (8%)", "$2.64", "Place order · $35.59", "Ada Lovelace", "SW1Y 4JH London"} {
			if !strings.Contains(review.Body, want) {
				t.Errorf("review lacks %q", want)
			}
		}
		var rj struct {
			TotalCents      int64  `json:"total_cents"`
			ShippingCents   int64  `json:"shipping_cents"`
			TaxCents        int64  `json:"tax_cents"`
			GrandTotalCents int64  `json:"grand_total_cents"`
			ShippingOption  string `json:"shipping_option"`
			ShipTo          struct {
				City string `json:"city"`
			} `json:"ship_to"`
		}
		c.Get(t, s.URL, "/checkout/review?shipping=express", true).JSON(t, &rj)
		if rj.TotalCents != 2000 || rj.ShippingCents != 1295 || rj.TaxCents != 264 || rj.GrandTotalCents != 3559 || rj.ShippingOption != "express" || rj.ShipTo.City != "London" {
			t.Errorf("review JSON = %+v", rj)
		}
		// Place order, paid by invoice.
		place := url.Values{}
		for _, m := range regexp.MustCompile(`name="(expected_total_cents|cart_generation|shipping)" value="([^"]+)"`).FindAllStringSubmatch(review.Body, -1) {
			place.Set(m[1], m[2])
		}
		place.Set("payment", "invoice")
		r = c.Post(t, s.URL, "/checkout", place, c.CSRF(), false)
		wantStatus(t, r, http.StatusSeeOther)
		loc := r.Header.Get("Location")
		var o struct {
			Status          string `json:"status"`
			PaymentMethod   string `json:"payment_method"`
			ShippingOption  string `json:"shipping_option"`
			ShippingCents   int64  `json:"shipping_cents"`
			TaxCents        int64  `json:"tax_cents"`
			GrandTotalCents int64  `json:"grand_total_cents"`
			ShipTo          *struct {
				Name string `json:"name"`
			} `json:"ship_to"`
		}
		c.Get(t, s.URL, loc, true).JSON(t, &o)
		if o.Status != "placed" || o.PaymentMethod != "invoice" || o.ShippingOption != "express" || o.ShippingCents != 1295 ||
			o.TaxCents != 264 || o.GrandTotalCents != 3559 || o.ShipTo == nil || o.ShipTo.Name != "Ada Lovelace" {
			t.Errorf("order JSON = %+v", o)
		}
		// The order page in the shopper's zone.
		c.SetCookie("tz", "Asia/Tokyo")
		page = c.Get(t, s.URL, loc, false)
		for _, want := range []string{"Status: <span", "Placed", "by invoice", "Ada Lovelace", "$35.59", "JST", "img/products/mug"} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("order page lacks %q", want)
			}
		}
		c.SetCookie("tz", "Not/AZone")
		if page := c.Get(t, s.URL, loc, false); !strings.Contains(page.Body, " UTC</time>") {
			t.Error("an unknown zone does not fall back to UTC")
		}
	})
}
