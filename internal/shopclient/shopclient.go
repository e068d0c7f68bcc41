// Package shopclient drives the shop over HTTP the way a script stands in
// for a person: a cookie jar, the CSRF token of the last page (its
// <meta name="csrf-token">), form posts, JSON answers asked for with
// Accept: application/json, and the cart and session answers decoded. It
// follows no redirects, so callers see the shop's 303s.
//
// The workshop's checker and the load tool use it; the test browser
// (internal/testenv) is meant to sit on it too. It knows the shop's routes
// and wire format, nothing of its internals.
package shopclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds a request when Options.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Options tune a Client; the zero value is a browser-like client.
type Options struct {
	// Transport carries the requests (nil: http.DefaultTransport). A load
	// test shares one among all its clients.
	Transport http.RoundTripper
	// Timeout bounds each request, reading the body included (0:
	// DefaultTimeout).
	Timeout time.Duration
	// Jar keeps the cookies (nil: a new, empty jar).
	Jar http.CookieJar
	// NoCookies sends and keeps no cookies at all, as an API client does.
	NoCookies bool
}

// Client is one scripted visitor of the shop at one base URL.
type Client struct {
	base string
	http *http.Client
	// CSRF is the token of the last HTML page the client loaded; form
	// posts send it in X-CSRF-Token.
	CSRF string
	// Bearer, when set, is sent as "Authorization: Bearer …" (the JWT API).
	Bearer string
}

// New returns a Client for the shop at base (such as http://127.0.0.1:8080).
func New(base string, o Options) *Client {
	hc := &http.Client{
		Transport: o.Transport,
		Timeout:   o.Timeout,
		Jar:       o.Jar,
		// The shop answers a browser's form with 303; the caller decides
		// whether to follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if hc.Timeout == 0 {
		hc.Timeout = DefaultTimeout
	}
	if hc.Jar == nil && !o.NoCookies {
		hc.Jar, _ = cookiejar.New(nil) // fails only with options
	}
	if o.NoCookies {
		hc.Jar = nil
	}
	return &Client{base: strings.TrimRight(base, "/"), http: hc}
}

// Base is the shop's address the client's paths are relative to.
func (c *Client) Base() string { return c.base }

// Response is a finished exchange: the response, its body read and closed.
type Response struct {
	*http.Response
	Body []byte
}

// ServedBy is the replica that answered (the X-Served-By header).
func (r Response) ServedBy() string { return r.Header.Get("X-Served-By") }

// StatusError is an answer with another status than the one a call needs.
type StatusError struct {
	Method, Path string
	Status       int
	Body         []byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %.200s", e.Method, e.Path, e.Status, e.Body)
}

// Expect returns a *StatusError unless the answer has status want.
func (r Response) Expect(want int) error {
	if r.StatusCode == want {
		return nil
	}
	return &StatusError{Method: r.Request.Method, Path: r.Request.URL.Path, Status: r.StatusCode, Body: r.Body}
}

// csrfMeta finds the token the shop puts in every page's head.
var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// Do sends req and reads the answer. Any address works (one jar serves
// them all); the CSRF token the answer names is kept. A Client is one
// shopper's: not for several goroutines at once.
func (c *Client) Do(req *http.Request) (Response, error) {
	if c.Bearer != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.Bearer)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read the answer: %w", req.Method, req.URL.Path, err)
	}
	// Every answer of the session routes names the session's CSRF token
	// in a header (it changes at login); pages also carry it in their
	// head. JSON answers are not searched.
	if t := res.Header.Get("X-CSRF-Token"); t != "" {
		c.CSRF = t
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "text/html" {
		if m := csrfMeta.FindSubmatch(b); m != nil {
			c.CSRF = string(m[1])
		}
	}
	return Response{Response: res, Body: b}, nil
}

// Send sends a request to the shop's path with the given headers.
func (c *Client) Send(ctx context.Context, method, path string, body io.Reader, header http.Header) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return c.Do(req)
}

// Page loads a page as a browser does (Accept: text/html), keeping its
// CSRF token; any status is returned as it is.
func (c *Client) Page(ctx context.Context, path string) (Response, error) {
	return c.Send(ctx, http.MethodGet, path, nil, http.Header{"Accept": {"text/html"}})
}

// GetJSON fetches path as JSON and decodes a 200 answer into v (nil: the
// body is not decoded); another status is a *StatusError.
func (c *Client) GetJSON(ctx context.Context, path string, v any) (Response, error) {
	r, err := c.Send(ctx, http.MethodGet, path, nil, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return r, err
	}
	if err := r.Expect(http.StatusOK); err != nil {
		return r, err
	}
	return r, decode(r, v)
}

