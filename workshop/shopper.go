package workshop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// shopper is one person using the shop through nginx, as a browser does:
// a cookie jar, the CSRF token of the last page, no redirects followed.
type shopper struct {
	base   string
	client *http.Client
	csrf   string
	email  string
}

func newShopper(base string) *shopper {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &shopper{base: strings.TrimRight(base, "/"), client: &http.Client{
		Jar:     jar,
		Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// answer is one response, read.
type answer struct {
	status   int
	servedBy string
	header   http.Header
	body     []byte
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// do sends a request and reads the answer, remembering a page's CSRF token.
func (s *shopper) do(ctx context.Context, method, path string, body io.Reader, header http.Header) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return answer{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := s.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if m := csrfMeta.FindSubmatch(b); m != nil {
		s.csrf = string(m[1])
	}
	return answer{status: res.StatusCode, servedBy: res.Header.Get("X-Served-By"), header: res.Header, body: b}, nil
}

// getJSON fetches a page as JSON into v (nil: ignore the body).
func (s *shopper) getJSON(ctx context.Context, path string, v any) (answer, error) {
	a, err := s.do(ctx, http.MethodGet, path, nil, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return a, err
	}
	if a.status != http.StatusOK {
		return a, fmt.Errorf("GET %s: status %d: %.200s", path, a.status, a.body)
	}
	if v != nil {
		if err := json.Unmarshal(a.body, v); err != nil {
			return a, fmt.Errorf("GET %s: %w", path, err)
		}
	}
	return a, nil
}

// token makes sure the shopper has a CSRF token, loading the catalog once.
func (s *shopper) token(ctx context.Context) error {
	if s.csrf != "" {
		return nil
	}
	a, err := s.do(ctx, http.MethodGet, "/", nil, http.Header{"Accept": {"text/html"}})
	if err != nil {
		return err
	}
	if s.csrf == "" {
		return fmt.Errorf("GET /: status %d and no csrf-token meta tag", a.status)
	}
	return nil
}

// post submits a form as a JSON client (the contract's 200 with the page's
// JSON instead of a 303).
func (s *shopper) post(ctx context.Context, path string, form url.Values) (answer, error) {
	if err := s.token(ctx); err != nil {
		return answer{}, err
	}
	return s.do(ctx, http.MethodPost, path, strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
		"X-CSRF-Token": {s.csrf},
	})
}

// cart is GET /cart as JSON.
type cart struct {
	Count      int   `json:"count"`
	TotalCents int64 `json:"total_cents"`
}

// sessionInfo is GET /session.
type sessionInfo struct {
	Store         string     `json:"store"`
	Replica       string     `json:"replica"`
	Authenticated bool       `json:"authenticated"`
	IdleTimeout   string     `json:"idle_timeout"`
	IdleExpiresAt *time.Time `json:"idle_expires_at"`
}

// add puts quantity of a product in the cart and returns the new count.
func (s *shopper) add(ctx context.Context, productID, quantity int) (int, answer, error) {
	a, err := s.post(ctx, "/cart/items", url.Values{
		"product_id": {fmt.Sprint(productID)},
		"quantity":   {fmt.Sprint(quantity)},
	})
	if err != nil {
		return 0, a, err
	}
	if a.status != http.StatusOK {
		return 0, a, fmt.Errorf("POST /cart/items: status %d: %.200s", a.status, a.body)
	}
	var c cart
	if err := json.Unmarshal(a.body, &c); err != nil {
		return 0, a, fmt.Errorf("POST /cart/items: %w", err)
	}
	return c.Count, a, nil
}

// cart reads the cart.
func (s *shopper) cart(ctx context.Context) (cart, answer, error) {
	var c cart
	a, err := s.getJSON(ctx, "/cart", &c)
	return c, a, err
}

// session reads /session.
func (s *shopper) session(ctx context.Context) (sessionInfo, answer, error) {
	var v sessionInfo
	a, err := s.getJSON(ctx, "/session", &v)
	return v, a, err
}

// signUp makes a new account with a random address and signs in.
func (s *shopper) signUp(ctx context.Context, password string) (answer, error) {
	s.email = fmt.Sprintf("workshop-%s@example.com", randomHex(6))
	a, err := s.post(ctx, "/signup", url.Values{"email": {s.email}, "password": {password}})
	if err != nil {
		return a, err
	}
	if a.status != http.StatusOK {
		return a, fmt.Errorf("POST /signup: status %d: %.200s", a.status, a.body)
	}
	return a, nil
}

// logIn signs in to an existing account.
func (s *shopper) logIn(ctx context.Context, email, password string) (answer, error) {
	s.email = email
	a, err := s.post(ctx, "/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return a, err
	}
	if a.status != http.StatusOK {
		return a, fmt.Errorf("POST /login: status %d: %.200s", a.status, a.body)
	}
	return a, nil
}

// cookie returns the value of one of the shopper's cookies for the shop.
func (s *shopper) cookie(name string) string {
	u, err := url.Parse(s.base)
	if err != nil {
		return ""
	}
	for _, c := range s.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// apiClient calls the stateless JSON API: no cookie jar, a bearer token.
type apiClient struct {
	base   string
	client *http.Client
	token  string
}

func newAPIClient(base string) *apiClient {
	return &apiClient{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 15 * time.Second}}
}

// call sends JSON (nil: no body) and reads the answer.
func (c *apiClient) call(ctx context.Context, method, path string, in any) (answer, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return answer{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: res.StatusCode, servedBy: res.Header.Get("X-Served-By"), header: res.Header, body: b}, nil
}
