// Command floor is the least the shop's hot path can cost: a net/http
// program, without Echo, templates or middleware, that answers the JSON
// routes the load test drives with the same store round trips per request
// as the shop, on the same stores. `make bench` runs it behind the same
// nginx as the shop (scripts/shop.sh starts it like a replica) and reports
// the shop's throughput as a fraction of the floor's.
//
// What it does per request, and what it leaves out:
//
//   - POST /signup: makes a session (a random token in the cookie, the cart
//     key as the stored data) in one write. No account, no password hash:
//     the load test does not time signing up.
//   - GET /: the session (one read by token), the catalog (one query).
//   - GET /cart: the session, the cart's lines and generation (one round
//     trip: cart.Store.Snapshot), the products of those lines (one query).
//   - POST /cart/items: the session, the product (one query, for the stock
//     check), the add with its idempotency key (one round trip:
//     cart.Store.AddOnce), then the cart as GET /cart reads it.
//   - POST /cart/items/{id}: the same with cart.Store.Set.
//
// It reuses the shop's pools (internal/platform) and cart code
// (internal/cart: the same Lua scripts and SQL) so that the stores do the
// same work; what it does not do is everything around that work: routing
// through Echo, request ids, logging, security headers, CSRF, body limits,
// timeouts, the session's encoding, encryption, last-seen bookkeeping and
// the account index, JSON-or-HTML negotiation and error pages. Its session
// is a bare key (Redis GET, or one SELECT on the sessions table): the
// floor. Configuration is the shop's (ADDR, SESSION_STORE, DATABASE_URL,
// REDIS_URL, REDIS_KEY_PREFIX, REPLICA_NAME, SESSION_IDLE_TIMEOUT).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/platform/postgres"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 && args[0] != "serve" {
		return fmt.Errorf("usage: floor [serve] (configured like the shop: ADDR, SESSION_STORE, DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX)")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil)).With("replica", cfg.ReplicaName)
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	f := &floor{replica: cfg.ReplicaName, idle: cfg.SessionIdleTimeout, db: db}
	var store cart.Store
	switch cfg.SessionStore {
	case config.StoreRedis:
		if f.redis, err = platformredis.Open(ctx, cfg.RedisURL); err != nil {
			return err
		}
		defer f.redis.Close()
		f.prefix = cfg.RedisKeyPrefix + "floor-session:"
		store = cart.NewRedisStore(f.redis, cfg.RedisKeyPrefix, cfg.CartTTL)
	case config.StorePostgres:
		store = cart.NewPostgresStore(db)
	default:
		return fmt.Errorf("SESSION_STORE=%s: the floor runs on redis or postgres", cfg.SessionStore)
	}
	f.products = catalog.NewStore(db)
	f.carts = cart.NewService(store, f.products)

	srv := &http.Server{Handler: f.routes(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	logger.Info("floor listening", "addr", ln.Addr().String(), "session_store", cfg.SessionStore)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}

type floor struct {
	replica  string
	idle     time.Duration
	db       *pgxpool.Pool
	redis    *redis.Pool // nil on postgres
	prefix   string
	products *catalog.Store
	carts    *cart.Service
}

func (f *floor) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		f.json(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		f.json(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("POST /signup", f.signup)
	mux.HandleFunc("GET /{$}", f.catalog)
	mux.HandleFunc("GET /cart", f.cart)
	mux.HandleFunc("POST /cart/items", f.add)
	mux.HandleFunc("POST /cart/items/{id}", f.set)
	return mux
}

func (f *floor) json(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encode"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Served-By", f.replica)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (f *floor) fail(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "internal"
	if e := apperr.As(err); e != nil {
		switch e.Kind {
		case apperr.KindInvalid:
			status, code = http.StatusUnprocessableEntity, e.Code
		case apperr.KindNotFound:
			status, code = http.StatusNotFound, e.Code
		case apperr.KindUnavailable:
			status, code = http.StatusServiceUnavailable, "unavailable"
		}
	}
	f.json(w, status, map[string]any{"error": map[string]string{"code": code, "message": http.StatusText(status)}})
}

var errNoSession = apperr.Invalid("no_session", "sign up first", nil)

// session reads the cart key of the request's session: one round trip.
func (f *floor) session(r *http.Request) (cart.Key, error) {
	ck, err := r.Cookie("session")
	if err != nil {
		return "", errNoSession
	}
	ctx := r.Context()
	var data []byte
	if f.redis != nil {
		err = platformredis.Do(ctx, f.redis, "find session", func(c redis.Conn) error {
			var err error
			data, err = redis.Bytes(redis.DoContext(c, ctx, "GET", f.prefix+ck.Value))
			if errors.Is(err, redis.ErrNil) {
				return nil
			}
			return err
		})
	} else {
		err = f.db.QueryRow(ctx, `SELECT data FROM sessions WHERE token = $1 AND expiry > now()`, ck.Value).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
		err = postgres.Error("find session", err, nil)
	}
	if err != nil {
		return "", err
	}
	if len(data) == 0 {
		return "", errNoSession
	}
	return cart.Key(data), nil
}

// signup starts a session holding a new cart key: one write.
func (f *floor) signup(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	id, err := cart.NewGuestID()
	if err != nil {
		f.fail(w, err)
		return
	}
	key := "f:" + id
	ctx := r.Context()
	if f.redis != nil {
		err = platformredis.Do(ctx, f.redis, "create session", func(c redis.Conn) error {
			_, err := redis.DoContext(c, ctx, "SET", f.prefix+token, key, "PX", f.idle.Milliseconds())
			return err
		})
	} else {
		_, err = f.db.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, $2, now() + $3::interval)`,
			token, []byte(key), f.idle.String())
		err = postgres.Error("create session", err, nil)
	}
	if err != nil {
		f.fail(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	f.json(w, http.StatusOK, map[string]string{"status": "signed up"})
}

func (f *floor) catalog(w http.ResponseWriter, r *http.Request) {
	if _, err := f.session(r); err != nil && err != errNoSession {
		f.fail(w, err)
		return
	}
	ps, err := f.products.List(r.Context())
	if err != nil {
		f.fail(w, err)
		return
	}
	f.json(w, http.StatusOK, map[string]any{"products": ps})
}

func (f *floor) view(w http.ResponseWriter, r *http.Request, key cart.Key) {
	v, err := f.carts.View(r.Context(), key)
	if err != nil {
		f.fail(w, err)
		return
	}
	f.json(w, http.StatusOK, v)
}

func (f *floor) cart(w http.ResponseWriter, r *http.Request) {
	key, err := f.session(r)
	if err != nil {
		f.fail(w, err)
		return
	}
	f.view(w, r, key)
}

func (f *floor) add(w http.ResponseWriter, r *http.Request) {
	key, err := f.session(r)
	if err != nil {
		f.fail(w, err)
		return
	}
	id, err := cart.ParseProductID(r.FormValue("product_id"))
	if err != nil {
		f.fail(w, err)
		return
	}
	qty, err := cart.ParseQuantity(r.FormValue("quantity"), 1, 1)
	if err != nil {
		f.fail(w, err)
		return
	}
	if _, _, _, err := f.carts.AddOnce(r.Context(), key, id, qty, strings.TrimSpace(r.FormValue("idempotency_key"))); err != nil {
		f.fail(w, err)
		return
	}
	f.view(w, r, key)
}

func (f *floor) set(w http.ResponseWriter, r *http.Request) {
	key, err := f.session(r)
	if err != nil {
		f.fail(w, err)
		return
	}
	id, err := cart.ParseProductID(r.PathValue("id"))
	if err != nil {
		f.fail(w, err)
		return
	}
	qty, err := cart.ParseQuantity(r.FormValue("quantity"), -1, 0)
	if err == nil && qty < 0 {
		err = apperr.Invalid("invalid_quantity", "Enter a quantity.", nil)
	}
	if err != nil {
		f.fail(w, err)
		return
	}
	if _, _, err := f.carts.Set(r.Context(), key, id, qty); err != nil {
		f.fail(w, err)
		return
	}
	f.view(w, r, key)
}
