// Command textbook is workshop step 8's server: the session recipe of the
// material, wired the way most tutorials wire it. Sessions are scs's, kept
// in Redis by github.com/alexedwards/scs/redisstore on a redigo pool, under
// session:<id> with a one hour idle timeout (scs's IdleTimeout: every
// request writes the session back with a new expiry, the recipe's
// "SET session:<id> … EX 3600 on every change, EXPIRE on activity"), and
// the cart lives inside the session value.
//
// It answers the routes the workshop's checker uses as the shop does
// (GET / with a CSRF token in the page, GET /cart and POST /cart/items with
// the shop's JSON), so the checker can measure both the same way. It is no
// part of the shop: the shop never runs it, and a fork deletes workshop/.
//
// scripts/shop.sh runs it as it runs the shop (SHOP_BIN=bin/textbook; the
// `serve` argument is accepted and ignored), reading ADDR, REPLICA_NAME and
// REDIS_URL from the environment, and answers /healthz and /readyz.
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
)

// idleTimeout is the recipe's EX 3600.
const idleTimeout = time.Hour

func main() {
	if len(os.Args) > 1 && os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: textbook [serve]  (ADDR, REPLICA_NAME, REDIS_URL from the environment)")
		os.Exit(2)
	}
	addr := env("ADDR", "127.0.0.1:9101")
	redisURL := env("REDIS_URL", "redis://127.0.0.1:6379/0")
	// scripts/shop.sh names its replicas shop-N; these are textbook-N.
	replica := "textbook-" + strings.TrimPrefix(env("REPLICA_NAME", "1"), "shop-")

	// The tutorials' pool.
	pool := &redis.Pool{
		MaxIdle:     10,
		IdleTimeout: 240 * time.Second,
		Dial:        func() (redis.Conn, error) { return redis.DialURL(redisURL) },
	}
	defer pool.Close()

	sm := scs.New()
	sm.Store = redisstore.NewWithPrefix(pool, "session:")
	sm.IdleTimeout = idleTimeout
	sm.Lifetime = 24 * time.Hour
	sm.Cookie.Name = "session"

	a := &app{sm: sm, replica: replica}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /cart", a.cart)
	mux.HandleFunc("POST /cart/items", a.add)

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	root.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		c, err := pool.GetContext(r.Context())
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
		}
		if err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	root.Handle("/", sm.LoadAndSave(mux))

	srv := &http.Server{
		Addr: addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Served-By", replica)
			root.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Printf("%s: the textbook session server on %s, sessions in %s (scs redisstore, IdleTimeout %v)", replica, addr, redisURL, idleTimeout)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type app struct {
	sm      *scs.SessionManager
	replica string
}

// line is one product in the cart, as the shop's JSON names it.
type line struct {
	ProductID      string `json:"product_id"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
}

type cartJSON struct {
	Items      []line `json:"items"`
	Count      int    `json:"count"`
	TotalCents int64  `json:"total_cents"`
}

// products is the textbook's catalogue: ids 1 to 14, as the shop's.
const products = 14

// loadCart reads the cart out of the session value (a JSON string).
func (a *app) loadCart(ctx context.Context) []line {
	var c []line
	if s := a.sm.GetString(ctx, "cart"); s != "" {
		_ = json.Unmarshal([]byte(s), &c)
	}
	return c
}

func (a *app) writeCart(w http.ResponseWriter, c []line) {
	out := cartJSON{Items: c}
	if out.Items == nil {
		out.Items = []line{}
	}
	for _, l := range c {
		out.Count += l.Quantity
		out.TotalCents += l.LineTotalCents
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// token is the session's CSRF token, made on first use.
func (a *app) token(ctx context.Context) string {
	t := a.sm.GetString(ctx, "csrf")
	if t == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		t = hex.EncodeToString(b)
		a.sm.Put(ctx, "csrf", t)
	}
	return t
}

var page = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{{.Token}}">
<title>The textbook session</title></head>
<body><h1>The textbook session</h1>
<p>{{.Count}} items in your cart, kept inside your session (session:&lt;id&gt; in Redis).</p>
<form method="post" action="/cart/items"><input type="hidden" name="csrf_token" value="{{.Token}}">
<label>Product <input name="product_id" value="1"></label> <input type="hidden" name="quantity" value="1">
<button>Add</button></form>
<footer>Served by {{.Replica}}</footer></body></html>
`))

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	n := 0
	for _, l := range a.loadCart(r.Context()) {
		n += l.Quantity
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, struct {
		Token, Replica string
		Count          int
	}{a.token(r.Context()), a.replica, n})
}

func (a *app) cart(w http.ResponseWriter, r *http.Request) {
	a.writeCart(w, a.loadCart(r.Context()))
}

// add is the recipe: read the session, change the cart in it, write the
// whole session back. Two adds at once each write what they read, and the
// last one wins.
func (a *app) add(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	want := a.sm.GetString(ctx, "csrf")
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf_token")
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		http.Error(w, "CSRF token missing or wrong", http.StatusForbidden)
		return
	}
	id, err := strconv.Atoi(r.PostFormValue("product_id"))
	if err != nil || id < 1 || id > products {
		http.Error(w, "no such product", http.StatusUnprocessableEntity)
		return
	}
	qty, err := strconv.Atoi(r.PostFormValue("quantity"))
	if err != nil || qty < 1 || qty > 99 {
		http.Error(w, "quantity must be 1 to 99", http.StatusUnprocessableEntity)
		return
	}
	c := a.loadCart(ctx)
	pid := strconv.Itoa(id)
	found := false
	for i := range c {
		if c[i].ProductID == pid {
			c[i].Quantity += qty
			c[i].LineTotalCents = int64(c[i].Quantity) * c[i].UnitPriceCents
			found = true
		}
	}
	if !found {
		price := int64(100 * id)
		c = append(c, line{ProductID: pid, Name: "Product " + pid, Quantity: qty, UnitPriceCents: price, LineTotalCents: price * int64(qty)})
	}
	b, _ := json.Marshal(c)
	a.sm.Put(ctx, "cart", string(b))
	a.writeCart(w, c)
}
