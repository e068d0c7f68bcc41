package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/testenv"
)

func TestErrors(t *testing.T) {
	t.Parallel()
	db := testenv.MustDatabase(t)
	ctx := context.Background()
	notFound := apperr.NotFound("thing_not_found", "That thing does not exist.")

	// Real driver errors, produced by the server.
	var n int
	noRows := db.QueryRow(ctx, `SELECT 1 FROM products WHERE id = -1`).Scan(&n)
	_, unique := db.Exec(ctx, `INSERT INTO products (sku, name, price_cents, stock) SELECT sku, name, 1, 1 FROM products WHERE id = 1`)
	_, foreignKey := db.Exec(ctx, `INSERT INTO carts (key) VALUES ('k'); INSERT INTO cart_items (cart_key, product_id, quantity) VALUES ('k', -1, 1)`)
	_, syntax := db.Exec(ctx, `SELEC 1`)
	for name, err := range map[string]error{"no rows": noRows, "unique": unique, "foreign key": foreignKey, "syntax": syntax} {
		if err == nil {
			t.Fatalf("the %s query succeeded; the test needs its error", name)
		}
	}

	t.Run("MapsNoRowsToNotFound", func(t *testing.T) {
		t.Parallel()
		got := postgres.Error("get thing", noRows, notFound)
		if got != error(notFound) {
			t.Errorf("Error(ErrNoRows) = %v, want the notFound error itself", got)
		}
		wrapped := postgres.Error("get thing", errors.Join(errors.New("context"), noRows), notFound)
		if !errors.Is(wrapped, notFound) {
			t.Errorf("Error(wrapped ErrNoRows) = %v, want notFound", wrapped)
		}
	})

	t.Run("KeepsNoRowsWithoutNotFound", func(t *testing.T) {
		t.Parallel()
		got := postgres.Error("get thing", noRows, nil)
		if !errors.Is(got, pgx.ErrNoRows) || !strings.Contains(got.Error(), "get thing") {
			t.Errorf("Error(ErrNoRows, nil) = %v, want it wrapped with what was done", got)
		}
		if apperr.As(got) != nil {
			t.Errorf("Error(ErrNoRows, nil) became a domain error: %v", got)
		}
	})

	t.Run("NilIsNil", func(t *testing.T) {
		t.Parallel()
		if got := postgres.Error("anything", nil, notFound); got != nil {
			t.Errorf("Error(nil) = %v, want nil", got)
		}
	})

	t.Run("WrapsQueryErrorsAsInternal", func(t *testing.T) {
		t.Parallel()
		got := postgres.Error("run query", syntax, notFound)
		if errors.Is(got, notFound) || apperr.As(got) != nil {
			t.Errorf("Error(syntax error) = %v, want a plain wrapped error", got)
		}
		if !errors.Is(got, syntax) || !strings.HasPrefix(got.Error(), "run query: ") {
			t.Errorf("Error(syntax error) = %q, want %q wrapping the cause", got, "run query: ...")
		}
		if postgres.IsUnavailable(syntax) {
			t.Errorf("IsUnavailable(syntax error) = true, want false")
		}
	})

	t.Run("DetectsViolations", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name                    string
			err                     error
			wantUnique, wantForeign bool
		}{
			{"Unique", unique, true, false},
			{"UniqueWrapped", postgres.Error("insert", unique, nil), true, false},
			{"ForeignKey", foreignKey, false, true},
			{"ForeignKeyWrapped", postgres.Error("insert", foreignKey, nil), false, true},
			{"Syntax", syntax, false, false},
			{"NoRows", noRows, false, false},
			{"Nil", nil, false, false},
			{"Plain", errors.New("23505"), false, false},
		}
		for _, tt := range tests {
			if got := postgres.UniqueViolation(tt.err); got != tt.wantUnique {
				t.Errorf("%s: UniqueViolation = %v, want %v (err %v)", tt.name, got, tt.wantUnique, tt.err)
			}
			if got := postgres.ForeignKeyViolation(tt.err); got != tt.wantForeign {
				t.Errorf("%s: ForeignKeyViolation = %v, want %v (err %v)", tt.name, got, tt.wantForeign, tt.err)
			}
		}
	})
}

func TestOpen(t *testing.T) {
	t.Parallel()

	t.Run("RejectsUnparsableURL", func(t *testing.T) {
		t.Parallel()
		if pool, err := postgres.Open(context.Background(), "postgres://%zz"); err == nil {
			pool.Close()
			t.Fatal("Open succeeded, want a parse error")
		}
	})

	t.Run("UnreachableServerIsUnavailable", func(t *testing.T) {
		t.Parallel()
		// Port 1 on loopback: nothing listens, the connection is refused.
		pool, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
		if err == nil {
			pool.Close()
			t.Fatal("Open of a closed port succeeded")
		}
		if !postgres.IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = false, want true", err)
		}
		if !apperr.IsKind(postgres.Error("ping", err, nil), apperr.KindUnavailable) {
			t.Errorf("Error(connection refused) is not KindUnavailable")
		}
	})
}
