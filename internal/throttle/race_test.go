package throttle_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/throttle"
)

// TestGuardBoundsChecksUnderConcurrency: 40 wrong guesses and the right
// password at once, through two guards on one store (two replicas), are
// never checked more than the limit allows in one window, and the right
// password among them does not reopen the window: of 40 more guesses after
// the storm, only as many are checked as keep the wrong ones within the
// limit. (A success gives back its own slot, so the checks in a window are
// at most the limit plus the successes; the wrong ones, at most the limit.)
func TestGuardBoundsChecksUnderConcurrency(t *testing.T) {
	t.Parallel()
	const limit, storm = 5, 40
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			limits := throttle.Limits{PerAccount: limit, PerIP: 1000, Window: time.Minute}
			replicas := []*throttle.Guard{throttle.NewGuard(s, limits, nil), throttle.NewGuard(s, limits, nil)}
			email := testenv.RandomName("race") + "@example.com"
			var checks, wrongChecked, rightIn atomic.Int64
			attempt := func(g *throttle.Guard, right bool) error {
				return g.Login(ctx, testenv.RandomName("ip-"), email, "", func() error {
					checks.Add(1)
					time.Sleep(5 * time.Millisecond) // a password check takes a while
					if right {
						rightIn.Add(1)
						return nil
					}
					wrongChecked.Add(1)
					return account.ErrBadCredentials
				})
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range storm + 1 {
				wg.Go(func() {
					<-start
					err := attempt(replicas[i%2], i == storm/2)
					if err != nil && !apperr.IsKind(err, apperr.KindUnauthorized) && !apperr.IsKind(err, apperr.KindTooMany) {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			inStorm := checks.Load()
			for i := range storm {
				_ = attempt(replicas[i%2], false)
			}
			t.Logf("%d concurrent attempts (limit %d): %d password checks, %d more after the storm; wrong ones checked: %d; right password got in: %v",
				storm+1, limit, inStorm, checks.Load()-inStorm, wrongChecked.Load(), rightIn.Load() == 1)
			if got := wrongChecked.Load(); got > limit {
				t.Errorf("%d wrong passwords checked in one window (storm and after), want at most %d", got, limit)
			}
			if got := checks.Load(); got > limit+rightIn.Load() {
				t.Errorf("%d password checks in one window (storm %d, after it %d), want at most %d", got, inStorm, got-inStorm, limit+rightIn.Load())
			}
		})
	}
}
