package throttle_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
				r, err := s.Reserve(ctx, key, 1, 3, 400*time.Millisecond)
				if err != nil || !r.OK || r.Count != i {
					t.Fatalf("Reserve %d = %+v, %v", i, r, err)
				}
				if i == 1 {
					first = r.Until
				} else if !r.Until.Equal(first) {
					t.Errorf("reservation %d moved the window end from %v to %v", i, first, r.Until)
				}
			}
			if r, err := s.Reserve(ctx, key, 1, 3, time.Minute); err != nil || r.OK || r.Count != 3 || !r.Until.Equal(first) {
				t.Errorf("Reserve past the limit = %+v, %v; want refused with count 3 and the window end", r, err)
			}
			if n, _, _ := s.Count(ctx, key); n != 3 {
				t.Errorf("Count = %d, want 3 (a refusal adds nothing)", n)
			}
			// Release gives back within its window, never below zero.
			if err := s.Release(ctx, key, 1, first); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := s.Count(ctx, key); n != 2 {
				t.Errorf("Count after a release = %d, want 2", n)
			}
			if err := s.Release(ctx, key, 1, first.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := s.Count(ctx, key); n != 2 {
				t.Errorf("a release for another window took back a slot: count %d", n)
			}
			time.Sleep(500 * time.Millisecond)
			if n, _, _ := s.Count(ctx, key); n != 0 {
				t.Errorf("Count after the window = %d, want 0", n)
			}
			if err := s.Release(ctx, key, 1, first); err != nil {
				t.Fatal(err)
			}
			r, err := s.Reserve(ctx, key, 2, 3, time.Minute)
			if err != nil || !r.OK || r.Count != 2 || !r.Until.After(first) {
				t.Errorf("first reservation of a new window = %+v, %v", r, err)
			}
			if err := s.Release(ctx, key, 5, r.Until); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := s.Count(ctx, key); n != 0 {
				t.Errorf("release of more than was held: count %d, want 0", n)
			}
			if r, _ := s.Reserve(ctx, testenv.RandomName("k-"), 4, 3, time.Minute); r.OK {
				t.Errorf("reserving more than the limit at once succeeded: %+v", r)
			}
			// Concurrent reservations from several replicas: exactly the
			// limit succeed, and without a limit all count.
			var wg sync.WaitGroup
			var ok atomic.Int64
			bounded, unbounded := testenv.RandomName("b-"), testenv.RandomName("u-")
			for range 20 {
				wg.Go(func() {
					r, err := s.Reserve(ctx, bounded, 1, 7, time.Minute)
					if err != nil {
						t.Error(err)
					}
					if r.OK {
						ok.Add(1)
					}
					if _, err := s.Reserve(ctx, unbounded, 1, 0, time.Minute); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if ok.Load() != 7 {
				t.Errorf("%d of 20 concurrent reservations succeeded, want the limit 7", ok.Load())
			}
			if n, _, _ := s.Count(ctx, unbounded); n != 20 {
				t.Errorf("after 20 concurrent unlimited reservations Count = %d", n)
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
			g := throttle.NewGuard(s, throttle.Limits{PerAccount: 3, PerIP: 5, Window: time.Minute}, nil)
			wrong := func() error { return account.ErrBadCredentials }
			right := func() error { return nil }
			email, ip := testenv.RandomName("u")+"@example.com", testenv.RandomName("ip-")

			t.Run("PausesAnAccountAfterItsLimit", func(t *testing.T) {
				for i := range 3 {
					if err := g.Login(ctx, ip, email, "", wrong); err != account.ErrBadCredentials {
						t.Fatalf("attempt %d: %v, want bad credentials", i+1, err)
					}
				}
				// Even the right password is refused while paused.
				err := g.Login(ctx, ip, strings.ToUpper(email), "", right)
				e := apperr.As(err)
				if e == nil || e.Kind != apperr.KindTooMany || !strings.Contains(e.Message, "try again in 1 minute") {
					t.Fatalf("4th attempt: %v, want a pause with the time left", err)
				}
				if e.RetryAfter <= 0 || e.RetryAfter > time.Minute {
					t.Errorf("RetryAfter = %v, want the rest of the window", e.RetryAfter)
				}
			})

			t.Run("SuccessGivesBackOnlyItsOwnSlot", func(t *testing.T) {
				other := testenv.RandomName("v") + "@example.com"
				for range 10 { // successes alone never fill the counter
					if err := g.Login(ctx, testenv.RandomName("ip-"), other, "", right); err != nil {
						t.Fatal(err)
					}
				}
				for range 2 {
					_ = g.Login(ctx, testenv.RandomName("ip-"), other, "", wrong)
				}
				if err := g.Login(ctx, testenv.RandomName("ip-"), other, "", right); err != nil {
					t.Fatal(err)
				}
				// The two failures still count: one more is allowed, then
				// the window is closed, success or not.
				_ = g.Login(ctx, testenv.RandomName("ip-"), other, "", wrong)
				if err := g.Login(ctx, testenv.RandomName("ip-"), other, "", right); !apperr.IsKind(err, apperr.KindTooMany) {
					t.Errorf("a success erased earlier failures: %v, want a pause", err)
				}
			})

			t.Run("PausesAnAddressGuessingManyAccounts", func(t *testing.T) {
				guesser := testenv.RandomName("ip-")
				for range 5 {
					_ = g.Login(ctx, guesser, testenv.RandomName("w")+"@example.com", "", wrong)
				}
				if err := g.Login(ctx, guesser, testenv.RandomName("x")+"@example.com", "", right); !apperr.IsKind(err, apperr.KindTooMany) {
					t.Errorf("6th account from one address: %v, want a pause", err)
				}
				if err := g.Login(ctx, testenv.RandomName("ip-"), testenv.RandomName("y")+"@example.com", "", right); err != nil {
					t.Errorf("another address is paused too: %v", err)
				}
			})

			t.Run("InvalidInputIsNotAFailure", func(t *testing.T) {
				e := testenv.RandomName("z") + "@example.com"
				for range 5 {
					_ = g.Login(ctx, testenv.RandomName("ip-"), e, "", func() error {
						return apperr.Invalid("invalid_login", "x", nil)
					})
				}
				if err := g.Login(ctx, testenv.RandomName("ip-"), e, "", right); err != nil {
					t.Errorf("empty forms counted as failures: %v", err)
				}
			})

			t.Run("CurrentPasswordHasItsOwnAccountCounter", func(t *testing.T) {
				errWrong := apperr.Invalid("wrong_password", "x", nil)
				uid := time.Now().UnixNano()
				for range 3 {
					if err := g.CurrentPassword(ctx, testenv.RandomName("ip-"), uid, errWrong, func() error { return errWrong }); err != errWrong {
						t.Fatalf("wrong current password: %v", err)
					}
				}
				err := g.CurrentPassword(ctx, testenv.RandomName("ip-"), uid, errWrong, right)
				if e := apperr.As(err); e == nil || e.Code != "too_many_password_failures" {
					t.Fatalf("4th current-password check: %v, want too_many_password_failures", err)
				}
				// A stranger's login failures do not stop it, and its
				// failures do not lock the login.
				if err := g.CurrentPassword(ctx, testenv.RandomName("ip-"), uid+1, errWrong, right); err != nil {
					t.Errorf("another account's password change: %v", err)
				}
			})
		})
	}
}

func TestHashingBudget(t *testing.T) {
	t.Parallel()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			g := throttle.NewGuard(s, throttle.Limits{PerAccount: 100, PerIP: 100, Window: time.Minute, HashesPerIP: 4, HashWindow: time.Minute}, nil)
			ip := testenv.RandomName("ip-")
			if err := g.Hashing(ctx, ip, 1); err != nil { // a sign-up
				t.Fatal(err)
			}
			if err := g.CurrentPassword(ctx, ip, 1, account.ErrBadCredentials, func() error { return nil }); err != nil { // 2
				t.Fatal(err)
			}
			ran := false
			if err := g.Login(ctx, ip, "a@example.com", "", func() error { ran = true; return nil }); err != nil || !ran { // 4
				t.Fatal(err)
			}
			ran = false
			err := g.Login(ctx, ip, "b@example.com", "", func() error { ran = true; return nil })
			e := apperr.As(err)
			if ran || e == nil || e.Code != "too_many_password_checks" || e.RetryAfter <= 0 || e.RetryAfter > time.Minute {
				t.Fatalf("5th hash from one address: ran %v, %v (RetryAfter %v); want too_many_password_checks", ran, err, e)
			}
			if err := g.Hashing(ctx, testenv.RandomName("ip-"), 1); err != nil {
				t.Errorf("another address was refused: %v", err)
			}
			// A refusal by the budget gives the login slots back.
			if n, _, _ := s.Count(ctx, "acct:b@example.com"); n != 0 {
				t.Errorf("the refused login kept its account slot: %d", n)
			}
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
	_, err = throttle.NewRedisStore(pool, "t:").Reserve(context.Background(), "k", 1, 5, time.Minute)
	if !apperr.IsKind(err, apperr.KindUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
}
