// Package cleanup runs the passes that remove what has expired. It knows
// the mechanics only: one replica at a time (a PostgreSQL advisory lock),
// bounded batches so that no statement holds locks for long, a pause
// between batches, a jittered schedule and a count per step. What expires
// and how it is deleted belongs to the package that owns the data: each
// one exports a delete function, and the composition root lists them as
// Steps.
package cleanup

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/platform/postgres"
)

// lockID is the advisory lock held during a pass; any constant unique to
// the shop's locks will do.
const lockID = 0x73686f7001 // "shop" + 1

// Defaults of a Job.
const (
	DefaultBatch = 1000
	DefaultPause = 10 * time.Millisecond
)

// Step is one kind of expired thing and how its owner deletes it.
type Step struct {
	// Name says what the step removes ("sessions", "guest_carts"); it
	// names the step in the log line, in Result and in metrics.
	Name string
	// Delete removes at most limit expired items and returns how many it
	// removed. The pass calls it again, after a pause, as long as it
	// removes limit or more; fewer means nothing is left.
	Delete func(ctx context.Context, limit int) (int64, error)
}

// Job is one kind of cleanup pass, configured once.
type Job struct {
	// DB holds the advisory lock that keeps passes to one replica at a
	// time; the steps may delete from anywhere.
	DB    *pgxpool.Pool
	Steps []Step
	// Batch is the most items one Delete call removes; Pause is the rest
	// between two batches, which lets other work through.
	Batch int
	Pause time.Duration
	// Logger, when set, gets one line per pass.
	Logger *slog.Logger
	// Observer, when set, is told the result of every pass (metrics).
	Observer func(Result)
}

// Removed is what one step of a pass removed.
type Removed struct {
	Step string
	N    int64
}

// Result is what one pass did.
type Result struct {
	// Ran is false when another replica held the lock and this pass did
	// nothing.
	Ran bool
	// Steps holds one entry per step of the job, in the job's order
	// (fewer when the pass failed part-way).
	Steps   []Removed
	Batches int
	// LongestBatch is the slowest single Delete call.
	LongestBatch time.Duration
	Took         time.Duration
}

// Of is the number of items the named step removed (0 for a step the
// pass did not run).
func (r Result) Of(step string) int64 {
	for _, s := range r.Steps {
		if s.Step == step {
			return s.N
		}
	}
	return 0
}

// Removed is the number of items the pass removed, over all steps.
func (r Result) Removed() int64 {
	var n int64
	for _, s := range r.Steps {
		n += s.N
	}
	return n
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
			attrs := make([]any, 0, 2*len(res.Steps)+6)
			for _, s := range res.Steps {
				attrs = append(attrs, s.Step, s.N)
			}
			attrs = append(attrs, "batches", res.Batches, "longest_batch", res.LongestBatch, "took", res.Took)
			j.Logger.Info("cleanup pass", attrs...)
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

	batch := j.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	for _, s := range j.Steps {
		res.Steps = append(res.Steps, Removed{Step: s.Name})
		removed := &res.Steps[len(res.Steps)-1].N
		for {
			t := time.Now()
			n, err := s.Delete(ctx, batch)
			res.Batches++
			res.LongestBatch = max(res.LongestBatch, time.Since(t))
			*removed += n
			if err != nil {
				return res, fmt.Errorf("cleanup %s: %w", s.Name, err)
			}
			if n < int64(batch) {
				break
			}
			if err := sleep(ctx, j.Pause); err != nil {
				return res, err
			}
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
