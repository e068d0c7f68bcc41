package catalog_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/testenv"
)

// seededProducts is how many products the first migration inserts.
const seededProducts = 14

func TestStore(t *testing.T) {
	t.Parallel()
	db := testenv.MustDatabase(t)
	s := catalog.NewStore(db)
	ctx := context.Background()

	all, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ListReturnsSeededProductsInIDOrder", func(t *testing.T) {
		t.Parallel()
		if len(all) != seededProducts {
			t.Fatalf("List returned %d products, want %d", len(all), seededProducts)
		}
		skus := map[string]bool{}
		for i, p := range all {
			if i > 0 && p.ID <= all[i-1].ID {
				t.Errorf("product %d comes after %d: want ascending ids", p.ID, all[i-1].ID)
			}
			if p.PriceCents <= 0 {
				t.Errorf("product %d price = %d cents, want > 0", p.ID, p.PriceCents)
			}
			if p.SKU == "" || p.Name == "" || p.Description == "" {
				t.Errorf("product %d has an empty sku, name or description: %+v", p.ID, p)
			}
			if skus[p.SKU] {
				t.Errorf("sku %s appears twice", p.SKU)
			}
			skus[p.SKU] = true
			if !p.InStock() {
				t.Errorf("seeded product %d is out of stock", p.ID)
			}
			if !strings.HasPrefix(p.Image, "img/products/") {
				t.Errorf("product %d image = %q, want it under img/products/", p.ID, p.Image)
				continue
			}
			// The image must exist in static/, or the page shows a broken image.
			if _, err := os.Stat(filepath.Join("..", "..", "static", filepath.FromSlash(p.Image))); err != nil {
				t.Errorf("product %d image %s: %v", p.ID, p.Image, err)
			}
		}
	})

	t.Run("ListMatchesTable", func(t *testing.T) {
		t.Parallel()
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM products`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if len(all) != n {
			t.Errorf("List returned %d products, the table has %d", len(all), n)
		}
	})

	t.Run("GetReturnsProduct", func(t *testing.T) {
		t.Parallel()
		for _, want := range all {
			got, err := s.Get(ctx, want.ID)
			if err != nil {
				t.Fatalf("Get(%d): %v", want.ID, err)
			}
			if got != want {
				t.Errorf("Get(%d) = %+v, want %+v", want.ID, got, want)
			}
		}
	})

	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		for _, id := range []int64{0, -1, all[len(all)-1].ID + 1} {
			_, err := s.Get(ctx, id)
			if !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("Get(%d) error = %v, want catalog.ErrNotFound", id, err)
			}
			if !apperr.IsKind(err, apperr.KindNotFound) {
				t.Errorf("Get(%d) error kind is not KindNotFound: %v", id, err)
			}
		}
	})

	t.Run("GetManySkipsMissingIDs", func(t *testing.T) {
		t.Parallel()
		first, last := all[0], all[len(all)-1]
		got, err := s.GetMany(ctx, []int64{last.ID, last.ID + 1000, first.ID, first.ID, -5})
		if err != nil {
			t.Fatal(err)
		}
		// Everything but the description, which no cart shows.
		first.Description, last.Description = "", ""
		want := map[int64]catalog.Product{first.ID: first, last.ID: last}
		if !maps.Equal(got, want) {
			t.Errorf("GetMany = %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	})

	t.Run("GetManyOfNothingIsEmpty", func(t *testing.T) {
		t.Parallel()
		for _, ids := range [][]int64{nil, {}, {99999}} {
			got, err := s.GetMany(ctx, ids)
			if err != nil {
				t.Fatalf("GetMany(%v): %v", ids, err)
			}
			if got == nil || len(got) != 0 {
				t.Errorf("GetMany(%v) = %#v, want an empty, non-nil map", ids, got)
			}
		}
	})
}

func TestSearch(t *testing.T) {
	t.Parallel()
	s := catalog.NewStore(testenv.MustDatabase(t))
	ctx := context.Background()
	names := func(ps []catalog.Product) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	tests := []struct {
		name, query string
		wantFirst   string // "" for no results
		wantCount   int    // -1: any
	}{
		{"NameWordFindsTheProduct", "headphones", "Wireless Headphones", 1},
		{"StemmingFindsPlurals", "mugs", "Stoneware Mug", 1},
		{"DescriptionWordsMatch", "jasmine", "Single-Origin Coffee Beans, 250 g", 1},
		{"NameRanksAboveDescription", "coffee", "Pour-Over Coffee Dripper", -1},
		{"LastWordMatchesAsPrefix", "wireless head", "Wireless Headphones", 1},
		{"AllWordsMustMatch", "brass lamp", "Brass Desk Lamp", 1},
		{"NoMatchIsEmpty", "zeppelin", "", 0},
		{"PunctuationIsHarmless", `"fountain pen" -lamp ' :* & !`, "Fountain Pen", -1},
		{"StopWordsAloneFindNothing", "the", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Search(ctx, tt.query)
			if err != nil {
				t.Fatalf("Search(%q): %v", tt.query, err)
			}
			if tt.wantCount >= 0 && len(got) != tt.wantCount {
				t.Errorf("Search(%q) = %v, want %d products", tt.query, names(got), tt.wantCount)
			}
			if tt.wantFirst != "" && (len(got) == 0 || got[0].Name != tt.wantFirst) {
				t.Errorf("Search(%q) = %v, want %q first", tt.query, names(got), tt.wantFirst)
			}
		})
	}

	t.Run("EmptyQueryListsTheCatalog", func(t *testing.T) {
		t.Parallel()
		all, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Search(ctx, "  ")
		if err != nil || len(got) != len(all) {
			t.Errorf("Search(blank) = %d products, %v; want %d", len(got), err, len(all))
		}
	})

	t.Run("UsesTheGINIndex", func(t *testing.T) {
		t.Parallel()
		db := testenv.MustDatabase(t)
		var plan string
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, `EXPLAIN SELECT id FROM products WHERE search @@ websearch_to_tsquery('english', 'mug')`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan += line + "\n"
		}
		if !strings.Contains(plan, "products_search_idx") {
			t.Errorf("plan does not use products_search_idx:\n%s", plan)
		}
	})
}
