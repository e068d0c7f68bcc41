// Command floor is the minimal design the shop competes with: the least a
// cart kept in Redis can cost per request, behind the same nginx. `make
// bench` runs it like a replica (scripts/shop.sh starts three and nginx in
// front of them) and reports the shop as a fraction of it.
//
// The design, and nothing more:
//
//   - The session is a random 32-byte id in a cookie (base64url), made on
//     the first request that has none. Nothing about it is stored: the id
//     is the cart's key.
//   - The CSRF token is HMAC-SHA256(secret, id): no state, any replica can
//     check it. Pages carry it in <meta name="csrf-token">, forms in
//     csrf_token; unsafe requests send it in X-CSRF-Token or the form.
//   - The cart is one Redis hash, product id → quantity, under
//     REDIS_KEY_PREFIX + "floorcart:" + id.
//   - GET /cart is one HGETALL. POST /cart/items is one pipeline of
//     HINCRBY, EXPIRE and HGETALL; POST /cart/items/{id} one of HSET (or
//     HDEL for 0), EXPIRE and HGETALL. A line pushed over 99 gets one more
//     round trip (HSET to 99), which the load test never causes.
//   - Product names and prices come from memory: the products table is
//     read once at start (DATABASE_URL), never on a request.
//   - GET / is the catalog: JSON from memory without a store round trip;
//     the page shows the cart's item count too, as the shop's does, with
//     one HVALS.
//   - Pages are html/template, parsed once, rendered into a buffer: a
//     minimal cart page (lines, quantity forms, total) and catalog page
//     (products with an add form).
//
// The JSON answers have the shop's shapes (GET /cart and the cart changes:
// items, count, total_cents; GET /: products), so the load test drives
// both the same way. Left out on purpose, since the design does not need
// them: a session record, logins, idempotency keys (a retried add may
// apply twice), stock checks, request logs and ids, security headers.
//
// Configuration (environment, the names scripts/shop.sh passes to a
// replica): ADDR, ADMIN_ADDR (process metrics on /metrics, as the shop's
// admin listener serves them), REDIS_URL, REDIS_KEY_PREFIX, DATABASE_URL,
// REPLICA_NAME, FLOOR_SECRET (else JWT_SECRET, which scripts/shop.sh makes
// one per cluster), FLOOR_CART_TTL (24h).
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// maxQuantity is the shop's cap on one line (cart.MaxQuantity).
const maxQuantity = 99

// cookieName is the session cookie.
const cookieName = "sid"

// config is what the floor reads from its environment.
type config struct {
	addr, adminAddr, redisURL, prefix, databaseURL, replica string
	secret                                                  []byte
	cartTTL                                                 time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		addr: getenv("ADDR"), adminAddr: getenv("ADMIN_ADDR"), redisURL: getenv("REDIS_URL"),
		prefix: getenv("REDIS_KEY_PREFIX"), databaseURL: getenv("DATABASE_URL"), replica: getenv("REPLICA_NAME"),
		cartTTL: 24 * time.Hour,
	}
	if c.addr == "" {
		c.addr = "127.0.0.1:8080"
	}
	if c.redisURL == "" {
		c.redisURL = "redis://127.0.0.1:6379/0"
	}
	if c.replica == "" {
		c.replica = "floor"
	}
	if c.databaseURL == "" {
		return c, errors.New("DATABASE_URL is needed: the products are read from it once at start")
	}
	secret := getenv("FLOOR_SECRET")
	if secret == "" {
		secret = getenv("JWT_SECRET")
	}
	if len(secret) < 16 {
		return c, errors.New("FLOOR_SECRET (or JWT_SECRET) must hold at least 16 characters: every replica signs CSRF tokens with it")
	}
	c.secret = []byte(secret)
	if s := getenv("FLOOR_CART_TTL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return c, fmt.Errorf("FLOOR_CART_TTL=%q: a duration of at least 1s", s)
		}
		c.cartTTL = d
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 && args[0] != "serve" {
		return errors.New("usage: floor [serve] (configured by ADDR, ADMIN_ADDR, REDIS_URL, REDIS_KEY_PREFIX, DATABASE_URL, REPLICA_NAME, FLOOR_SECRET)")
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil)).With("replica", cfg.replica)
	products, err := loadProducts(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	pool := &redis.Pool{
		MaxIdle:     64,
		IdleTimeout: 4 * time.Minute,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialURLContext(ctx, cfg.redisURL, redis.DialConnectTimeout(2*time.Second))
		},
	}
	defer pool.Close()
	c, err := pool.GetContext(ctx)
	if err == nil {
		_, err = c.Do("PING")
		c.Close()
	}
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	f, err := newFloor(cfg, pool, products)
	if err != nil {
		return err
	}

	srv := &http.Server{Handler: f.routes(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var admin *http.Server
	if cfg.adminAddr != "" {
		aln, err := net.Listen("tcp", cfg.adminAddr)
		if err != nil {
			srv.Close()
			return fmt.Errorf("admin listener: %w", err)
		}
		admin = &http.Server{Handler: adminRoutes(), ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- admin.Serve(aln) }()
		logger.Info("admin listening", "addr", aln.Addr().String())
	}
	logger.Info("floor listening", "addr", ln.Addr().String(), "products", len(products))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	return srv.Shutdown(sctx)
}

// adminRoutes serves the metrics the load test reads from every replica:
// process_cpu_seconds_total above all, as the shop's admin listener does.
func adminRoutes() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// product is what the floor knows of a product, in memory.
type product struct {
	ID         int64  `json:"id,string"`
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int    `json:"stock"`
}

func loadProducts(ctx context.Context, url string) ([]product, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT id, sku, name, price_cents, stock FROM products ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load products: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (product, error) {
		var p product
		err := r.Scan(&p.ID, &p.SKU, &p.Name, &p.PriceCents, &p.Stock)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("load products: %w", err)
	}
	return ps, nil
}

// floor serves the routes; everything it holds is read-only after start.
type floor struct {
	cfg      config
	pool     *redis.Pool
	products []product
	byID     map[int64]*product
	// catalogJSON is GET / as JSON, encoded once.
	catalogJSON []byte
	ttlSeconds  int64
	pages       *template.Template
}

func newFloor(cfg config, pool *redis.Pool, products []product) (*floor, error) {
	f := &floor{cfg: cfg, pool: pool, products: products, byID: make(map[int64]*product, len(products)),
		ttlSeconds: int64(cfg.cartTTL / time.Second)}
	for i := range products {
		f.byID[products[i].ID] = &products[i]
	}
	b, err := json.Marshal(map[string]any{"products": products})
	if err != nil {
		return nil, err
	}
	f.catalogJSON = b
	f.pages, err = template.New("").Funcs(template.FuncMap{"money": money}).ParseFS(views, "views/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse views: %w", err)
	}
	return f, nil
}

