// Package postgres opens the shop's PostgreSQL pool, runs its migrations and
// turns driver errors into domain errors.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/apperr"
)

// Open connects a pool to url and checks that the server answers. A server
// that is down at start is an error: the caller decides whether to retry.
// configure, if given, adjusts the pool's configuration first (cmd/shop
// adds the metrics' query tracer).
func Open(ctx context.Context, url string, configure ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	// Fail fast when the server is gone instead of hanging a request for the
	// OS's connect timeout; readiness and the 503 page depend on it.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 3*time.Second {
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	cfg.HealthCheckPeriod = 15 * time.Second
	for _, f := range configure {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create postgres pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres at %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// Error turns a driver error into a domain error where one fits, and wraps it
// with what the caller was doing otherwise. notFound is returned for
// pgx.ErrNoRows (nil keeps the driver error).
func Error(what string, err error, notFound *apperr.Error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) && notFound != nil {
		return notFound
	}
	if IsUnavailable(err) {
		return apperr.Unavailable(what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// IsUnavailable reports whether err means the database cannot be reached or
// is shutting down, as opposed to a problem with the query.
func IsUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01..57P03: admin shutdown,
		// crash shutdown, cannot connect now.
		return pgErr.Code[:2] == "08" || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err)
}

// UniqueViolation reports whether err is a unique constraint violation
// (SQLSTATE 23505).
func UniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// ForeignKeyViolation reports whether err is a foreign key violation
// (SQLSTATE 23503).
func ForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
