package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
)

// TestCartKnowsTheStock: an add or an update beyond the stock is capped at
// what is left, and both the page and the JSON answer say so, naming the
// product.
func TestCartKnowsTheStock(t *testing.T) {
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			s := startShop(t, b, "replica-a")
			testCartKnowsTheStock(t, b, s, kind)
		})
	}
}

func testCartKnowsTheStock(t *testing.T, b *backend, s *shop, _ config.Kind) {
	t.Run("HTMLAddBeyondStockIsCappedWithANote", func(t *testing.T) {
		t.Parallel()
		id := newProduct(t, b, "Scarce Headphones", 9900, 8)
		c := newClient(t)
		r := c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {id}, "quantity": {"50"}}, c.Token(t, s.URL), false)
		wantStatus(t, r, http.StatusSeeOther)
		page := c.Get(t, s.URL, "/cart", false)
		if want := "Only 8 left of Scarce Headphones"; !strings.Contains(page.Body, want) {
			t.Errorf("cart page lacks %q:\n%.2000s", want, page.Body)
		}
		if strings.Contains(page.Body, "50 ×") || strings.Contains(page.Body, "Added Scarce") {
			t.Error("the page claims the 50 were added")
		}
		if got := c.Cart(t, s.URL).Quantities()[id]; got != 8 {
			t.Errorf("line = %d, want 8", got)
		}
	})

	t.Run("JSONAddAndSetBeyondStockAnswerTheMessage", func(t *testing.T) {
		t.Parallel()
		id := newProduct(t, b, "Scarce Kettle", 4500, 3)
		c := newClient(t)
		tok := c.Token(t, s.URL)
		var v struct {
			Items []struct {
				ProductID string `json:"product_id"`
				Quantity  int    `json:"quantity"`
				Stock     int    `json:"stock"`
			} `json:"items"`
			Message string `json:"message"`
		}
		r := c.Post(t, s.URL, "/cart/items", url.Values{"product_id": {id}, "quantity": {"5"}}, tok, true)
		wantStatus(t, r, http.StatusOK)
		r.JSON(t, &v)
		if len(v.Items) != 1 || v.Items[0].Quantity != 3 || v.Items[0].Stock != 3 || !strings.Contains(v.Message, "Only 3 left of Scarce Kettle") {
			t.Errorf("add answer = %+v, want 3 of 3 and the message", v)
		}
		v.Message = ""
		r = c.Post(t, s.URL, "/cart/items/"+id, url.Values{"quantity": {"9"}}, tok, true)
		wantStatus(t, r, http.StatusOK)
		r.JSON(t, &v)
		if v.Items[0].Quantity != 3 || !strings.Contains(v.Message, "Only 3 left") {
			t.Errorf("set answer = %+v, want 3 and the message", v)
		}
		// Within the stock: no message.
		v.Message = ""
		r = c.Post(t, s.URL, "/cart/items/"+id, url.Values{"quantity": {"1"}}, tok, true)
		r.JSON(t, &v)
		if v.Items[0].Quantity != 1 || v.Message != "" {
			t.Errorf("set within stock = %+v, want 1 and no message", v)
		}
	})

	t.Run("LineAboveTheStockIsMarkedOnTheCartPage", func(t *testing.T) {
		t.Parallel()
		id := newProduct(t, b, "Fading Lamp", 3000, 10)
		c := newClient(t)
		c.add(t, s.URL, id, 6)
		if _, err := b.db.Exec(t.Context(), `UPDATE products SET stock = 2 WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		page := c.Get(t, s.URL, "/cart", false)
		if !strings.Contains(page.Body, "Only 2 left") || !strings.Contains(page.Body, `class="cart-line is-short"`) {
			t.Errorf("cart page does not mark the short line:\n%.3000s", page.Body)
		}
	})
}
