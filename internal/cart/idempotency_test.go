package cart_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/testenv"
)

// TestAddOnce checks that every store applies an add at most once per
// idempotency key, which is what lets nginx retry a POST on another replica.
func TestAddOnce(t *testing.T) {
	t.Parallel()
	for _, kind := range storeKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			s := kind.open(t)
			ctx := context.Background()

			t.Run("RepeatIsNotApplied", func(t *testing.T) {
				t.Parallel()
				key, idem := newKey(), testenv.RandomName("k-")
				n, applied, err := s.AddOnce(ctx, key, 1, 2, idem)
				if err != nil || !applied || n != 2 {
					t.Fatalf("first AddOnce = %d, %v, %v; want 2, true, nil", n, applied, err)
				}
				n, applied, err = s.AddOnce(ctx, key, 1, 2, idem)
				if err != nil || applied || n != 2 {
					t.Fatalf("repeat AddOnce = %d, %v, %v; want 2 (unchanged), false, nil", n, applied, err)
				}
				wantLines(t, s, key, map[int64]int{1: 2})
			})

			t.Run("NewKeyIsApplied", func(t *testing.T) {
				t.Parallel()
				key := newKey()
				for i := range 3 {
					if _, applied, err := s.AddOnce(ctx, key, 2, 1, testenv.RandomName("k-")); err != nil || !applied {
						t.Fatalf("add %d: applied %v, err %v", i, applied, err)
					}
				}
				wantLines(t, s, key, map[int64]int{2: 3})
			})

			t.Run("KeysAreScopedToCart", func(t *testing.T) {
				t.Parallel()
				a, b, idem := newKey(), newKey(), testenv.RandomName("k-")
				for _, key := range []cart.Key{a, b} {
					if _, applied, err := s.AddOnce(ctx, key, 3, 1, idem); err != nil || !applied {
						t.Fatalf("AddOnce on %s: applied %v, err %v", key, applied, err)
					}
				}
				wantLines(t, s, a, map[int64]int{3: 1})
				wantLines(t, s, b, map[int64]int{3: 1})
			})

			t.Run("ConcurrentRepeatsApplyOnce", func(t *testing.T) {
				t.Parallel()
				key, idem := newKey(), testenv.RandomName("k-")
				var applied atomic.Int32
				var wg sync.WaitGroup
				for range concurrency {
					wg.Go(func() {
						_, ok, err := s.AddOnce(ctx, key, 4, 1, idem)
						if err != nil {
							t.Error(err)
						}
						if ok {
							applied.Add(1)
						}
					})
				}
				wg.Wait()
				if got := applied.Load(); got != 1 {
					t.Errorf("%d of %d concurrent repeats applied, want exactly 1", got, concurrency)
				}
				wantLines(t, s, key, map[int64]int{4: 1})
			})

			t.Run("ReusedForAnotherRequestIsRefused", func(t *testing.T) {
				t.Parallel()
				key, idem := newKey(), testenv.RandomName("k-")
				if _, applied, err := s.AddOnce(ctx, key, 6, 2, idem); err != nil || !applied {
					t.Fatalf("first AddOnce: applied %v, err %v", applied, err)
				}
				for _, tc := range []struct {
					name    string
					product int64
					qty     int
				}{
					{"OtherQuantity", 6, 3},
					{"OtherProduct", 7, 2},
				} {
					n, applied, err := s.AddOnce(ctx, key, tc.product, tc.qty, idem)
					if !errors.Is(err, cart.ErrIdempotencyKeyReused) {
						t.Errorf("%s: AddOnce = %d, %v, %v; want ErrIdempotencyKeyReused", tc.name, n, applied, err)
					}
					if applied {
						t.Errorf("%s: a reused key was applied", tc.name)
					}
				}
				// The same request again is still an ordinary retry.
				n, applied, err := s.AddOnce(ctx, key, 6, 2, idem)
				if err != nil || applied || n != 2 {
					t.Errorf("retry of the first request = %d, %v, %v; want 2, false, nil", n, applied, err)
				}
				wantLines(t, s, key, map[int64]int{6: 2})
			})

			t.Run("ConcurrentDifferentRequestsApplyOne", func(t *testing.T) {
				t.Parallel()
				key, idem := newKey(), testenv.RandomName("k-")
				var applied, refused atomic.Int32
				var wg sync.WaitGroup
				for i := range concurrency {
					wg.Go(func() {
						_, ok, err := s.AddOnce(ctx, key, 8, 1+i%2, idem)
						switch {
						case errors.Is(err, cart.ErrIdempotencyKeyReused):
							refused.Add(1)
						case err != nil:
							t.Error(err)
						case ok:
							applied.Add(1)
						}
					})
				}
				wg.Wait()
				if got := applied.Load(); got != 1 {
					t.Errorf("%d of %d concurrent adds under one key applied, want exactly 1", got, concurrency)
				}
				// Half the requests differ from whichever came first.
				if got := refused.Load(); got != concurrency/2 {
					t.Errorf("%d refused as reused, want %d", got, concurrency/2)
				}
				got := lines(t, s, key)[8]
				if got != 1 && got != 2 {
					t.Errorf("line = %d, want the one applied add (1 or 2)", got)
				}
			})

			t.Run("RepeatReportsCapAndAbsentLine", func(t *testing.T) {
				t.Parallel()
				key, idem := newKey(), testenv.RandomName("k-")
				if n, _, _ := s.AddOnce(ctx, key, 5, 98, idem); n != 98 {
					t.Fatalf("first add = %d, want 98", n)
				}
				if n, _, _ := s.AddOnce(ctx, key, 5, 5, testenv.RandomName("k-")); n != cart.MaxQuantity {
					t.Errorf("second add = %d, want the cap %d", n, cart.MaxQuantity)
				}
				mustSet(t, s, key, 5, 0)
				// The line is gone; the repeat must neither re-add it nor fail.
				n, applied, err := s.AddOnce(ctx, key, 5, 98, idem)
				if err != nil || applied || n != 0 {
					t.Errorf("repeat after removal = %d, %v, %v; want 0, false, nil", n, applied, err)
				}
				wantLines(t, s, key, map[int64]int{})
			})
		})
	}
}

func TestRedisIdempotencyKeysExpire(t *testing.T) {
	t.Parallel()
	pool, prefix := testenv.MustRedis(t)
	s := cart.NewRedisStore(pool, prefix, time.Hour)
	if _, _, err := s.AddOnce(context.Background(), newKey(), 1, 1, testenv.RandomName("k-")); err != nil {
		t.Fatal(err)
	}
	var idemKeys int
	for _, k := range testenv.Keys(t, pool, prefix) {
		ttl := pttl(t, pool, k)
		if ttl <= 0 {
			t.Errorf("key %s has no expiry", k)
		}
		if strings.HasPrefix(k, prefix+"idem:") {
			idemKeys++
			if ttl > cart.IdempotencyTTL {
				t.Errorf("idempotency key TTL %v, want at most %v", ttl, cart.IdempotencyTTL)
			}
		}
	}
	if idemKeys != 1 {
		t.Errorf("%d idempotency keys under %sidem:, want 1", idemKeys, prefix)
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"", true},
		{"3f2a9c1b", true},
		{"0b8e2a3c-4d5e-4f60-8a9b-0c1d2e3f4a5b", true},
		{"short", false},
		{strings.Repeat("a", 65), false},
		{"has space in it", false},
		{"semi;colon;", false},
		{"ünïcödé-key", false},
	} {
		if err := cart.ValidateIdempotencyKey(tc.in); (err == nil) != tc.ok {
			t.Errorf("ValidateIdempotencyKey(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}
