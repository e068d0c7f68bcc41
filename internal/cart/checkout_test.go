package cart_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/testenv"
)

// TestCheckoutGeneration runs the checkout half of the Store contract
// (Snapshot and CompleteCheckout) against every store: checkout relies on it
// to write one order per version of a cart and to empty the cart exactly
// once, whichever store holds the lines.
func TestCheckoutGeneration(t *testing.T) {
	t.Parallel()
	for _, kind := range storeKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			testCheckoutGeneration(t, kind.open(t))
		})
	}
}

// snapshot returns a cart's lines as product id → quantity, and its generation.
func snapshot(t *testing.T, s cart.Store, key cart.Key) (map[int64]int, int64) {
	t.Helper()
	ls, gen, err := s.Snapshot(context.Background(), key)
	if err != nil {
		t.Fatalf("Snapshot(%s): %v", key, err)
	}
	got := map[int64]int{}
	for _, l := range ls {
		if _, dup := got[l.ProductID]; dup {
			t.Fatalf("Snapshot(%s) returned product %d twice: %v", key, l.ProductID, ls)
		}
		got[l.ProductID] = l.Quantity
	}
	return got, gen
}

func mustComplete(t *testing.T, s cart.Store, key cart.Key, gen int64, ordered map[int64]int) {
	t.Helper()
	var ls []cart.Line
	for id, q := range ordered {
		ls = append(ls, cart.Line{ProductID: id, Quantity: q})
	}
	if err := s.CompleteCheckout(context.Background(), key, gen, ls); err != nil {
		t.Fatalf("CompleteCheckout(%s, %d, %v): %v", key, gen, ordered, err)
	}
}

