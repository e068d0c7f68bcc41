package cart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/platform/postgres"
)

// PostgresStore keeps carts in the carts and cart_items tables. Every change
// is a single statement (an upsert through data-modifying CTEs), so it is
// atomic without an explicit transaction and costs one round trip.
type PostgresStore struct {
	db *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a store on db.
func NewPostgresStore(db *pgxpool.Pool) *PostgresStore { return &PostgresStore{db: db} }

// Lines implements Store.
func (s *PostgresStore) Lines(ctx context.Context, key Key) ([]Line, error) {
	rows, err := s.db.Query(ctx, `SELECT product_id, quantity FROM cart_items WHERE cart_key = $1`, string(key))
	if err != nil {
		return nil, postgres.Error("load cart "+string(key), err, nil)
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Line, error) {
		var l Line
		err := r.Scan(&l.ProductID, &l.Quantity)
		return l, err
	})
	if err != nil {
		return nil, postgres.Error("load cart "+string(key), err, nil)
	}
	return lines, nil
}

// touchCart is the CTE that creates the cart row or marks it as changed.
const touchCart = `c AS (
	INSERT INTO carts (key) VALUES ($1)
	ON CONFLICT (key) DO UPDATE SET updated_at = now()
	RETURNING key
)`

// Add implements Store.
func (s *PostgresStore) Add(ctx context.Context, key Key, productID int64, qty int) (int, error) {
	n, _, err := s.AddUpTo(ctx, key, productID, qty, MaxQuantity, "")
	return n, err
}

// AddOnce implements Store.
func (s *PostgresStore) AddOnce(ctx context.Context, key Key, productID int64, qty int, idem string) (int, bool, error) {
	return s.AddUpTo(ctx, key, productID, qty, MaxQuantity, idem)
}

// add adds without an idempotency key, capping the line at limit.
func (s *PostgresStore) add(ctx context.Context, key Key, productID int64, qty, limit int) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `WITH `+touchCart+`
		INSERT INTO cart_items (cart_key, product_id, quantity)
		SELECT c.key, $2, LEAST($3::int, $4::int) FROM c
		ON CONFLICT (cart_key, product_id)
		DO UPDATE SET quantity = LEAST(cart_items.quantity + EXCLUDED.quantity, $4::int)
		RETURNING quantity`,
		string(key), productID, qty, limit,
	).Scan(&n)
	if err != nil {
		return 0, postgres.Error("add to cart "+string(key), err, nil)
	}
	return n, nil
}

// AddUpTo implements Store. With a key, the key and the request's
// fingerprint are inserted by the same statement that changes the line;
// when the key already exists the data-modifying CTEs that follow select
// nothing, so nothing changes, and the fingerprint it was recorded with
// tells a retry from a different request.
func (s *PostgresStore) AddUpTo(ctx context.Context, key Key, productID int64, qty, limit int, idem string) (int, bool, error) {
	limit = min(limit, MaxQuantity)
	if idem == "" {
		n, err := s.add(ctx, key, productID, qty, limit)
		return n, err == nil, err
	}
	what := "add to cart " + string(key)
	var n int
	err := s.db.QueryRow(ctx, `WITH
		k AS (
			INSERT INTO idempotency_keys (key, expires_at, fingerprint) VALUES ($5, now() + $6::interval, $7)
			ON CONFLICT (key) DO NOTHING
			RETURNING 1
		),
		c AS (
			INSERT INTO carts (key) SELECT $1 FROM k
			ON CONFLICT (key) DO UPDATE SET updated_at = now()
			RETURNING key
		)
		INSERT INTO cart_items (cart_key, product_id, quantity)
		SELECT c.key, $2, LEAST($3::int, $4::int) FROM c
		ON CONFLICT (cart_key, product_id)
		DO UPDATE SET quantity = LEAST(cart_items.quantity + EXCLUDED.quantity, $4::int)
		RETURNING quantity`,
		string(key), productID, qty, limit, idemKey(key, idem), IdempotencyTTL.String(), fingerprint(productID, qty),
	).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		// Seen before: refuse another request under the key, report the
		// line as it is now to a retry. A key recorded before fingerprints
		// existed (NULL) counts as the same request.
		var fp *string
		err = s.db.QueryRow(ctx, `SELECT
			(SELECT fingerprint FROM idempotency_keys WHERE key = $3),
			COALESCE((SELECT quantity FROM cart_items WHERE cart_key = $1 AND product_id = $2), 0)`,
			string(key), productID, idemKey(key, idem)).Scan(&fp, &n)
		if err != nil {
			return 0, false, postgres.Error(what, err, nil)
		}
		if fp != nil && *fp != fingerprint(productID, qty) {
			return 0, false, ErrIdempotencyKeyReused
		}
		return n, false, nil
	}
	if err != nil {
		return 0, false, postgres.Error(what, err, nil)
	}
	return n, true, nil
}

