// Package throttle slows down password guessing and bounds password
// hashing. Its counters live in the configured store, shared by every
// replica: attempts per account, per client address and per trusted device
// within a window, and password hashes per address per minute.
//
// An attempt reserves its slot before the password is checked (increment
// first, then compare, in one store operation), so no more checks than the
// limit ever run in one window, however many arrive at once and on
// whichever replica. A wrong password keeps its slot until the window ends.
// A right one gives back its own slot and nothing else: a success never
// erases failures, not even those of attempts running beside it, so
// logging in (or an attacker who once guesses right) cannot reopen a window
// for further guesses. Owners get through an attack on their account with
// a device cookie (devices.go), not by a success wiping the counter.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/the-shop/shop/internal/apperr"
)

// Store counts attempts under a key within a window that starts at the
// first one.
type Store interface {
	// Count returns the attempts counted under key in its current window
	// and when that window ends (zero values when there are none).
	Count(ctx context.Context, key string) (int, time.Time, error)
	// Reserve adds n to the count under key if the sum stays within limit
	// (limit <= 0: no limit), in one atomic step, opening a window of the
	// given length when none is open. It returns whether it added, and the
	// count and window end after it.
	Reserve(ctx context.Context, key string, n, limit int, window time.Duration) (Reservation, error)
	// Release takes n back from the count under key, only if the window
	// that ends at until (a Reservation's) is still the current one.
	Release(ctx context.Context, key string, n int, until time.Time) error
}

// Reservation is the answer of Store.Reserve.
type Reservation struct {
	OK    bool
	Count int
	Until time.Time
}

// Limits configure a Guard.
type Limits struct {
	// PerAccount and PerIP are the password checks allowed within Window
	// for an account and from a client address, for browsers without a
	// device cookie of the account (and for API clients).
	PerAccount int
	PerIP      int
	// PerDevice is the checks allowed within Window for a browser with a
	// device cookie of the account; 0 trusts no device cookie.
	PerDevice int
	Window    time.Duration
	// HashesPerIP bounds the bcrypt operations (sign-up, login, password
	// change) from one address within HashWindow; 0: no bound.
	HashesPerIP int
	HashWindow  time.Duration
}

// Guard applies Limits to password checks.
type Guard struct {
	store   Store
	limits  Limits
	devices *Devices
	now     func() time.Time
	// Observer, when set, is told of every throttling event (metrics).
	Observer func(Event)
}

// Event is what a Guard did about one attempt.
type Event string

// The events a Guard reports.
const (
	// EventRefused: an attempt refused because a counter is at its limit.
	EventRefused Event = "refused"
	// EventFailure: a wrong password, counted until its window ends.
	EventFailure Event = "failure"
	// EventSuccess: a right password; its own slot was given back.
	EventSuccess Event = "success"
	// EventDevice: an attempt counted against a trusted device.
	EventDevice Event = "device"
	// EventHashRefused: password hashing refused for the address.
	EventHashRefused Event = "hash_refused"
)

func (g *Guard) event(e Event) {
	if g.Observer != nil {
		g.Observer(e)
	}
}

// NewGuard returns a Guard over store. devices checks device cookies; nil
// trusts none.
func NewGuard(store Store, limits Limits, devices *Devices) *Guard {
	return &Guard{store: store, limits: limits, devices: devices, now: time.Now}
}

// Devices returns the device cookies the guard trusts (nil: none).
func (g *Guard) Devices() *Devices { return g.devices }

func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func accountKey(email string) string  { return "acct:" + normalizeEmail(email) }
func ipKey(ip string) string          { return "ip:" + ip }
func deviceKey(nonce string) string   { return "dev:" + nonce }
func passwordKey(userID int64) string { return "pw:" + strconv.FormatInt(userID, 10) }
func hashKey(ip string) string        { return "hash:" + ip }

// counter is one limit an attempt is counted against.
type counter struct {
	key   string
	limit int
}

// held is a reserved slot, to give back unless the attempt failed.
type held struct {
	key   string
	until time.Time
}

// reserve takes one slot of each counter, all or none: on a refusal it
// gives back what it took and returns when the full counter's window ends.
func (g *Guard) reserve(ctx context.Context, cs []counter) ([]held, time.Time, bool, error) {
	var hs []held
	for _, c := range cs {
		if c.limit <= 0 {
			continue
		}
		r, err := g.store.Reserve(ctx, c.key, 1, c.limit, g.limits.Window)
		if err != nil || !r.OK {
			g.release(ctx, hs)
			return nil, r.Until, false, err
		}
		hs = append(hs, held{c.key, r.Until})
	}
	return hs, time.Time{}, true, nil
}

