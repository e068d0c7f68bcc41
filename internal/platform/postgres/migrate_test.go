package postgres_test

import (
	"context"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/migrations"
)

// shopTables are the tables the migrations create.
var shopTables = []string{"cart_items", "carts", "products", "sessions", "users"}

// migrationVersions reads the versions of the embedded migration files
// ("00001_products.sql" → 1), so the tests follow new migrations.
func migrationVersions(t *testing.T) []int64 {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var versions []int64
	for _, n := range names {
		v, err := strconv.ParseInt(n[:strings.IndexByte(n, '_')], 10, 64)
		if err != nil {
			t.Fatalf("migration file %s has no numeric version: %v", n, err)
		}
		versions = append(versions, v)
	}
	if len(versions) == 0 {
		t.Fatal("no embedded migrations")
	}
	slices.Sort(versions)
	return versions
}

func newMigrator(t *testing.T, pool *pgxpool.Pool) *postgres.Migrator {
	t.Helper()
	m, err := postgres.NewMigrator(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// tables returns which of shopTables exist in the public schema.
func tables(t *testing.T, db *pgxpool.Pool) []string {
	t.Helper()
	rows, err := db.Query(context.Background(),
		`SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1) ORDER BY 1`,
		shopTables)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func count(t *testing.T, db *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func wantAllApplied(t *testing.T, m *postgres.Migrator, versions []int64, applied bool) {
	t.Helper()
	st, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(versions) {
		t.Fatalf("Status lists %d migrations, want %d", len(st), len(versions))
	}
	want := goose.StatePending
	if applied {
		want = goose.StateApplied
	}
	for i, s := range st {
		if s.Source.Version != versions[i] || s.State != want {
			t.Errorf("Status[%d] = version %d %s, want version %d %s", i, s.Source.Version, s.State, versions[i], want)
		}
	}
}

func TestMigrateUpResetUp(t *testing.T) {
	t.Parallel()
	versions := migrationVersions(t)
	pool := testenv.MustPool(t, testenv.MustEmptyDatabase(t))
	m := newMigrator(t, pool)
	ctx := context.Background()

	for round := 1; round <= 2; round++ {
		n, err := m.Up(ctx)
		if err != nil {
			t.Fatalf("round %d: Up: %v", round, err)
		}
		if n != len(versions) {
			t.Errorf("round %d: Up applied %d migrations, want %d", round, n, len(versions))
		}
		if got := tables(t, pool); !slices.Equal(got, shopTables) {
			t.Errorf("round %d: tables after Up = %v, want %v", round, got, shopTables)
		}
		if got := count(t, pool, `SELECT count(*) FROM products`); got < 12 {
			t.Errorf("round %d: products after Up = %d, want at least 12", round, got)
		}
		wantAllApplied(t, m, versions, true)

		if n, err := m.Up(ctx); err != nil || n != 0 {
			t.Errorf("round %d: second Up applied %d, %v; want 0, nil", round, n, err)
		}

		n, err = m.Reset(ctx)
		if err != nil {
			t.Fatalf("round %d: Reset: %v", round, err)
		}
		if n != len(versions) {
			t.Errorf("round %d: Reset rolled back %d migrations, want %d", round, n, len(versions))
		}
		if got := tables(t, pool); len(got) != 0 {
			t.Errorf("round %d: tables after Reset = %v, want none", round, got)
		}
		wantAllApplied(t, m, versions, false)
	}
}

func TestMigrateDownRollsBackNewestOnly(t *testing.T) {
	t.Parallel()
	versions := migrationVersions(t)
	pool := testenv.MustPool(t, testenv.MustEmptyDatabase(t))
	m := newMigrator(t, pool)
	ctx := context.Background()
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := m.Down(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newest := versions[len(versions)-1]
	if res.Source.Version != newest {
		t.Errorf("Down rolled back version %d, want %d", res.Source.Version, newest)
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		wantApplied := s.Source.Version != newest
		if got := s.State == goose.StateApplied; got != wantApplied {
			t.Errorf("version %d applied = %v, want %v", s.Source.Version, got, wantApplied)
		}
	}
	if n, err := m.Up(ctx); err != nil || n != 1 {
		t.Errorf("Up after Down applied %d, %v; want 1, nil", n, err)
	}
}

// TestMigrateConcurrentReplicas starts three migrators (three replicas, each
// with its own pool) on one database at the same moment: the session lock
// must let each migration run exactly once.
func TestMigrateConcurrentReplicas(t *testing.T) {
	t.Parallel()
	// The seed must run once: as many products as one migration run leaves.
	wantProducts := count(t, testenv.MustDatabase(t), `SELECT count(*) FROM products`)
	if wantProducts != 14 {
		t.Fatalf("one migration run seeds %d products, want 14", wantProducts)
	}
	tests := []struct {
		name string
		// versionTable creates goose's version table before the race. On an
		// empty database goose's own retry around creating that table
		// already serialises the replicas; with the table in place (a
		// database that an earlier start or "shop migrate status" touched)
		// only the session lock stands between them.
		versionTable bool
	}{
		{"OnEmptyDatabase", false},
		{"WithVersionTablePresent", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testConcurrentUp(t, tt.versionTable, wantProducts)
		})
	}
}

func testConcurrentUp(t *testing.T, versionTable bool, wantProducts int) {
	versions := migrationVersions(t)
	url := testenv.MustEmptyDatabase(t)
	const replicas = 3
	var migrators [replicas]*postgres.Migrator
	for i := range migrators {
		migrators[i] = newMigrator(t, testenv.MustPool(t, url))
	}
	if versionTable {
		wantAllApplied(t, migrators[0], versions, false) // Status creates the table
	}

	start := make(chan struct{})
	var applied [replicas]int
	var errs [replicas]error
	var wg sync.WaitGroup
	for i, m := range migrators {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = m.Up(context.Background())
		})
	}
	close(start)
	wg.Wait()

	total := 0
	for i := range replicas {
		if errs[i] != nil {
			t.Errorf("replica %d: Up: %v", i, errs[i])
		}
		total += applied[i]
	}
	if total != len(versions) {
		t.Errorf("migrations applied across replicas = %d %v, want exactly %d", total, applied, len(versions))
	}

	db := testenv.MustPool(t, url)
	rows, err := db.Query(context.Background(),
		`SELECT version_id, count(*) FILTER (WHERE is_applied), count(*) FROM goose_db_version WHERE version_id > 0 GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for rows.Next() {
		var v int64
		var appliedRows, allRows int
		if err := rows.Scan(&v, &appliedRows, &allRows); err != nil {
			t.Fatal(err)
		}
		if appliedRows != 1 || allRows != 1 {
			t.Errorf("goose_db_version has %d rows (%d applied) for version %d, want exactly 1 applied", allRows, appliedRows, v)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, versions) {
		t.Errorf("versions in goose_db_version = %v, want %v", got, versions)
	}
	if got := count(t, db, `SELECT count(*) FROM products`); got != wantProducts {
		t.Errorf("products after concurrent migrations = %d, want %d", got, wantProducts)
	}
}