// Set implements Store.
func (s *PostgresStore) Set(ctx context.Context, key Key, productID int64, qty int) error {
	if qty == 0 {
		return s.Remove(ctx, key, productID)
	}
	_, err := s.db.Exec(ctx, `WITH `+touchCart+`
		INSERT INTO cart_items (cart_key, product_id, quantity)
		SELECT c.key, $2, $3 FROM c
		ON CONFLICT (cart_key, product_id) DO UPDATE SET quantity = EXCLUDED.quantity`,
		string(key), productID, qty,
	)
	return postgres.Error("set cart line "+string(key), err, nil)
}

// Remove implements Store.
func (s *PostgresStore) Remove(ctx context.Context, key Key, productID int64) error {
	_, err := s.db.Exec(ctx, `DELETE FROM cart_items WHERE cart_key = $1 AND product_id = $2`, string(key), productID)
	return postgres.Error("remove cart line "+string(key), err, nil)
}

// Merge implements Store. It runs in one transaction that first locks the
// guest cart's row. Every Add and Set upserts that row before touching a
// line, so while the lock is held no line of the guest cart can change: a
// concurrent add lands either before the merge (and is moved) or after it
// (and stays in a new guest cart), never in between where the cascade from
// deleting the cart would drop it.
func (s *PostgresStore) Merge(ctx context.Context, from, to Key) error {
	what := fmt.Sprintf("merge cart %s into %s", from, to)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return postgres.Error(what, err, nil)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// Lock the source cart's row, making one if there is none: an add to
	// it waits until the merge is done and then starts the cart anew, so
	// it can never slip a line in between the move below and the delete
	// of the row (whose cascade would take that line along). A row-level
	// FOR UPDATE alone locks nothing when the cart has no row yet.
	if _, err := tx.Exec(ctx, `INSERT INTO carts (key) VALUES ($1)
		ON CONFLICT (key) DO UPDATE SET updated_at = carts.updated_at`, string(from)); err != nil {
		return postgres.Error(what, err, nil)
	}
	if _, err := tx.Exec(ctx, `WITH
		moved AS (DELETE FROM cart_items WHERE cart_key = $1 RETURNING product_id, quantity),
		c AS (
			INSERT INTO carts (key) SELECT $2 WHERE EXISTS (SELECT 1 FROM moved)
			ON CONFLICT (key) DO UPDATE SET updated_at = now()
			RETURNING key
		)
		INSERT INTO cart_items (cart_key, product_id, quantity)
		SELECT c.key, moved.product_id, moved.quantity FROM moved, c
		ON CONFLICT (cart_key, product_id)
		DO UPDATE SET quantity = LEAST(cart_items.quantity + EXCLUDED.quantity, $3::int)`,
		string(from), string(to), MaxQuantity,
	); err != nil {
		return postgres.Error(what, err, nil)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM carts WHERE key = $1`, string(from)); err != nil {
		return postgres.Error(what, err, nil)
	}
	return postgres.Error(what, tx.Commit(ctx), nil)
}

// Clear implements Store.
func (s *PostgresStore) Clear(ctx context.Context, key Key) error {
	_, err := s.db.Exec(ctx, `DELETE FROM carts WHERE key = $1`, string(key))
	return postgres.Error("clear cart "+string(key), err, nil)
}

// Snapshot implements Store. One statement reads the lines and the
// generation from the same snapshot of the database.
func (s *PostgresStore) Snapshot(ctx context.Context, key Key) ([]Line, int64, error) {
	what := "snapshot cart " + string(key)
	rows, err := s.db.Query(ctx, `SELECT c.generation, i.product_id, i.quantity
		FROM carts c JOIN cart_items i ON i.cart_key = c.key
		WHERE c.key = $1`, string(key))
	if err != nil {
		return nil, 0, postgres.Error(what, err, nil)
	}
	var gen int64
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Line, error) {
		var l Line
		err := r.Scan(&gen, &l.ProductID, &l.Quantity)
		return l, err
	})
	if err != nil {
		return nil, 0, postgres.Error(what, err, nil)
	}
	return lines, gen, nil
}

// CompleteCheckout implements Store. The transaction first moves the cart
// row to the next generation, which also locks it: every Add and Set upserts
// that row before touching a line, so no line can grow while the ordered
// quantities are subtracted, and a second completion of the same
// generation finds no row to update and changes nothing.
func (s *PostgresStore) CompleteCheckout(ctx context.Context, key Key, gen int64, ordered []Line) error {
	if gen == 0 {
		return nil // a cart without lines has nothing to complete
	}
	what := "complete checkout of cart " + string(key)
	ids := make([]int64, len(ordered))
	qtys := make([]int32, len(ordered))
	for i, l := range ordered {
		ids[i], qtys[i] = l.ProductID, int32(l.Quantity)
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return postgres.Error(what, err, nil)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	tag, err := tx.Exec(ctx, `UPDATE carts SET generation = generation + 1, updated_at = now()
		WHERE key = $1 AND generation = $2`, string(key), gen)
	if err != nil {
		return postgres.Error(what, err, nil)
	}
	if tag.RowsAffected() == 0 {
		return nil // completed already, or the cart is gone
	}
	if _, err := tx.Exec(ctx, `DELETE FROM cart_items i
		USING unnest($2::bigint[], $3::int[]) AS o (product_id, quantity)
		WHERE i.cart_key = $1 AND i.product_id = o.product_id AND i.quantity <= o.quantity`,
		string(key), ids, qtys); err != nil {
		return postgres.Error(what, err, nil)
	}
	if _, err := tx.Exec(ctx, `UPDATE cart_items i SET quantity = i.quantity - o.quantity
		FROM unnest($2::bigint[], $3::int[]) AS o (product_id, quantity)
		WHERE i.cart_key = $1 AND i.product_id = o.product_id`,
		string(key), ids, qtys); err != nil {
		return postgres.Error(what, err, nil)
	}
	return postgres.Error(what, tx.Commit(ctx), nil)
}

// DeleteAbandoned removes at most limit guest carts (with their lines) that
// have not changed for ttl (config.GuestCartTTL: no session can reach
// them any more), and returns how many it removed; the cleanup
// job calls it in batches. Account carts stay: they are the account's
// until it empties them.
func (s *PostgresStore) DeleteAbandoned(ctx context.Context, ttl time.Duration, limit int) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM carts WHERE key IN (SELECT key FROM carts WHERE key LIKE 'g:%' AND updated_at < now() - $2::interval LIMIT $1)`,
		limit, ttl.String())
	if err != nil {
		return 0, postgres.Error("delete abandoned guest carts", err, nil)
	}
	return tag.RowsAffected(), nil
}

// DeleteExpiredKeys removes at most limit idempotency keys whose time has
// passed, and returns how many it removed; the cleanup job calls it in
// batches.
func (s *PostgresStore) DeleteExpiredKeys(ctx context.Context, limit int) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE expires_at < now() LIMIT $1)`, limit)
	if err != nil {
		return 0, postgres.Error("delete expired idempotency keys", err, nil)
	}
	return tag.RowsAffected(), nil
}
