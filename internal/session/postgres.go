package session

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/platform/postgres"
)

// postgresBackend keeps sessions in the sessions table; the user_id column
// with its index is the per-account index.
type postgresBackend struct {
	db *pgxpool.Pool
}

var _ backend = (*postgresBackend)(nil)

func (s *postgresBackend) find(ctx context.Context, id string) ([]byte, stored, bool, error) {
	var b []byte
	var st stored
	err := s.db.QueryRow(ctx, `SELECT data, expiry, last_seen FROM sessions WHERE token = $1 AND expiry > now()`, id).
		Scan(&b, &st.expiry, &st.lastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, stored{}, false, nil
	}
	if err != nil {
		return nil, stored{}, false, postgres.Error("find session", err, nil)
	}
	return b, st, true, nil
}

func (s *postgresBackend) commit(ctx context.Context, id string, data []byte, in Info) error {
	var userID *int64
	if in.UserID != 0 {
		userID = &in.UserID
	}
	_, err := s.db.Exec(ctx, `INSERT INTO sessions (token, user_id, data, expiry, created_at, last_seen, ip, user_agent, replica)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, data = EXCLUDED.data, expiry = EXCLUDED.expiry,
			last_seen = EXCLUDED.last_seen, ip = EXCLUDED.ip, user_agent = EXCLUDED.user_agent, replica = EXCLUDED.replica`,
		id, userID, data, in.Expiry, in.CreatedAt, in.LastSeen, in.IP, in.UserAgent, in.Replica)
	return postgres.Error("commit session", err, nil)
}

func (s *postgresBackend) touch(ctx context.Context, id string, in Info) error {
	_, err := s.db.Exec(ctx, `UPDATE sessions SET expiry = $2, last_seen = $3, replica = $4, ip = $5
		WHERE token = $1 AND expiry > now()`, id, in.Expiry, in.LastSeen, in.Replica, in.IP)
	return postgres.Error("touch session", err, nil)
}

func (s *postgresBackend) delete(ctx context.Context, id string, _ int64) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, id)
	return postgres.Error("delete session", err, nil)
}

func (s *postgresBackend) list(ctx context.Context, userID int64) ([]Info, error) {
	rows, err := s.db.Query(ctx, `SELECT token, user_id, created_at, last_seen, expiry, ip, user_agent, replica
		FROM sessions WHERE user_id = $1 AND expiry > now()`, userID)
	if err != nil {
		return nil, postgres.Error("list sessions", err, nil)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Info, error) {
		var in Info
		err := r.Scan(&in.ID, &in.UserID, &in.CreatedAt, &in.LastSeen, &in.Expiry, &in.IP, &in.UserAgent, &in.Replica)
		return in, err
	})
	return out, postgres.Error("list sessions", err, nil)
}

// DeleteExpired removes at most limit sessions whose expiry has passed from
// the sessions table, and returns how many it removed; the cleanup job
// calls it in batches. Reads already ignore expired rows, so this only
// keeps the table small.
func DeleteExpired(ctx context.Context, db *pgxpool.Pool, limit int) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM sessions WHERE token IN (SELECT token FROM sessions WHERE expiry < now() LIMIT $1)`, limit)
	if err != nil {
		return 0, postgres.Error("delete expired sessions", err, nil)
	}
	return tag.RowsAffected(), nil
}
