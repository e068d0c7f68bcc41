// Package cleanup removes what has expired: PostgreSQL sessions, abandoned
// guest carts, stale idempotency keys and login-failure counters, and the
// entries of expired sessions in Redis session indexes. It deletes in
// bounded batches, so no statement holds locks for long, and only one
// replica at a time runs a pass (a PostgreSQL advisory lock).
package cleanup

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/session"
)

// lockID is the advisory lock held during a pass; any constant unique to
// the shop's locks will do.
const lockID = 0x73686f7001 // "shop" + 1

// Defaults of a Job.
const (
	DefaultBatch = 1000
	DefaultPause = 10 * time.Millisecond
)

// Job is one kind of cleanup pass, configured once.
type Job struct {
	DB *pgxpool.Pool
	// Redis and RedisPrefix, when set, have the pass prune Redis session
	// indexes too.
	Redis       *redis.Pool
	RedisPrefix string
	// CartTTL is how long a guest cart may go unchanged.
	CartTTL time.Duration
	// Batch is the most rows one statement deletes; Pause is the rest
	// between two batches, which lets other work through.
	Batch int
	Pause time.Duration
	// Logger, when set, gets one line per pass.
	Logger *slog.Logger
	// Observer, when set, is told the result of every pass (metrics).
	Observer func(Result)
}

// Result is what one pass did.
type Result struct {
	// Ran is false when another replica held the lock and this pass did
	// nothing.
	Ran             bool
	Sessions        int64
	Carts           int64
	IdempotencyKeys int64
	LoginFailures   int64
	IndexEntries    int64
	Batches         int
	// LongestBatch is the slowest single delete statement.
	LongestBatch time.Duration
	Took         time.Duration
}

// Removed is the number of rows and entries the pass removed.
func (r Result) Removed() int64 {
	return r.Sessions + r.Carts + r.IdempotencyKeys + r.LoginFailures + r.IndexEntries
}

// Run makes one pass, unless another replica is making one.
func (j *Job) Run(ctx context.Context) (Result, error) {
	start := time.Now()
	res, err := j.run(ctx)
	res.Took = time.Since(start)
	if j.Logger != nil {
		switch {
		case err != nil:
			j.Logger.Error("cleanup pass failed", "err", err, "took", res.Took)
		case !res.Ran:
			j.Logger.Info("cleanup pass skipped: another replica is running one")
		default:
			j.Logger.Info("cleanup pass", "sessions", res.Sessions, "carts", res.Carts,
				"idempotency_keys", res.IdempotencyKeys, "login_failures", res.LoginFailures,
				"index_entries", res.IndexEntries, "batches", res.Batches,
				"longest_batch", res.LongestBatch, "took", res.Took)
		}
	}
	if j.Observer != nil && err == nil {
		j.Observer(res)
	}
	return res, err
}

func (j *Job) run(ctx context.Context) (Result, error) {
	var res Result
	conn, err := j.DB.Acquire(ctx)
	if err != nil {
		return res, postgres.Error("cleanup: acquire a connection", err, nil)
	}
	defer conn.Release()
	// A session-level lock on this connection: if the replica dies, the
	// connection closes and the lock goes with it.
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockID).Scan(&res.Ran); err != nil {
		return res, postgres.Error("cleanup: take the lock", err, nil)
	}
	if !res.Ran {
		return res, nil
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockID)
	}()

	steps := []struct {
		name  string
		count *int64
		sql   string
		args  []any
	}{
		{"sessions", &res.Sessions,
			`DELETE FROM sessions WHERE token IN (SELECT token FROM sessions WHERE expiry < now() LIMIT $1)`, nil},
		{"guest carts", &res.Carts,
			`DELETE FROM carts WHERE key IN (SELECT key FROM carts WHERE key LIKE 'g:%' AND updated_at < now() - $2::interval LIMIT $1)`,
			[]any{j.CartTTL.String()}},
		{"idempotency keys", &res.IdempotencyKeys,
			`DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE expires_at < now() LIMIT $1)`, nil},
		{"login failures", &res.LoginFailures,
			`DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures WHERE expires_at < now() LIMIT $1)`, nil},
	}
	batch := j.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	for _, s := range steps {
		for {
			t := time.Now()
			tag, err := j.DB.Exec(ctx, s.sql, append([]any{batch}, s.args...)...)
			if err != nil {
				return res, postgres.Error("cleanup: delete expired "+s.name, err, nil)
			}
			res.Batches++
			res.LongestBatch = max(res.LongestBatch, time.Since(t))
			*s.count += tag.RowsAffected()
			if tag.RowsAffected() < int64(batch) {
				break
			}
			if err := sleep(ctx, j.Pause); err != nil {
				return res, err
			}
		}
	}
	if j.Redis != nil {
		n, err := session.PruneRedisIndexes(ctx, j.Redis, j.RedisPrefix)
		res.IndexEntries = int64(n)
		if err != nil {
			return res, fmt.Errorf("cleanup: %w", err)
		}
	}
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Schedule makes a pass every interval, plus up to a tenth of it at random,
// so that replicas started together do not all reach for the lock at the
// same moment, until ctx ends.
func (j *Job) Schedule(ctx context.Context, interval time.Duration) {
	for {
		wait := interval + rand.N(interval/10+1)
		if sleep(ctx, wait) != nil {
			return
		}
		_, _ = j.Run(ctx) // Run logs its own failures; the next pass tries again
	}
}
