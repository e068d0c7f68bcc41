package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Browser is a test's stand-in for a person's browser: one cookie jar for
// every shop address it talks to (replicas behind one load balancer are one
// origin), the CSRF token of the last page it saw, and no redirect
// following, so tests see the 303s of docs/http.md.
//
// Its methods take the testing.TB to fail per call, not one kept from
// NewBrowser: a browser shared by subtests must fail the subtest that used
// it, not its parent (which then reports a failure from a finished test).
type Browser struct {
	http *http.Client
	// csrf is the token of the last response: its X-CSRF-Token header or
	// its page's <meta name="csrf-token">. A browser may send requests
	// from several goroutines (tabs), so it is guarded.
	mu   sync.Mutex
	csrf string
}

// CSRF returns the CSRF token of the last response ("" before any).
func (b *Browser) CSRF() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.csrf
}

func (b *Browser) setCSRF(t string) {
	b.mu.Lock()
	b.csrf = t
	b.mu.Unlock()
}

// NewBrowser returns a Browser with an empty cookie jar; tb only reports a
// failure to build it.
func NewBrowser(tb testing.TB) *Browser {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &Browser{http: &http.Client{
		Jar:     &oneOriginJar{jar: jar},
		Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Tab returns another tab of the same browser: it shares the cookie jar
// (each response's Set-Cookie lands in the one jar, the last one wins, as
// in a browser) but keeps its own CSRF field, so tabs can run in parallel
// goroutines without a data race on it.
func (b *Browser) Tab() *Browser { return &Browser{http: b.http, csrf: b.CSRF()} }

// oneOriginJar keeps one set of cookies whatever host and port a request
// goes to, as a browser sees a single origin behind nginx.
type oneOriginJar struct{ jar *cookiejar.Jar }

var jarURL = &url.URL{Scheme: "http", Host: "shop.test", Path: "/"}

func (j *oneOriginJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.jar.SetCookies(jarURL, cs) }
func (j *oneOriginJar) Cookies(*url.URL) []*http.Cookie          { return j.jar.Cookies(jarURL) }

// Cookie returns the value of a cookie the browser holds ("" if none).
func (b *Browser) Cookie(name string) string {
	for _, ck := range b.http.Jar.Cookies(nil) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// SetCookie replaces a cookie, as an attacker replaying an old one would.
func (b *Browser) SetCookie(name, value string) {
	b.http.Jar.SetCookies(nil, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// Response is a finished HTTP exchange with its body read.
type Response struct {
	*http.Response
	Body string
}

// JSON decodes the body into v or fails the test.
func (r Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		tb.Fatalf("decode JSON (status %d): %v\n%.500s", r.StatusCode, err, r.Body)
	}
}

// Try sends req and returns the response, or the transport error (a load
// test counts those instead of failing).
func (b *Browser) Try(req *http.Request) (Response, error) {
	res, err := b.http.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, err
	}
	r := Response{Response: res, Body: string(body)}
	// The shop sends the session's CSRF token with every response of its
	// session routes, and in every page's meta tag; it changes at login.
	if t := res.Header.Get("X-CSRF-Token"); t != "" {
		b.setCSRF(t)
	}
	if m := csrfMeta.FindStringSubmatch(r.Body); m != nil {
		b.setCSRF(m[1])
	}
	return r, nil
}

// Do sends req or fails the test.
func (b *Browser) Do(tb testing.TB, req *http.Request) Response {
	tb.Helper()
	r, err := b.Try(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return r
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// GetRequest builds a GET that asks for HTML, or JSON with asJSON.
func GetRequest(tb testing.TB, base, path string, asJSON bool) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	accept := "text/html"
	if asJSON {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	return req
}

// PostRequest builds a form POST carrying csrf ("" sends none) that asks for
// HTML, or JSON with asJSON.
func PostRequest(tb testing.TB, base, path string, form url.Values, csrf string, asJSON bool) *http.Request {
	tb.Helper()
	f := url.Values{}
	for k, vs := range form {
		f[k] = append([]string(nil), vs...)
	}
	if csrf != "" {
		f.Set("csrf_token", csrf)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(f.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	return req
}

// Get fetches a page (JSON with asJSON), remembering its CSRF token.
func (b *Browser) Get(tb testing.TB, base, path string, asJSON bool) Response {
	tb.Helper()
	return b.Do(tb, GetRequest(tb, base, path, asJSON))
}

// Post submits a form; see PostRequest.
func (b *Browser) Post(tb testing.TB, base, path string, form url.Values, csrf string, asJSON bool) Response {
	tb.Helper()
	return b.Do(tb, PostRequest(tb, base, path, form, csrf, asJSON))
}

// Token returns the CSRF token, fetching the catalog once to get one.
func (b *Browser) Token(tb testing.TB, base string) string {
	tb.Helper()
	if b.CSRF() == "" {
		b.Get(tb, base, "/", false)
		if b.CSRF() == "" {
			tb.Fatal("no csrf-token meta on /")
		}
	}
	return b.CSRF()
}

// Cart is GET /cart as JSON.
type Cart struct {
	Items []struct {
		ProductID      string `json:"product_id"`
		Name           string `json:"name"`
		Quantity       int    `json:"quantity"`
		UnitPriceCents int64  `json:"unit_price_cents"`
		LineTotalCents int64  `json:"line_total_cents"`
	} `json:"items"`
	Count      int   `json:"count"`
	TotalCents int64 `json:"total_cents"`
}

// Quantities maps product id to quantity.
func (c Cart) Quantities() map[string]int {
	out := map[string]int{}
	for _, it := range c.Items {
		out[it.ProductID] = it.Quantity
	}
	return out
}

// Cart fetches the cart as JSON or fails the test.
func (b *Browser) Cart(tb testing.TB, base string) Cart {
	tb.Helper()
	r := b.Get(tb, base, "/cart", true)
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("GET /cart: status %d: %.500s", r.StatusCode, r.Body)
	}
	var v Cart
	r.JSON(tb, &v)
	return v
}

// SessionInfo is GET /session.
type SessionInfo struct {
	Store         string `json:"store"`
	Replica       string `json:"replica"`
	Exists        bool   `json:"exists"`
	Authenticated bool   `json:"authenticated"`
	RememberMe    bool   `json:"remember_me"`
}

// Session fetches /session or fails the test.
func (b *Browser) Session(tb testing.TB, base string) SessionInfo {
	tb.Helper()
	var v SessionInfo
	b.Get(tb, base, "/session", true).JSON(tb, &v)
	return v
}