//go:embed views/*.html
var views embed.FS

func money(cents int64) string {
	return fmt.Sprintf("$%d.%02d", cents/100, cents%100)
}

func (f *floor) routes() http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) {
		f.writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
	}
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", ok)
	mux.HandleFunc("GET /{$}", f.catalog)
	mux.HandleFunc("GET /cart", f.cart)
	mux.HandleFunc("POST /cart/items", f.add)
	mux.HandleFunc("POST /cart/items/{id}", f.set)
	return mux
}

// session returns the request's session id, making one (and its cookie)
// when the request has none.
func (f *floor) session(w http.ResponseWriter, r *http.Request) (id string, isNew bool) {
	if c, err := r.Cookie(cookieName); err == nil && len(c.Value) == 43 {
		return c.Value, false
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	id = base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return id, true
}

func (f *floor) csrfToken(id string) string {
	m := hmac.New(sha256.New, f.cfg.secret)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF: the token of an unsafe request is the HMAC of its session id.
func (f *floor) checkCSRF(r *http.Request) (string, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) != 43 {
		return "", false
	}
	t := r.Header.Get("X-CSRF-Token")
	if t == "" {
		t = r.PostFormValue("csrf_token")
	}
	want := f.csrfToken(c.Value)
	return c.Value, subtle.ConstantTimeCompare([]byte(t), []byte(want)) == 1
}

func (f *floor) key(id string) string { return f.cfg.prefix + "floorcart:" + id }

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (f *floor) writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Served-By", f.cfg.replica)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (f *floor) fail(w http.ResponseWriter, status int, code string) {
	f.writeJSON(w, status, []byte(`{"error":{"code":"`+code+`","message":"`+http.StatusText(status)+`"}}`))
}

