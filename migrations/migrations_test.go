package migrations_test

import (
	"context"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/migrations"
)

var fileName = regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)

func TestFiles(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no migrations embedded")
	}

	t.Run("AreNumberedConsecutivelyFromOne", func(t *testing.T) {
		t.Parallel()
		for i, n := range names {
			m := fileName.FindStringSubmatch(n)
			if m == nil {
				t.Errorf("%s: want NNNNN_snake_name.sql", n)
				continue
			}
			if v, _ := strconv.Atoi(m[1]); v != i+1 {
				t.Errorf("%s has version %d, want %d (no gaps, no duplicates)", n, v, i+1)
			}
		}
	})

	t.Run("HaveUpAndDown", func(t *testing.T) {
		t.Parallel()
		for _, n := range names {
			b, err := fs.ReadFile(migrations.FS, n)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			up, down := strings.Index(s, "-- +goose Up"), strings.Index(s, "-- +goose Down")
			if up < 0 || down < 0 || down < up {
				t.Errorf("%s: want a -- +goose Up section followed by a -- +goose Down section", n)
				continue
			}
			if strings.TrimSpace(s[down+len("-- +goose Down"):]) == "" {
				t.Errorf("%s: the Down section is empty", n)
			}
		}
	})
}

// TestEachDownUndoesItsUp applies the migrations one at a time, recording
// the schema after each, then rolls them back one at a time: every Down must
// restore exactly the schema its Up started from.
func TestEachDownUndoesItsUp(t *testing.T) {
	t.Parallel()
	pool := testenv.MustPool(t, testenv.MustEmptyDatabase(t))
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sources := p.ListSources()

	snapshots := []string{schema(t, pool)}
	for _, src := range sources {
		if _, err := p.UpByOne(ctx); err != nil {
			t.Fatalf("up %d: %v", src.Version, err)
		}
		snapshots = append(snapshots, schema(t, pool))
		if snapshots[len(snapshots)-1] == snapshots[len(snapshots)-2] {
			t.Errorf("migration %d changed nothing in the schema", src.Version)
		}
	}
	for i := len(sources) - 1; i >= 0; i-- {
		res, err := p.Down(ctx)
		if err != nil {
			t.Fatalf("down %d: %v", sources[i].Version, err)
		}
		if res.Source.Version != sources[i].Version {
			t.Errorf("Down rolled back %d, want %d", res.Source.Version, sources[i].Version)
		}
		if got, want := schema(t, pool), snapshots[i]; got != want {
			t.Errorf("schema after down %d:\n%s\nwant the schema before its up:\n%s", sources[i].Version, got, want)
		}
	}
}

// schema describes the public schema (tables, columns, indexes,
// constraints, triggers and functions), leaving out goose's own table.
func schema(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
		FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name <> 'goose_db_version'
		UNION ALL
		SELECT 'index ' || indexdef FROM pg_indexes
		WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
		UNION ALL
		SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'goose_db_version'
		UNION ALL
		SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace
		UNION ALL
		SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
		WHERE p.pronamespace = 'public'::regnamespace
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
