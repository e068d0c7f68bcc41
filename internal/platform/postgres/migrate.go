package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/the-shop/shop/migrations"
)

// migrationLockID is the advisory lock that serialises migrations across
// replicas; any constant unique to the shop will do.
const migrationLockID = 0x73686f70 // "shop"

// Migrator runs the embedded migrations. Several replicas may run Up at the
// same moment: a Postgres session-level advisory lock lets exactly one apply
// each migration while the others wait and then find nothing to do.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
}

// NewMigrator builds a goose Provider over the pool's database.
func NewMigrator(pool *pgxpool.Pool, logger *slog.Logger) (*Migrator, error) {
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrationLockID),
		// Retry every second for up to five minutes: a replica waits for
		// another's long migration instead of failing its start.
		lock.WithLockTimeout(1, 300),
	)
	if err != nil {
		return nil, fmt.Errorf("create migration locker: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, opts...)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return &Migrator{db: db, provider: p}, nil
}

// Up applies every pending migration and returns how many it applied.
func (m *Migrator) Up(ctx context.Context) (int, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("migrate up: %w", err)
	}
	return len(res), nil
}

// Down rolls back the newest applied migration.
func (m *Migrator) Down(ctx context.Context) (*goose.MigrationResult, error) {
	res, err := m.provider.Down(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate down: %w", err)
	}
	return res, nil
}

// Reset rolls back every applied migration.
func (m *Migrator) Reset(ctx context.Context) (int, error) {
	res, err := m.provider.DownTo(ctx, 0)
	if err != nil {
		return len(res), fmt.Errorf("migrate reset: %w", err)
	}
	return len(res), nil
}

// Status lists every migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	return st, nil
}

// Close releases the database handle (not the pool it came from).
func (m *Migrator) Close() error { return m.db.Close() }