// page renders a page into a buffer, then writes it.
func (f *floor) page(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := f.pages.ExecuteTemplate(&buf, name, data); err != nil {
		f.fail(w, http.StatusInternalServerError, "internal")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Served-By", f.cfg.replica)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// item and view are the shop's cart JSON (cart.Item, cart.View).
type item struct {
	ProductID      int64  `json:"product_id,string"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
}

type view struct {
	Items      []item `json:"items"`
	Count      int    `json:"count"`
	TotalCents int64  `json:"total_cents"`
}

// viewOf turns HGETALL's answer (field, value, ...) into the cart, with
// names and prices from memory, lines in product order.
func (f *floor) viewOf(lines []any) (view, error) {
	v := view{Items: make([]item, 0, len(lines)/2)}
	for i := 0; i+1 < len(lines); i += 2 {
		pid, err1 := redis.Int64(lines[i], nil)
		qty, err2 := redis.Int(lines[i+1], nil)
		if err1 != nil || err2 != nil {
			return v, fmt.Errorf("cart line %v=%v", lines[i], lines[i+1])
		}
		p, ok := f.byID[pid]
		if !ok || qty <= 0 {
			continue
		}
		v.Items = append(v.Items, item{ProductID: pid, Name: p.Name, Quantity: qty,
			UnitPriceCents: p.PriceCents, LineTotalCents: p.PriceCents * int64(qty)})
		v.Count += qty
		v.TotalCents += p.PriceCents * int64(qty)
	}
	slices.SortFunc(v.Items, func(a, b item) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return v, nil
}

// do runs one pipeline on one connection: every command is sent, then
// flushed once, and the replies come back together.
func (f *floor) do(ctx context.Context, cmds ...[]any) ([]any, error) {
	c, err := f.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for _, cmd := range cmds {
		if err := c.Send(cmd[0].(string), cmd[1:]...); err != nil {
			return nil, err
		}
	}
	return redis.Values(redis.DoContext(c, ctx, ""))
}

// pageData is what both pages show.
type pageData struct {
	Title     string
	CSRFToken string
	Count     int
	Cart      view
	Products  []product
}

func (f *floor) catalog(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		f.writeJSON(w, http.StatusOK, f.catalogJSON)
		return
	}
	id, isNew := f.session(w, r)
	d := pageData{Title: "Catalog", CSRFToken: f.csrfToken(id), Products: f.products}
	if !isNew {
		// The header's cart count, as the shop's page shows it.
		c, err := f.pool.GetContext(r.Context())
		if err != nil {
			f.fail(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		qs, err := redis.Ints(redis.DoContext(c, r.Context(), "HVALS", f.key(id)))
		c.Close()
		if err != nil {
			f.fail(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		for _, q := range qs {
			d.Count += q
		}
	}
	f.page(w, "catalog.html", d)
}

func (f *floor) cart(w http.ResponseWriter, r *http.Request) {
	id, isNew := f.session(w, r)
	var v view
	if !isNew {
		replies, err := f.do(r.Context(), []any{"HGETALL", f.key(id)})
		if err == nil {
			v, err = f.lines(replies[0])
		}
		if err != nil {
			f.fail(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
	}
	f.answer(w, r, id, v)
}

func (f *floor) lines(reply any) (view, error) {
	lines, err := redis.Values(reply, nil)
	if err != nil {
		return view{}, err
	}
	return f.viewOf(lines)
}

// answer sends the cart: JSON, or the cart page.
func (f *floor) answer(w http.ResponseWriter, r *http.Request, id string, v view) {
	if wantsJSON(r) {
		b, err := json.Marshal(v)
		if err != nil {
			f.fail(w, http.StatusInternalServerError, "internal")
			return
		}
		f.writeJSON(w, http.StatusOK, b)
		return
	}
	if r.Method == http.MethodPost {
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return
	}
	f.page(w, "cart.html", pageData{Title: "Your cart", CSRFToken: f.csrfToken(id), Count: v.Count, Cart: v})
}

// quantity parses a form's quantity: def when empty, else lo to 99.
func quantity(s string, def, lo int) (int, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil && n >= lo && n <= maxQuantity
}

func (f *floor) productID(s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	_, ok := f.byID[id]
	return id, ok
}

func (f *floor) add(w http.ResponseWriter, r *http.Request) {
	id, ok := f.checkCSRF(r)
	if !ok {
		f.fail(w, http.StatusForbidden, "invalid_csrf_token")
		return
	}
	pid, ok := f.productID(r.PostFormValue("product_id"))
	if !ok {
		f.fail(w, http.StatusNotFound, "product_not_found")
		return
	}
	qty, ok := quantity(r.PostFormValue("quantity"), 1, 1)
	if !ok {
		f.fail(w, http.StatusUnprocessableEntity, "invalid_quantity")
		return
	}
	ctx, key := r.Context(), f.key(id)
	replies, err := f.do(ctx, []any{"HINCRBY", key, pid, qty}, []any{"EXPIRE", key, f.ttlSeconds}, []any{"HGETALL", key})
	if err == nil {
		if n, _ := redis.Int(replies[0], nil); n > maxQuantity {
			// Over the cap: set it back, and read the cart again.
			if replies, err = f.do(ctx, []any{"HSET", key, pid, maxQuantity}, []any{"HGETALL", key}); err == nil {
				replies = replies[1:]
			}
		} else {
			replies = replies[2:]
		}
	}
	var v view
	if err == nil {
		v, err = f.lines(replies[0])
	}
	if err != nil {
		f.fail(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	f.answer(w, r, id, v)
}

func (f *floor) set(w http.ResponseWriter, r *http.Request) {
	id, ok := f.checkCSRF(r)
	if !ok {
		f.fail(w, http.StatusForbidden, "invalid_csrf_token")
		return
	}
	pid, ok := f.productID(r.PathValue("id"))
	if !ok {
		f.fail(w, http.StatusNotFound, "product_not_found")
		return
	}
	qty, ok := quantity(r.PostFormValue("quantity"), -1, 0)
	if !ok || qty < 0 {
		f.fail(w, http.StatusUnprocessableEntity, "invalid_quantity")
		return
	}
	key := f.key(id)
	var cmds [][]any
	if qty == 0 {
		cmds = [][]any{{"HDEL", key, pid}}
	} else {
		cmds = [][]any{{"HSET", key, pid, qty}, {"EXPIRE", key, f.ttlSeconds}}
	}
	replies, err := f.do(r.Context(), append(cmds, []any{"HGETALL", key})...)
	var v view
	if err == nil {
		v, err = f.lines(replies[len(replies)-1])
	}
	if err != nil {
		f.fail(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	f.answer(w, r, id, v)
}