func testCheckoutGeneration(t *testing.T, s cart.Store) {
	ctx := context.Background()

	t.Run("UnknownCartIsEmptyAtGenerationZero", func(t *testing.T) {
		t.Parallel()
		lines, gen := snapshot(t, s, newKey())
		if len(lines) != 0 || gen != 0 {
			t.Errorf("Snapshot of an unknown cart = %v, %d; want no lines, 0", lines, gen)
		}
	})

	t.Run("SnapshotReadsLinesAndAClockSeededGeneration", func(t *testing.T) {
		t.Parallel()
		before := time.Now().Add(-time.Minute).UnixMilli()
		key := newKey()
		mustAdd(t, s, key, 1, 2)
		mustAdd(t, s, key, 3, 1)
		lines, gen := snapshot(t, s, key)
		if want := map[int64]int{1: 2, 3: 1}; !maps.Equal(lines, want) {
			t.Errorf("Snapshot lines = %v, want %v", lines, want)
		}
		if after := time.Now().Add(time.Minute).UnixMilli(); gen < before || gen > after {
			t.Errorf("generation of a new cart = %d, want the clock's milliseconds (%d..%d)", gen, before, after)
		}
		wantLines(t, s, key, map[int64]int{1: 2, 3: 1}) // Snapshot changed nothing
	})

	t.Run("GenerationStaysWhileLinesChange", func(t *testing.T) {
		t.Parallel()
		key, guest := newKey(), newKey()
		mustAdd(t, s, key, 1, 1)
		_, gen := snapshot(t, s, key)
		mustAdd(t, s, guest, 4, 1)
		changes := []struct {
			name string
			do   func() error
		}{
			{"Add", func() error { _, err := s.Add(ctx, key, 2, 3); return err }},
			{"AddOnce", func() error { _, _, err := s.AddOnce(ctx, key, 2, 1, testenv.RandomName("k-")); return err }},
			{"Set", func() error { return s.Set(ctx, key, 1, 5) }},
			{"Remove", func() error { return s.Remove(ctx, key, 2) }},
			{"MergeInto", func() error { return s.Merge(ctx, guest, key) }},
		}
		for _, c := range changes {
			if err := c.do(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if _, got := snapshot(t, s, key); got != gen {
				t.Errorf("after %s the generation is %d, want %d (only a checkout moves it)", c.name, got, gen)
			}
		}
		wantLines(t, s, key, map[int64]int{1: 5, 4: 1})
	})

	t.Run("CompleteEmptiesOrderedLinesAndMovesGeneration", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, s, key, 1, 3)
		mustAdd(t, s, key, 2, 1)
		lines, gen := snapshot(t, s, key)
		mustComplete(t, s, key, gen, lines)
		wantLines(t, s, key, map[int64]int{})
		mustAdd(t, s, key, 5, 1)
		if _, next := snapshot(t, s, key); next != gen+1 {
			t.Errorf("generation after the checkout = %d, want %d", next, gen+1)
		}
	})

	t.Run("CompleteKeepsWhatWasAddedAfterTheSnapshot", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, s, key, 1, 2)
		mustAdd(t, s, key, 2, 4)
		lines, gen := snapshot(t, s, key)
		// Another tab adds while the order is being written.
		mustAdd(t, s, key, 1, 1)
		mustAdd(t, s, key, 3, 2)
		mustComplete(t, s, key, gen, lines)
		wantLines(t, s, key, map[int64]int{1: 1, 3: 2})
	})

	t.Run("CompleteOfLinesRemovedMeanwhileIsFine", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, s, key, 1, 2)
		mustAdd(t, s, key, 2, 1)
		lines, gen := snapshot(t, s, key)
		mustSet(t, s, key, 1, 1)
		if err := s.Remove(ctx, key, 2); err != nil {
			t.Fatal(err)
		}
		mustComplete(t, s, key, gen, lines)
		wantLines(t, s, key, map[int64]int{})
	})

	t.Run("CompleteAppliesOncePerGeneration", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, s, key, 1, 5)
		_, gen := snapshot(t, s, key)
		ordered := map[int64]int{1: 2}
		mustComplete(t, s, key, gen, ordered)
		mustComplete(t, s, key, gen, ordered) // a retry of the same checkout
		wantLines(t, s, key, map[int64]int{1: 3})
		if _, got := snapshot(t, s, key); got != gen+1 {
			t.Errorf("generation after two completions of %d = %d, want %d", gen, got, gen+1)
		}
	})

	t.Run("CompleteOfAnotherGenerationChangesNothing", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, s, key, 1, 5)
		_, gen := snapshot(t, s, key)
		for _, other := range []int64{0, gen - 1, gen + 1, gen + 1000} {
			mustComplete(t, s, key, other, map[int64]int{1: 5})
		}
		wantLines(t, s, key, map[int64]int{1: 5})
		if _, got := snapshot(t, s, key); got != gen {
			t.Errorf("generation = %d, want %d unchanged", got, gen)
		}
	})

	t.Run("CompleteOfUnknownCartCreatesNothing", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustComplete(t, s, key, 12345, map[int64]int{1: 1})
		if lines, gen := snapshot(t, s, key); len(lines) != 0 || gen != 0 {
			t.Errorf("after completing an unknown cart: %v, %d; want nothing", lines, gen)
		}
	})

	t.Run("ConcurrentCompletesApplyOnce", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, s, key, 1, concurrency+5)
		_, gen := snapshot(t, s, key)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range concurrency {
			wg.Go(func() {
				<-start
				if err := s.CompleteCheckout(ctx, key, gen, []cart.Line{{ProductID: 1, Quantity: 1}}); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		wantLines(t, s, key, map[int64]int{1: concurrency + 4})
	})

	t.Run("CompleteRacingAddsLosesNoAdd", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, s, key, 1, 10)
		lines, gen := snapshot(t, s, key)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range concurrency {
			wg.Go(func() {
				<-start
				if _, err := s.Add(ctx, key, 1, 1); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() {
			<-start
			if err := s.CompleteCheckout(ctx, key, gen, []cart.Line{{ProductID: 1, Quantity: lines[1]}}); err != nil {
				t.Error(err)
			}
		})
		close(start)
		wg.Wait()
		// The 10 ordered units leave; every one of the adds stays.
		wantLines(t, s, key, map[int64]int{1: concurrency})
	})

	t.Run("GenerationIsNotReusedAfterTheCartIsGone", func(t *testing.T) {
		t.Parallel()
		key := newKey()
		mustAdd(t, s, key, 1, 1)
		lines, gen := snapshot(t, s, key)
		mustComplete(t, s, key, gen, lines)
		if err := s.Clear(ctx, key); err != nil {
			t.Fatal(err)
		}
		// A new counter starts at the clock's milliseconds, which have
		// moved past gen+1 by now.
		time.Sleep(5 * time.Millisecond)
		mustAdd(t, s, key, 1, 1)
		if _, again := snapshot(t, s, key); again <= gen+1 {
			t.Errorf("generation of the cart made again = %d, want more than %d (used before)", again, gen+1)
		}
	})
}

func TestRedisStoreGenerationKey(t *testing.T) {
	t.Parallel()
	pool, prefix := testenv.MustRedis(t)
	ttl := 10 * time.Minute
	s := cart.NewRedisStore(pool, prefix, ttl)
	key := newKey()
	mustAdd(t, s, key, 1, 2)
	mustAdd(t, s, key, 2, 1)
	_, gen := snapshot(t, s, key)
	mustComplete(t, s, key, gen, map[int64]int{1: 1})

	genKey := prefix + "cartgen:" + string(key)
	keys := testenv.Keys(t, pool, prefix)
	if len(keys) != 2 {
		t.Fatalf("keys under %s = %v, want the cart and its generation", prefix, keys)
	}
	for _, k := range keys {
		if got := pttl(t, pool, k); got <= 0 || got > ttl {
			t.Errorf("PTTL %s = %v, want in (0, %v]", k, got, ttl)
		}
	}
	if !slices.Contains(keys, genKey) {
		t.Errorf("keys = %v, want %s", keys, genKey)
	}
	if err := s.Clear(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if keys := testenv.Keys(t, pool, prefix); len(keys) != 0 {
		t.Errorf("keys after Clear = %v, want none", keys)
	}
}
