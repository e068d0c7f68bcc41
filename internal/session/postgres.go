package session

import (
	"context"
	"errors"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/platform/postgres"
)

// PostgresStore is an scs store on the sessions table. Unlike scs's
// pgxstore it also records the session's user id, which the commit passes in
// the context, so an account's sessions can be listed and revoked with an
// index lookup instead of a scan.
type PostgresStore struct {
	db *pgxpool.Pool
}

var _ scs.CtxStore = (*PostgresStore)(nil)

// NewPostgresStore returns a store on db (the sessions table comes from the
// migrations).
func NewPostgresStore(db *pgxpool.Pool) *PostgresStore { return &PostgresStore{db: db} }

// FindCtx implements scs.CtxStore.
func (s *PostgresStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var b []byte
	err := s.db.QueryRow(ctx, `SELECT data FROM sessions WHERE token = $1 AND expiry > now()`, token).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, postgres.Error("find session", err, nil)
	}
	return b, true, nil
}

// CommitCtx implements scs.CtxStore.
func (s *PostgresStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	var userID *int64
	if id := commitInfoFrom(ctx).userID; id != 0 {
		userID = &id
	}
	_, err := s.db.Exec(ctx, `INSERT INTO sessions (token, user_id, data, expiry) VALUES ($1, $2, $3, $4)
		ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, data = EXCLUDED.data, expiry = EXCLUDED.expiry`,
		token, userID, b, expiry)
	return postgres.Error("commit session", err, nil)
}

// DeleteCtx implements scs.CtxStore.
func (s *PostgresStore) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, token)
	return postgres.Error("delete session", err, nil)
}

// The context-less methods satisfy scs.Store; scs calls the Ctx variants.

// Find implements scs.Store.
func (s *PostgresStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store.
func (s *PostgresStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store.
func (s *PostgresStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}
