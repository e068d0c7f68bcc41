package workshop

import (
	"context"
	"fmt"

	"github.com/the-shop/shop/internal/shopclient"
)

// shopper is one person using the shop through nginx, as a browser does:
// the shop's scripted client (cookie jar, CSRF token, no redirects
// followed) and the address it signed up with.
type shopper struct {
	*shopclient.Client
	email string
}

func newShopper(base string) *shopper {
	return &shopper{Client: shopclient.New(base, shopclient.Options{})}
}

// newAPIClient calls the stateless JSON API: no cookie jar; the caller
// sets Bearer once it has a token.
func newAPIClient(base string) *shopclient.Client {
	return shopclient.New(base, shopclient.Options{NoCookies: true})
}

// signUp makes a new account with a random address and signs in.
func (s *shopper) signUp(ctx context.Context, password string) (shopclient.Response, error) {
	s.email = fmt.Sprintf("workshop-%s@example.com", randomHex(6))
	return s.SignUp(ctx, s.email, password)
}

// logIn signs in to an existing account.
func (s *shopper) logIn(ctx context.Context, email, password string) (shopclient.Response, error) {
	s.email = email
	return s.LogIn(ctx, email, password)
}

// add puts quantity of a product in the cart and returns the new count.
func (s *shopper) add(ctx context.Context, productID, quantity int) (int, shopclient.Response, error) {
	c, a, err := s.Add(ctx, productID, quantity)
	return c.Count, a, err
}
