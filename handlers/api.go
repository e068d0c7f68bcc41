package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"

	"github.com/golang-jwt/jwt/v5"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apitoken"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/throttle"
)

// apiHandler is the stateless JSON API: an access token from
// POST /api/v1/tokens authorizes each request, and nothing is kept between
// requests, no session and no cookie. Its cart is the account's cart, the
// one the browser shows after login.
type apiHandler struct {
	accounts *account.Service
	carts    *cart.Service
	tokens   *apitoken.Issuer
	guard    *throttle.Guard
}

const (
	ctxAPIToken = "api.token" // the account identity a verified token names
	ctxAPIUser  = "api.user"  // the account, once its identity is known to be current
)

// tokenJSON is the answer of POST /api/v1/tokens (RFC 6749 §5.1 names).
type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// issueToken answers POST /api/v1/tokens (JSON email, password). It checks
// the password exactly as the login form does (authenticate: the same
// throttle, the same account.Service.Authenticate), so guessing passwords
// through the API is no easier than through the form.
func (h *apiHandler) issueToken(c echo.Context) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u, err := authenticate(c, h.guard, h.accounts, account.Credentials{Email: in.Email, Password: in.Password}, "")
	if err != nil {
		return err
	}
	tok, ttl, err := h.tokens.Issue(u.Identity())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, tokenJSON{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds())})
}

// cart answers GET /api/v1/cart: the account's cart, as GET /cart shows it.
func (h *apiHandler) cart(c echo.Context) error {
	v, err := h.carts.View(c.Request().Context(), cart.AccountKey(apiUser(c).PublicID))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// addItem answers POST /api/v1/cart/items (JSON product_id, quantity; an
// Idempotency-Key header makes a retried request count once).
func (h *apiHandler) addItem(c echo.Context) error {
	var in struct {
		ProductID looseString `json:"product_id"`
		Quantity  looseString `json:"quantity"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	id, err := cart.ParseProductID(string(in.ProductID))
	if err != nil {
		return err
	}
	qty, err := cart.ParseQuantity(string(in.Quantity), 1, 1)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	key := cart.AccountKey(apiUser(c).PublicID)
	prod, n, _, err := h.carts.AddOnce(ctx, key, id, qty, c.Request().Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	v, err := h.carts.View(ctx, key)
	if err != nil {
		return err
	}
	v.Message = cart.StockNotice(prod, n)
	return c.JSON(http.StatusOK, v)
}

// requireToken lets a request through only with a valid access token for
// an account that still exists and whose session epoch has not moved on
// since the token was issued (a password change or "sign out other
// sessions" revokes every token issued before). echo-jwt finds the token in the
// Authorization header; apitoken checks it (HS256 only, issuer, audience,
// expiry). A cookie never authorizes an API request.
func (h *apiHandler) requireToken() echo.MiddlewareFunc {
	verify := echojwt.WithConfig(echojwt.Config{
		ContextKey:  ctxAPIToken,
		TokenLookup: "header:Authorization:Bearer ",
		ParseTokenFunc: func(_ echo.Context, auth string) (any, error) {
			return h.tokens.Verify(auth)
		},
		ErrorHandler: tokenError,
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return verify(func(c echo.Context) error {
			id, _ := c.Get(ctxAPIToken).(account.Identity)
			u, err := h.accounts.Get(c.Request().Context(), id.ID)
			if errors.Is(err, account.ErrNotFound) || (err == nil && u.PublicID != id.PublicID) {
				// The account was deleted after the token was issued (and
				// its id perhaps given to another account since).
				return refuseToken(c, "invalid_token", "The account of this access token no longer exists.")
			}
			if err != nil {
				return err
			}
			if u.Epoch != id.Epoch {
				return refuseToken(c, "invalid_token",
					"This access token was revoked: the password changed or every other session was logged out. Get a new one from POST /api/v1/tokens.")
			}
			c.Set(ctxAPIUser, u)
			return next(c)
		})
	}
}

// tokenError is echo-jwt's ErrorHandler: a missing, malformed, expired,
// tampered or foreign token is a 401 with the JSON error of docs/http.md.
func tokenError(c echo.Context, err error) error {
	var missing *echojwt.TokenExtractionError
	switch {
	case errors.As(err, &missing):
		return refuseToken(c, "missing_token",
			"This needs an access token from POST /api/v1/tokens, sent as the header Authorization: Bearer followed by the token.")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuseToken(c, "invalid_token", "The access token has expired. Get a new one from POST /api/v1/tokens.")
	default:
		return refuseToken(c, "invalid_token", "The access token is not valid. Get a new one from POST /api/v1/tokens.")
	}
}

// refuseToken answers 401 with the challenge of RFC 6750.
func refuseToken(c echo.Context, code, message string) error {
	challenge := `Bearer realm="the-shop"`
	if code == "invalid_token" {
		challenge += `, error="invalid_token"`
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	return apperr.Unauthorized(code, message)
}

// apiUser is the account id requireToken found.
func apiUser(c echo.Context) account.User {
	u, _ := c.Get(ctxAPIUser).(account.User)
	return u
}

// decodeJSON reads a JSON object body into v: another content type is a
// 415, a body that is not a JSON object a 400.
func decodeJSON(c echo.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return echo.ErrUnsupportedMediaType
	}
	dec := json.NewDecoder(c.Request().Body)
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
	}
	if dec.More() {
		return echo.NewHTTPError(http.StatusBadRequest).SetInternal(errors.New("more than one JSON value"))
	}
	return nil
}

// looseString is a JSON value given as a string or a number ("3" or 3);
// null is empty, and anything else keeps its JSON text, which then fails
// validation with the field's own message.
type looseString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *looseString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
	case len(b) > 0 && b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = looseString(str)
	default:
		*s = looseString(b)
	}
	return nil
}
