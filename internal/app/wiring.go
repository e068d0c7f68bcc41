package app

import (
	"context"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/cleanup"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/mail"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/throttle"
)

// This file joins the parts that do not know each other: the cleanup
// steps of the stores, and the stores' observers to metrics (which imports
// no package of the shop).

// Names of the cleanup steps; they are the "what" label of
// shop_cleanup_removed_total.
const (
	StepSessions        = "sessions"
	StepGuestCarts      = "guest_carts"
	StepIdempotencyKeys = "idempotency_keys"
	StepLoginFailures   = "login_failures"
	StepIndexEntries    = "session_index_entries"
	StepAccountTokens   = "account_tokens"
	StepFailedMails     = "failed_mails"
)

// CleanupSteps lists what expires, each deleted by the package that owns
// it. The PostgreSQL tables are swept whatever SESSION_STORE says, as they
// always were (a replica may have written them under another setting);
// then the store kind's own steps (the Redis session indexes).
func CleanupSteps(cfg config.Config, db *pgxpool.Pool, pool *redis.Pool) []cleanup.Step {
	carts := cart.NewPostgresStore(db)
	steps := []cleanup.Step{
		{Name: StepSessions, Delete: func(ctx context.Context, limit int) (int64, error) {
			return session.DeleteExpired(ctx, db, limit)
		}},
		{Name: StepGuestCarts, Delete: func(ctx context.Context, limit int) (int64, error) {
			return carts.DeleteAbandoned(ctx, cfg.GuestCartTTL(), limit)
		}},
		{Name: StepIdempotencyKeys, Delete: carts.DeleteExpiredKeys},
		{Name: StepLoginFailures, Delete: throttle.NewPostgresStore(db).DeleteExpired},
		{Name: StepAccountTokens, Delete: func(ctx context.Context, limit int) (int64, error) {
			return account.DeleteExpiredTokens(ctx, db, limit)
		}},
		{Name: StepFailedMails, Delete: mail.NewOutbox(db).DeleteFailed},
	}
	if k, err := kindOf(cfg.SessionStore); err == nil && k.cleanup != nil {
		steps = append(steps, k.cleanup(cfg, Pools{DB: db, Redis: pool})...)
	}
	return steps
}

// cleanupMetrics counts a pass and what each of its steps removed.
func cleanupMetrics(m *metrics.Metrics) func(cleanup.Result) {
	return func(r cleanup.Result) {
		m.CleanupPass(r.Ran)
		for _, s := range r.Steps {
			m.CleanupRemoved(s.Step, s.N)
		}
	}
}

// sessionMetrics counts the operations of the session store.
func sessionMetrics(m *metrics.Metrics, store string) session.Observer {
	obs := m.StoreObserver(metrics.KindSession, store)
	return func(op session.Op, took time.Duration, err error) { obs(string(op), took, err) }
}

// cartMetrics counts the operations of the cart store.
func cartMetrics(m *metrics.Metrics, store string) cart.Observer {
	obs := m.StoreObserver(metrics.KindCart, store)
	return func(op cart.Op, took time.Duration, err error) { obs(string(op), took, err) }
}

// sessionEventMetrics counts session creations, renewals, logouts and
// revocations.
func sessionEventMetrics(m *metrics.Metrics) func(session.Event) {
	return func(e session.Event) { m.SessionEvent(string(e)) }
}

// throttleMetrics counts login throttling events.
func throttleMetrics(m *metrics.Metrics) func(throttle.Event) {
	return func(e throttle.Event) { m.ThrottleEvent(string(e)) }
}