// release gives slots back. A failure to do so is not reported: the slot
// then stays counted until its window ends, which errs on the safe side,
// and the attempt's own outcome is what the caller needs.
func (g *Guard) release(ctx context.Context, hs []held) {
	for _, h := range hs {
		_ = g.store.Release(context.WithoutCancel(ctx), h.key, 1, h.until)
	}
}

// Login runs check, the password check of a login for email from ip, if
// the counters allow it. A browser presenting device, a valid device
// cookie for email, is counted against that device alone, so an attacker
// who exhausts the account's or the address's limit does not lock it out;
// once the device has used up its own limit it counts as an unknown
// browser. A wrong password (check returns an Unauthorized error) keeps
// its slots; anything else gives them back. check runs one bcrypt
// comparison, which counts against the address's hashing bound.
func (g *Guard) Login(ctx context.Context, ip, email, device string, check func() error) error {
	var hs []held
	trusted := false
	if nonce, ok := g.devices.verify(device, email); ok && g.limits.PerDevice > 0 {
		var err error
		if hs, _, trusted, err = g.reserve(ctx, []counter{{deviceKey(nonce), g.limits.PerDevice}}); err != nil {
			return err
		}
	}
	if !trusted {
		var until time.Time
		var ok bool
		var err error
		hs, until, ok, err = g.reserve(ctx, []counter{{accountKey(email), g.limits.PerAccount}, {ipKey(ip), g.limits.PerIP}})
		if err != nil {
			return err
		}
		if !ok {
			g.event(EventRefused)
			return g.paused("too_many_login_failures",
				"Too many failed logins. For your security, logging in is paused: try again in %s.", until)
		}
	} else {
		g.event(EventDevice)
	}
	return g.run(ctx, hs, ip, 1, check, func(err error) bool { return apperr.IsKind(err, apperr.KindUnauthorized) })
}

// CurrentPassword runs check, the current-password check of a password
// change by the signed-in account userID from ip, if the counters allow
// it: per account (its own counter, which only someone holding one of the
// account's sessions can spend, so a stranger cannot lock the owner out of
// changing the password) and per address (shared with logins). check
// returns wrong (errors.Is) for a wrong current password; it runs up to
// two bcrypt operations (compare, then hash the new password).
func (g *Guard) CurrentPassword(ctx context.Context, ip string, userID int64, wrong error, check func() error) error {
	hs, until, ok, err := g.reserve(ctx, []counter{{passwordKey(userID), g.limits.PerAccount}, {ipKey(ip), g.limits.PerIP}})
	if err != nil {
		return err
	}
	if !ok {
		g.event(EventRefused)
		return g.paused("too_many_password_failures",
			"Too many wrong current passwords. For your security, password changes are paused: try again in %s.", until)
	}
	return g.run(ctx, hs, ip, 2, check, func(err error) bool { return errors.Is(err, wrong) })
}

// run spends the hashing budget, runs check and settles the slots.
func (g *Guard) run(ctx context.Context, hs []held, ip string, hashes int, check func() error, failed func(error) bool) error {
	if err := g.Hashing(ctx, ip, hashes); err != nil {
		g.release(ctx, hs)
		return err
	}
	err := check()
	switch {
	case err == nil:
		g.event(EventSuccess)
		g.release(ctx, hs)
	case failed(err):
		g.event(EventFailure)
	default:
		g.release(ctx, hs)
	}
	return err
}

// Hashing reserves n bcrypt operations for ip, or refuses with a 429 that
// says when to retry once the address has used up HashesPerIP in the
// current HashWindow. Sign-up calls it; Login and CurrentPassword do.
func (g *Guard) Hashing(ctx context.Context, ip string, n int) error {
	if g.limits.HashesPerIP <= 0 {
		return nil
	}
	r, err := g.store.Reserve(ctx, hashKey(ip), n, g.limits.HashesPerIP, g.limits.HashWindow)
	if err != nil || r.OK {
		return err
	}
	g.event(EventHashRefused)
	wait := g.retryAfter(r.Until)
	e := apperr.TooMany("too_many_password_checks",
		fmt.Sprintf("Too many password checks from your network. Please wait %s and try again.", plural(int(wait.Seconds()), "second")))
	e.RetryAfter = wait
	return e
}

// retryAfter is the wait until a window ends, in whole seconds, at least 1.
func (g *Guard) retryAfter(until time.Time) time.Duration {
	s := math.Ceil(until.Sub(g.now()).Seconds())
	return time.Duration(max(s, 1)) * time.Second
}

// paused is the refusal of an attempt while a counter is full: the message
// says how many minutes are left, Retry-After the seconds.
func (g *Guard) paused(code, format string, until time.Time) error {
	if until.IsZero() {
		until = g.now().Add(g.limits.Window)
	}
	wait := g.retryAfter(until)
	e := apperr.TooMany(code, fmt.Sprintf(format, plural(int(math.Ceil(wait.Minutes())), "minute")))
	e.RetryAfter = wait
	return e
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
