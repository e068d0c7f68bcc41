package throttle

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/the-shop/shop/internal/apperr"
)

// Rate limits how many requests one key (a client address) may make per
// window, counted in a Store shared by every replica: the same fixed
// windows as the login counters, under keys of their own.
type Rate struct {
	store  Store
	limit  int
	window time.Duration
	now    func() time.Time
}

// NewRate returns a Rate of limit requests per window over store.
func NewRate(store Store, limit int, window time.Duration) *Rate {
	return &Rate{store: store, limit: limit, window: window, now: time.Now}
}

// ErrCodeTooManyWrites is the code of a request refused by a Rate.
const ErrCodeTooManyWrites = "too_many_requests"

// Allow counts one request for key and refuses it once the window holds
// the limit: the count is reserved in one atomic step, so concurrent
// requests on any replica never get past the limit together, and a
// refused request is not counted. retryAfter is how long until the window
// ends, for the Retry-After header.
func (r *Rate) Allow(ctx context.Context, key string) (retryAfter time.Duration, err error) {
	res, err := r.store.Reserve(ctx, "rate:"+key, 1, r.limit, r.window)
	if err != nil {
		return 0, err
	}
	if res.OK {
		return 0, nil
	}
	wait := max(res.Until.Sub(r.now()), time.Second)
	secs := int(math.Ceil(wait.Seconds()))
	return time.Duration(secs) * time.Second, apperr.TooMany(ErrCodeTooManyWrites,
		fmt.Sprintf("Too many changes from your address. Please wait %d seconds and try again.", secs))
}
