// Package throttle slows down password guessing: it counts failed logins per
// account and per client address in the configured store, shared by every
// replica, and refuses logins for a while once either count is too high.
package throttle

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/the-shop/shop/internal/apperr"
)

// Store counts failures under a key within a window that starts at the
// first failure.
type Store interface {
	// Count returns the failures recorded under key in its current window
	// and when that window ends (zero values when there are none).
	Count(ctx context.Context, key string) (int, time.Time, error)
	// Fail records one failure and returns the new count and window end;
	// the first failure opens a window of the given length.
	Fail(ctx context.Context, key string, window time.Duration) (int, time.Time, error)
	// Reset forgets the failures under key.
	Reset(ctx context.Context, key string) error
}

// Limits configure a Guard.
type Limits struct {
	// PerAccount and PerIP are the failures allowed within Window before
	// logins are refused until the window ends.
	PerAccount int
	PerIP      int
	Window     time.Duration
}

// Guard applies Limits to login attempts.
type Guard struct {
	store  Store
	limits Limits
	now    func() time.Time
	// Observer, when set, is told of every throttling event (metrics).
	Observer func(Event)
}

// Event is what a Guard did about one login attempt.
type Event string

// The events a Guard reports.
const (
	// EventRefused: a login refused because a counter is over its limit.
	EventRefused Event = "refused"
	// EventFailure: a failed login counted against the account and address.
	EventFailure Event = "failure"
	// EventReset: a successful login reset the account's counter.
	EventReset Event = "reset"
)

func (g *Guard) event(e Event) {
	if g.Observer != nil {
		g.Observer(e)
	}
}

// NewGuard returns a Guard over store.
func NewGuard(store Store, limits Limits) *Guard {
	return &Guard{store: store, limits: limits, now: time.Now}
}

func accountKey(email string) string { return "acct:" + strings.ToLower(strings.TrimSpace(email)) }
func ipKey(ip string) string         { return "ip:" + ip }

// Attempt runs one login attempt for email from ip. It refuses without
// calling login while either counter is over its limit; a failed login
// (login returns an Unauthorized error) counts against both; a successful
// one resets the account's counter. The address's counter is left to
// expire, so logging into one's own account cannot wipe out guesses made
// against others from the same address.
func (g *Guard) Attempt(ctx context.Context, ip, email string, login func() error) error {
	for _, c := range []struct {
		key   string
		limit int
	}{{accountKey(email), g.limits.PerAccount}, {ipKey(ip), g.limits.PerIP}} {
		n, until, err := g.store.Count(ctx, c.key)
		if err != nil {
			return err
		}
		if c.limit > 0 && n >= c.limit {
			g.event(EventRefused)
			return g.refusal(until)
		}
	}
	err := login()
	switch {
	case err == nil:
		g.event(EventReset)
		return g.store.Reset(ctx, accountKey(email))
	case apperr.IsKind(err, apperr.KindUnauthorized):
		g.event(EventFailure)
		if _, _, ferr := g.store.Fail(ctx, accountKey(email), g.limits.Window); ferr != nil {
			return ferr
		}
		if _, _, ferr := g.store.Fail(ctx, ipKey(ip), g.limits.Window); ferr != nil {
			return ferr
		}
	}
	return err
}

func (g *Guard) refusal(until time.Time) error {
	minutes := int(math.Ceil(until.Sub(g.now()).Minutes()))
	if minutes < 1 {
		minutes = 1
	}
	unit := "minutes"
	if minutes == 1 {
		unit = "minute"
	}
	return apperr.TooMany("too_many_login_failures",
		fmt.Sprintf("Too many failed logins. For your security, logging in is paused: try again in %d %s.", minutes, unit))
}
