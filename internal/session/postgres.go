package session

import (
	"context"
	"errors"
	"time"

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
	err := s.db.QueryRow(ctx, `SELECT data, expiry, last_seen, version FROM sessions
		WHERE token = $1 AND expiry > now() AND renewed_to IS NULL`, id).
		Scan(&b, &st.expiry, &st.lastSeen, &st.version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, stored{}, false, nil
	}
	if err != nil {
		return nil, stored{}, false, postgres.Error("find session", err, nil)
	}
	return b, st, true, nil
}

func (s *postgresBackend) commit(ctx context.Context, id string, data []byte, in Info, expect int64) (int64, error) {
	var userID *int64
	if in.UserID != 0 {
		userID = &in.UserID
	}
	var version int64
	var err error
	if expect == 0 {
		// A new session, or one whose row has expired and not been
		// cleaned up yet; never a live session or a renewal marker.
		err = s.db.QueryRow(ctx, `INSERT INTO sessions (token, user_id, data, expiry, created_at, last_seen, ip, user_agent, replica, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)
			ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, data = EXCLUDED.data, expiry = EXCLUDED.expiry,
				created_at = EXCLUDED.created_at, last_seen = EXCLUDED.last_seen, ip = EXCLUDED.ip,
				user_agent = EXCLUDED.user_agent, replica = EXCLUDED.replica, version = 1, renewed_to = NULL
			WHERE sessions.expiry <= now()
			RETURNING version`,
			id, userID, data, in.Expiry, in.CreatedAt, in.LastSeen, in.IP, in.UserAgent, in.Replica).Scan(&version)
	} else {
		err = s.db.QueryRow(ctx, `UPDATE sessions SET user_id = $2, data = $3, expiry = $4, last_seen = $5, ip = $6,
				user_agent = $7, replica = $8, version = version + 1
			WHERE token = $1 AND version = $9 AND renewed_to IS NULL AND expiry > now()
			RETURNING version`,
			id, userID, data, in.Expiry, in.LastSeen, in.IP, in.UserAgent, in.Replica, expect).Scan(&version)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, s.whyNot(ctx, id)
	}
	if err != nil {
		return 0, postgres.Error("commit session", err, nil)
	}
	return version, nil
}

// whyNot tells why a conditional write matched no row: the session is
// gone (or was renewed), or another request changed it first.
func (s *postgresBackend) whyNot(ctx context.Context, id string) error {
	var renewedTo *string
	err := s.db.QueryRow(ctx, `SELECT renewed_to FROM sessions WHERE token = $1 AND expiry > now()`, id).Scan(&renewedTo)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &gone{}
	case err != nil:
		return postgres.Error("check session", err, nil)
	case renewedTo != nil:
		return &gone{renewed: true, renewedTo: *renewedTo}
	}
	return errStale
}

func (s *postgresBackend) touch(ctx context.Context, id string, in Info) error {
	tag, err := s.db.Exec(ctx, `UPDATE sessions SET expiry = $2, last_seen = $3, replica = $4, ip = $5
		WHERE token = $1 AND expiry > now() AND renewed_to IS NULL`, id, in.Expiry, in.LastSeen, in.Replica, in.IP)
	if err != nil {
		return postgres.Error("touch session", err, nil)
	}
	if tag.RowsAffected() == 0 {
		return s.whyNot(ctx, id)
	}
	return nil
}

func (s *postgresBackend) delete(ctx context.Context, id string, _ owner) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, id)
	return postgres.Error("delete session", err, nil)
}

func (s *postgresBackend) retire(ctx context.Context, id string, _ owner, renewedTo string, ttl time.Duration) error {
	// An upsert: a token nothing is stored under yet (a visitor's pending
	// one) gets its marker too, for a first write of it still in flight.
	_, err := s.db.Exec(ctx, `INSERT INTO sessions (token, data, expiry, renewed_to, version)
		VALUES ($1, '', now() + $3 * interval '1 millisecond', $2, 1)
		ON CONFLICT (token) DO UPDATE SET data = '', user_id = NULL, renewed_to = EXCLUDED.renewed_to,
			expiry = EXCLUDED.expiry, version = sessions.version + 1`, id, renewedTo, ttl.Milliseconds())
	return postgres.Error("retire session", err, nil)
}

func (s *postgresBackend) list(ctx context.Context, o owner) ([]Info, error) {
	rows, err := s.db.Query(ctx, `SELECT token, user_id, created_at, last_seen, expiry, ip, user_agent, replica
		FROM sessions WHERE user_id = $1 AND expiry > now() AND renewed_to IS NULL`, o.userID)
	if err != nil {
		return nil, postgres.Error("list sessions", err, nil)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Info, error) {
		in := Info{Account: o.account}
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
