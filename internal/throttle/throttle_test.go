package throttle_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/throttle"
)

func stores(t *testing.T) map[string]throttle.Store {
	t.Helper()
	pool, prefix := testenv.MustRedis(t)
	return map[string]throttle.Store{
		"redis":    throttle.NewRedisStore(pool, prefix),
		"postgres": throttle.NewPostgresStore(testenv.MustDatabase(t)),
		"memory":   throttle.NewMemoryStore(),
	}
}

func TestStores(t *testing.T) {
	t.Parallel()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			key := testenv.RandomName("k-")
			if n, until, err := s.Count(ctx, key); err != nil || n != 0 || !until.IsZero() {
				t.Fatalf("Count of a new key = %d, %v, %v", n, until, err)
			}
			var first time.Time
			for i := 1; i <= 3; i++ {
				n, until, err := s.Fail(ctx, key, 400*time.Millisecond)
				if err != nil || n != i {
					t.Fatalf("Fail %d = %d, %v", i, n, err)
				}
				if i == 1 {
					first = until
				} else if !until.Equal(first) {
					t.Errorf("failure %d moved the window end from %v to %v", i, first, until)
				}
			}
			if n, _, _ := s.Count(ctx, key); n != 3 {
				t.Errorf("Count = %d, want 3", n)
			}
			time.Sleep(500 * time.Millisecond)
			if n, _, _ := s.Count(ctx, key); n != 0 {
				t.Errorf("Count after the window = %d, want 0", n)
			}
			if n, _, _ := s.Fail(ctx, key, time.Minute); n != 1 {
				t.Errorf("first failure of a new window counted %d", n)
			}
			if err := s.Reset(ctx, key); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := s.Count(ctx, key); n != 0 {
				t.Errorf("Count after Reset = %d", n)
			}
			// Concurrent failures from several replicas all count.
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					if _, _, err := s.Fail(ctx, key, time.Minute); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n, _, _ := s.Count(ctx, key); n != 20 {
				t.Errorf("after 20 concurrent failures Count = %d", n)
			}
		})
	}
}

func TestGuard(t *testing.T) {
	t.Parallel()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			g := throttle.NewGuard(s, throttle.Limits{PerAccount: 3, PerIP: 5, Window: time.Minute})
			wrong := func() error { return account.ErrBadCredentials }
			right := func() error { return nil }
			email, ip := testenv.RandomName("u")+"@example.com", testenv.RandomName("ip-")

			t.Run("PausesAnAccountAfterItsLimit", func(t *testing.T) {
				for i := range 3 {
					if err := g.Attempt(ctx, ip, email, wrong); err != account.ErrBadCredentials {
						t.Fatalf("attempt %d: %v, want bad credentials", i+1, err)
					}
				}
				// Even the right password is refused while paused.
				err := g.Attempt(ctx, ip, strings.ToUpper(email), right)
				if !apperr.IsKind(err, apperr.KindTooMany) || !strings.Contains(err.(*apperr.Error).Message, "try again in 1 minute") {
					t.Fatalf("4th attempt: %v, want a pause with the time left", err)
				}
			})

			t.Run("SuccessResetsTheAccount", func(t *testing.T) {
				other := testenv.RandomName("v") + "@example.com"
				for range 2 {
					_ = g.Attempt(ctx, testenv.RandomName("ip-"), other, wrong)
				}
				if err := g.Attempt(ctx, testenv.RandomName("ip-"), other, right); err != nil {
					t.Fatal(err)
				}
				for range 2 {
					_ = g.Attempt(ctx, testenv.RandomName("ip-"), other, wrong)
				}
				if err := g.Attempt(ctx, testenv.RandomName("ip-"), other, right); err != nil {
					t.Errorf("after a success the count started again, yet: %v", err)
				}
			})

			t.Run("PausesAnAddressGuessingManyAccounts", func(t *testing.T) {
				guesser := testenv.RandomName("ip-")
				for i := range 5 {
					_ = g.Attempt(ctx, guesser, testenv.RandomName("w")+"@example.com", wrong)
					_ = i
				}
				if err := g.Attempt(ctx, guesser, testenv.RandomName("x")+"@example.com", right); !apperr.IsKind(err, apperr.KindTooMany) {
					t.Errorf("6th account from one address: %v, want a pause", err)
				}
				if err := g.Attempt(ctx, testenv.RandomName("ip-"), testenv.RandomName("y")+"@example.com", right); err != nil {
					t.Errorf("another address is paused too: %v", err)
				}
			})

			t.Run("InvalidInputIsNotAFailure", func(t *testing.T) {
				e := testenv.RandomName("z") + "@example.com"
				for range 5 {
					_ = g.Attempt(ctx, testenv.RandomName("ip-"), e, func() error {
						return apperr.Invalid("invalid_login", "x", nil)
					})
				}
				if err := g.Attempt(ctx, testenv.RandomName("ip-"), e, right); err != nil {
					t.Errorf("empty forms counted as failures: %v", err)
				}
			})
		})
	}
}

// TestRedisUnreachableIsUnavailable: a Redis that cannot be reached is a
// 503 (apperr unavailable), not an internal error, like every Redis store.
func TestRedisUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	pool := &redis.Pool{Dial: func() (redis.Conn, error) { return redis.Dial("tcp", addr) }}
	defer pool.Close()
	_, _, err = throttle.NewRedisStore(pool, "t:").Fail(context.Background(), "k", time.Minute)
	if !apperr.IsKind(err, apperr.KindUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
}
