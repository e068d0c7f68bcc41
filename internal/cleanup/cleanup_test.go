package cleanup_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/app"
	"github.com/the-shop/shop/internal/cleanup"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// seed inserts n expired sessions, live sessions, guest and account carts
// old and new, and idempotency keys and login failures on both sides of now.
func seed(t *testing.T, db *pgxpool.Pool, expired int) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO sessions (token, data, expiry)
		 SELECT 'expired-' || i, '\x00010203', now() - interval '1 minute' - i * interval '1 millisecond'
		 FROM generate_series(1, ` + itoa(expired) + `) AS i`,
		`INSERT INTO sessions (token, data, expiry)
		 SELECT 'live-' || i, '\x00010203', now() + interval '1 hour' FROM generate_series(1, 1000) AS i`,
		`INSERT INTO carts (key, updated_at) VALUES
		 ('g:old', now() - interval '31 days'), ('g:new', now() - interval '1 hour'), ('u:1', now() - interval '90 days'),
		 ('g:sessionless', now() - interval '2 days'), ('u:2', now() - interval '2 days')`,
		`INSERT INTO cart_items (cart_key, product_id, quantity) VALUES ('g:old', 1, 2), ('g:new', 1, 1), ('u:1', 2, 1),
		 ('g:sessionless', 1, 1), ('u:2', 1, 1)`,
		`INSERT INTO idempotency_keys (key, expires_at) VALUES ('old', now() - interval '1 hour'), ('new', now() + interval '1 hour')`,
		`INSERT INTO login_failures (key, failures, expires_at) VALUES ('old', 3, now() - interval '1 minute'), ('new', 2, now() + interval '10 minutes')`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("seed: %v\n%s", err, q)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func count(t *testing.T, db *pgxpool.Pool, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantOnlyLiveLeft checks that everything unexpired is still there.
func wantOnlyLiveLeft(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	for q, want := range map[string]int{
		`SELECT count(*) FROM sessions WHERE token LIKE 'expired-%'`: 0,
		`SELECT count(*) FROM sessions WHERE token LIKE 'live-%'`:    1000,
		`SELECT count(*) FROM carts WHERE key = 'g:old'`:             0,
		`SELECT count(*) FROM cart_items WHERE cart_key = 'g:old'`:   0,
		`SELECT count(*) FROM carts WHERE key IN ('g:new', 'u:1')`:   2,
		// A guest cart older than SESSION_LIFETIME (24h by default) has
		// no session left that can reach it; an account's stays CART_TTL.
		`SELECT count(*) FROM carts WHERE key = 'g:sessionless'`:  0,
		`SELECT count(*) FROM carts WHERE key = 'u:2'`:            1,
		`SELECT count(*) FROM cart_items`:                         3,
		`SELECT count(*) FROM idempotency_keys`:                   1,
		`SELECT count(*) FROM idempotency_keys WHERE key = 'new'`: 1,
		`SELECT count(*) FROM login_failures WHERE key = 'new'`:   1,
		`SELECT count(*) FROM login_failures`:                     1,
	} {
		if got := count(t, db, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
}

// job cleans what seed wrote with the steps the shop wires
// (app.CleanupSteps, for a PostgreSQL-backed shop with the default cart
// lifetime).
func job(t *testing.T, db *pgxpool.Pool) *cleanup.Job {
	t.Helper()
	cfg, err := config.Load(func(name string) string { return map[string]string{"SESSION_STORE": "postgres"}[name] })
	if err != nil {
		t.Fatal(err)
	}
	return &cleanup.Job{DB: db, Batch: 1000, Pause: time.Millisecond, Steps: app.CleanupSteps(cfg, db, nil)}
}

// TestMillionExpiredSessions removes a million expired sessions in batches
// while live requests keep reading and writing sessions, and reports the
// pass's duration and the requests' p99.
func TestMillionExpiredSessions(t *testing.T) {
	t.Parallel()
	const expired = 1_000_000
	db := testenv.MustDatabase(t)
	start := time.Now()
	seed(t, db, expired)
	t.Logf("seeded %d expired sessions in %v", expired, time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	var latencies []time.Duration
	var wg sync.WaitGroup
	var mu sync.Mutex
	// Four "replicas" serving requests: a session read and a touch each.
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				token := "live-" + itoa(1+(w*250+i)%1000)
				t0 := time.Now()
				var b []byte
				err := db.QueryRow(ctx, `SELECT data FROM sessions WHERE token = $1 AND expiry > now()`, token).Scan(&b)
				if err == nil {
					_, err = db.Exec(ctx, `UPDATE sessions SET expiry = now() + interval '1 hour', last_seen = now() WHERE token = $1`, token)
				}
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("live request: %v", err)
					}
					return
				}
				mu.Lock()
				latencies = append(latencies, time.Since(t0))
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	res, err := job(t, db).Run(context.Background())
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !res.Ran || res.Of("sessions") != expired {
		t.Fatalf("pass: %+v, want %d sessions removed", res, expired)
	}
	if res.Batches < expired/1000 {
		t.Errorf("%d batches, want at least %d (1000 rows per statement)", res.Batches, expired/1000)
	}
	wantOnlyLiveLeft(t, db)

	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100]
	t.Logf("pass removed %d rows in %v (%d batches, longest %v); %d concurrent requests, p50 %v, p99 %v, max %v",
		res.Removed(), res.Took.Round(time.Millisecond), res.Batches, res.LongestBatch.Round(time.Microsecond),
		len(latencies), latencies[len(latencies)/2], p99, latencies[len(latencies)-1])
	if res.LongestBatch > 2*time.Second {
		t.Errorf("longest batch took %v: a statement held its locks too long", res.LongestBatch)
	}
	if p99 > 250*time.Millisecond {
		t.Errorf("p99 of concurrent requests %v, want under 250ms", p99)
	}
}

// TestOneReplicaAtATime starts the job on two "replicas" at the same moment:
// one makes the pass, the other stands aside, and nothing is deleted twice
// or left behind.
func TestOneReplicaAtATime(t *testing.T) {
	t.Parallel()
	db := testenv.MustDatabase(t)
	seed(t, db, 20_000)
	other := testenv.MustPool(t, db.Config().ConnString())
	jobs := []*cleanup.Job{job(t, db), job(t, other)}
	results := make([]cleanup.Result, 2)
	errs := make([]error, 2)
	var ready, wg sync.WaitGroup
	ready.Add(2)
	start := make(chan struct{})
	for i, j := range jobs {
		wg.Go(func() {
			ready.Done()
			<-start
			results[i], errs[i] = j.Run(context.Background())
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if results[0].Ran == results[1].Ran {
		t.Fatalf("both passes ran=%v; want exactly one: %+v", results[0].Ran, results)
	}
	if got := results[0].Of("sessions") + results[1].Of("sessions"); got != 20_000 {
		t.Errorf("sessions removed = %d, want 20000", got)
	}
	ran := results[0]
	if results[1].Ran {
		ran = results[1]
	}
	for step, want := range map[string]int64{"guest_carts": 2, "idempotency_keys": 1, "login_failures": 1} {
		if got := ran.Of(step); got != want {
			t.Errorf("%s removed = %d, want %d", step, got, want)
		}
	}
	wantOnlyLiveLeft(t, db)
	// With the lock free again, a later pass runs and finds nothing.
	res, err := job(t, db).Run(context.Background())
	if err != nil || !res.Ran || res.Removed() != 0 {
		t.Errorf("second pass: %+v, %v; want ran with nothing to remove", res, err)
	}
}

// TestBatches checks the mechanics over the real steps: a step is called
// again while it fills its batch, every call counts, and a failing step
// ends the pass with its name, keeping what the steps before it removed.
func TestBatches(t *testing.T) {
	t.Parallel()
	db := testenv.MustDatabase(t)
	seed(t, db, 2500)
	j := job(t, db)
	real := len(j.Steps)
	j.Steps = append(j.Steps, cleanup.Step{Name: "broken", Delete: func(ctx context.Context, limit int) (int64, error) {
		_, err := db.Exec(ctx, `DELETE FROM no_such_table`)
		return 0, err
	}}, j.Steps[0])
	res, err := j.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cleanup broken:") {
		t.Fatalf("err = %v, want the broken step named", err)
	}
	// sessions: 1000, 1000, 500; one call each for the other real steps
	// and the broken one; the step after it never ran.
	if want := 3 + (real - 1) + 1; res.Batches != want {
		t.Errorf("batches = %d, want %d", res.Batches, want)
	}
	if got := res.Of("sessions"); got != 2500 {
		t.Errorf("sessions removed = %d, want 2500", got)
	}
	if len(res.Steps) != real+1 {
		t.Errorf("steps in the result: %+v, want the %d real ones and the broken one", res.Steps, real)
	}
	wantOnlyLiveLeft(t, db)
}
