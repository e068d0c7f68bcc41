package metrics_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/metrics"
)

func TestQueryName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ sql, want string }{
		{`SELECT id, sku, name FROM products ORDER BY id`, "select products"},
		{`SELECT data, expiry, last_seen FROM sessions WHERE token = $1 AND expiry > now()`, "select sessions"},
		{"  \n\tselect c.generation, i.product_id FROM carts c JOIN cart_items i ON i.cart_key = c.key", "select carts"},
		{`SELECT COALESCE((SELECT quantity FROM cart_items WHERE cart_key = $1), 0)`, "select"},
		{`SELECT pg_try_advisory_lock($1)`, "select"},
		{`INSERT INTO sessions (token, data) VALUES ($1, $2) ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data`, "insert sessions"},
		{`UPDATE sessions SET expiry = $2 WHERE token = $1`, "update sessions"},
		{`DELETE FROM sessions WHERE token IN (SELECT token FROM sessions WHERE expiry < now() LIMIT $1)`, "delete sessions"},
		{`WITH c AS (
			INSERT INTO carts (key) VALUES ($1)
			ON CONFLICT (key) DO UPDATE SET updated_at = now()
			RETURNING key
		)
		INSERT INTO cart_items (cart_key, product_id, quantity)
		SELECT c.key, $2, LEAST($3::int, $4::int) FROM c`, "insert cart_items"},
		{`WITH k AS (INSERT INTO idempotency_keys (key) VALUES ('a)b') RETURNING 1), c AS (SELECT 1) UPDATE carts SET x = 1`, "update carts"},
		{`begin`, "begin"},
		{``, "empty"},
	} {
		if got := metrics.QueryName(tc.sql); got != tc.want {
			t.Errorf("QueryName(%.40q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}

func TestObservers(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	sobs := m.StoreObserver(metrics.KindSession, "redis")
	sobs("find", time.Millisecond, nil)
	sobs("find", time.Millisecond, errors.New("down"))
	m.StoreObserver(metrics.KindCart, "redis")("add_once", time.Millisecond, nil)
	m.SessionEvent("created")
	m.ThrottleEvent("refused")
	m.CleanupPass(true)
	m.CleanupRemoved("sessions", 3)
	m.CleanupRemoved("guest_carts", 2)
	m.CleanupPass(false)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`shop_store_errors_total{kind="session",op="find",store="redis"} 1`,
		`shop_store_operations_total{kind="cart",op="add_once",store="redis"} 1`,
		`shop_store_operations_total{kind="session",op="find",store="redis"} 2`,
		`shop_store_operation_duration_seconds_count{kind="session",op="find",store="redis"} 2`,
		`shop_sessions_total{event="created"} 1`,
		`shop_login_throttle_events_total{event="refused"} 1`,
		`shop_cleanup_passes_total{result="ran"} 1`,
		`shop_cleanup_passes_total{result="skipped"} 1`,
		`shop_cleanup_removed_total{what="sessions"} 3`,
		`shop_cleanup_removed_total{what="guest_carts"} 2`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