func decode(r Response, v any) error {
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", r.Request.Method, r.Request.URL.Path, err)
	}
	return nil
}

// Token returns the CSRF token, loading the catalog once when the client
// has none yet (as a person opens a page before submitting a form).
func (c *Client) Token(ctx context.Context) (string, error) {
	if c.CSRF != "" {
		return c.CSRF, nil
	}
	r, err := c.Page(ctx, "/")
	if err != nil {
		return "", err
	}
	if c.CSRF == "" {
		return "", fmt.Errorf("GET /: status %d and no csrf-token meta tag", r.StatusCode)
	}
	return c.CSRF, nil
}

// PostForm submits a form as a JSON client (the shop answers 200 with the
// page's JSON instead of a 303), sending the CSRF token the client holds,
// if any: call Token first where the shop wants one. Any status is
// returned as it is.
func (c *Client) PostForm(ctx context.Context, path string, form url.Values) (Response, error) {
	h := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	if c.CSRF != "" {
		h.Set("X-CSRF-Token", c.CSRF)
	}
	return c.Send(ctx, http.MethodPost, path, strings.NewReader(form.Encode()), h)
}

// CallJSON sends in as a JSON body (nil: no body) and asks for JSON, as
// clients of /api/v1 do; any status is returned as it is.
func (c *Client) CallJSON(ctx context.Context, method, path string, in any) (Response, error) {
	h := http.Header{"Accept": {"application/json"}}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return Response{}, fmt.Errorf("%s %s: encode the request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
		h.Set("Content-Type", "application/json")
	}
	return c.Send(ctx, method, path, body, h)
}

// Cookie returns the value of one of the client's cookies for the shop
// ("" if it holds none).
func (c *Client) Cookie(name string) string {
	if c.http.Jar == nil {
		return ""
	}
	u, err := url.Parse(c.base)
	if err != nil {
		return ""
	}
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// Cart is the shop's cart as JSON (GET /cart, and the answer of a cart
// change).
type Cart struct {
	Items      []CartItem `json:"items"`
	Count      int        `json:"count"`
	TotalCents int64      `json:"total_cents"`
}

// CartItem is one line of a Cart.
type CartItem struct {
	ProductID      string `json:"product_id"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
}

// Quantities maps product id to quantity.
func (c Cart) Quantities() map[string]int {
	out := map[string]int{}
	for _, it := range c.Items {
		out[it.ProductID] = it.Quantity
	}
	return out
}

// SessionInfo is GET /session: where the session lives and how long. It
// never holds the token.
type SessionInfo struct {
	Store         string     `json:"store"`
	Replica       string     `json:"replica"`
	Exists        bool       `json:"exists"`
	Authenticated bool       `json:"authenticated"`
	RememberMe    bool       `json:"remember_me"`
	IdleTimeout   string     `json:"idle_timeout"`
	IdleExpiresAt *time.Time `json:"idle_expires_at"`
	ExpiresAt     *time.Time `json:"absolute_expires_at"`
}

// Cart reads the cart.
func (c *Client) Cart(ctx context.Context) (Cart, Response, error) {
	var v Cart
	r, err := c.GetJSON(ctx, "/cart", &v)
	return v, r, err
}

// Session reads GET /session.
func (c *Client) Session(ctx context.Context) (SessionInfo, Response, error) {
	var v SessionInfo
	r, err := c.GetJSON(ctx, "/session", &v)
	return v, r, err
}

// Add puts quantity of a product in the cart and returns the cart after
// it; anything but 200 is an error.
func (c *Client) Add(ctx context.Context, productID, quantity int) (Cart, Response, error) {
	var v Cart
	if _, err := c.Token(ctx); err != nil {
		return v, Response{}, err
	}
	r, err := c.PostForm(ctx, "/cart/items", url.Values{
		"product_id": {strconv.Itoa(productID)},
		"quantity":   {strconv.Itoa(quantity)},
	})
	if err == nil {
		err = r.Expect(http.StatusOK)
	}
	if err == nil {
		err = decode(r, &v)
	}
	return v, r, err
}

// SignUp makes an account and signs in; anything but 200 is an error.
func (c *Client) SignUp(ctx context.Context, email, password string) (Response, error) {
	return c.account(ctx, "/signup", email, password)
}

// LogIn signs in to an existing account; anything but 200 is an error.
func (c *Client) LogIn(ctx context.Context, email, password string) (Response, error) {
	return c.account(ctx, "/login", email, password)
}

func (c *Client) account(ctx context.Context, path, email, password string) (Response, error) {
	if _, err := c.Token(ctx); err != nil {
		return Response{}, err
	}
	r, err := c.PostForm(ctx, path, url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return r, err
	}
	return r, r.Expect(http.StatusOK)
}
