package session

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/config"
)

// The tests of this file load one session in several "requests" at once,
// as tabs and replicas do, and check that no request's write undoes what
// another did. Each runs on every store.

var allKinds = []config.Kind{config.StoreRedis, config.StorePostgres, config.StoreMemory}

func consistencyOptions(kind config.Kind) Options {
	return Options{Kind: kind, CookieName: "session", IdleTimeout: time.Hour, Lifetime: 24 * time.Hour,
		RememberLifetime: 48 * time.Hour, Secret: []byte("a secret of the test, 32 bytes or more")}
}

// flashes is the messages of the flashes a session holds, in order.
func flashes(s *Session) []string {
	var out []string
	for _, f := range s.PopFlashes() {
		out = append(out, f.Message)
	}
	return out
}

// stored saves s and returns the token the next request would carry.
func cookieOf(t *testing.T, s *Session) string {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := s.Save(context.Background(), rec); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

func TestConcurrentWritesLoseNothing(t *testing.T) {
	t.Parallel()
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			m, _ := newTestManager(t, consistencyOptions(kind))
			first := mustLoad(t, m, "")
			first.AddFlash("info", "first")
			token := cookieOf(t, first)

			// Two requests load the session, then both change it: the
			// second to save loads what the first stored and adds its own
			// change on top.
			a, b := mustLoad(t, m, token), mustLoad(t, m, token)
			a.AddFlash("info", "from a")
			b.AddFlash("info", "from b")
			b.SetCartID("cart-b")
			mustSave(t, a)
			mustSave(t, b)
			got := mustLoad(t, m, token)
			if f := flashes(got); !slices.Equal(f, []string{"first", "from a", "from b"}) || got.CartID() != "cart-b" {
				t.Errorf("after two concurrent writes: flashes %q, cart %q; want all three and cart-b", f, got.CartID())
			}
		})
	}
}

func TestPopKeepsFlashesQueuedMeanwhile(t *testing.T) {
	t.Parallel()
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			m, _ := newTestManager(t, consistencyOptions(kind))
			s := mustLoad(t, m, "")
			s.AddFlash("success", "Added to cart.")
			token := cookieOf(t, s)

			page, post := mustLoad(t, m, token), mustLoad(t, m, token)
			shown := flashes(page) // a page shows the flash...
			post.AddFlash("success", "Removed from cart.")
			mustSave(t, post) // ...while another tab's POST queues one
			mustSave(t, page)
			if !slices.Equal(shown, []string{"Added to cart."}) {
				t.Fatalf("shown %q", shown)
			}
			if got := flashes(mustLoad(t, m, token)); !slices.Equal(got, []string{"Removed from cart."}) {
				t.Errorf("left for the next page: %q, want the one queued meanwhile", got)
			}
		})
	}
}

// TestPendingSessionIsShared: a visitor's first page mints a token; the
// concurrent first writes that follow all land in one session and one
// guest cart id.
func TestPendingSessionIsShared(t *testing.T) {
	t.Parallel()
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			m, _ := newTestManager(t, consistencyOptions(kind))
			page := mustLoad(t, m, "")
			token := cookieOf(t, page)
			if token == "" || !m.pendingToken(token) {
				t.Fatalf("first page set cookie %q, want a minted token", token)
			}
			if page.r.found.version != 0 {
				t.Fatal("the first page stored a session")
			}

			const tabs = 8
			var wg sync.WaitGroup
			carts := make([]string, tabs)
			errs := make([]error, tabs)
			for i := range tabs {
				wg.Go(func() {
					s, err := m.Load(context.Background(), token, Request{})
					if err != nil {
						errs[i] = err
						return
					}
					carts[i] = s.GuestCartID()
					s.AddFlash("success", "added")
					rec := httptest.NewRecorder()
					errs[i] = s.Save(context.Background(), rec)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("tab %d: %v", i, err)
				}
			}
			for _, c := range carts {
				if c != carts[0] || c == "" {
					t.Fatalf("guest carts %q: want one", carts)
				}
			}
			got := mustLoad(t, m, token)
			if got.Token() != token || got.CartID() != carts[0] || len(flashes(got)) != tabs {
				t.Errorf("stored session: token kept %v, cart %q, flashes %d; want the pending token, %q and %d flashes",
					got.Token() == token, got.CartID(), len(flashes(got)), carts[0], tabs)
			}
		})
	}
}

func TestForgedTokenIsNotPending(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, consistencyOptions(config.StoreMemory))
	other, _ := newTestManager(t, Options{Kind: config.StoreMemory, CookieName: "session", Lifetime: time.Hour, Secret: []byte("another shop's secret, 32 bytes or more")})
	theirs := cookieOf(t, mustLoad(t, other, ""))
	for _, token := range []string{theirs, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "short"} {
		s := mustLoad(t, m, token)
		if s.Token() == token {
			t.Errorf("token %q not minted here was taken as the session's id", token)
		}
	}
}

func TestCommitAfterLogoutElsewhere(t *testing.T) {
	t.Parallel()
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			m, st := newTestManager(t, consistencyOptions(kind))
			s := mustLoad(t, m, "")
			if err := s.Login(context.Background(), newUser(t, st), "a@example.com", false); err != nil {
				t.Fatal(err)
			}
			token := cookieOf(t, s)

			inFlight := mustLoad(t, m, token) // another tab's request
			tab := mustLoad(t, m, token)
			if err := tab.Logout(context.Background()); err != nil {
				t.Fatal(err)
			}
			mustSave(t, tab)
			inFlight.AddFlash("success", "Added to cart.")
			err := inFlight.Save(context.Background(), httptest.NewRecorder())
			var ended *Ended
			if !errors.As(err, &ended) || ended.Renewed || !ended.SignedIn {
				t.Fatalf("save after logout elsewhere = %v, want *Ended (signed out)", err)
			}
			if got := mustLoad(t, m, token); got.UserID() != 0 {
				t.Errorf("the logged-out session came back (user %d)", got.UserID())
			}
		})
	}
}

func TestCommitAfterLoginElsewhere(t *testing.T) {
	t.Parallel()
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			m, st := newTestManager(t, consistencyOptions(kind))
			user := newUser(t, st)
			guest := mustLoad(t, m, "")
			cart := guest.GuestCartID()
			token := cookieOf(t, guest)

			inFlight := mustLoad(t, m, token)
			login := mustLoad(t, m, token)
			login.ClearCartID() // merged by the caller
			if err := login.Login(context.Background(), user, "b@example.com", false); err != nil {
				t.Fatal(err)
			}
			mustSave(t, login)
			inFlight.AddFlash("success", "Added to cart.")
			err := inFlight.Save(context.Background(), httptest.NewRecorder())
			var ended *Ended
			if !errors.As(err, &ended) || !ended.Renewed || ended.Account != user.PublicID || ended.GuestCart != cart {
				t.Fatalf("save after a login elsewhere = %#v, want *Ended renewed to %s with guest cart %s", err, user.PublicID, cart)
			}
			if got := mustLoad(t, m, token); got.UserID() != 0 || got.CartID() != "" {
				t.Errorf("the pre-login session came back: user %d, cart %q", got.UserID(), got.CartID())
			}
		})
	}
}

// accountsFunc is an AccountCheck from a function.
type accountsFunc func(account.Identity) bool

func (f accountsFunc) Current(_ context.Context, id account.Identity) (bool, error) {
	return f(id), nil
}

func TestSessionOfAMovedOnAccountEnds(t *testing.T) {
	t.Parallel()
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var user account.Identity
			opts := consistencyOptions(kind)
			opts.Accounts = accountsFunc(func(id account.Identity) bool {
				mu.Lock()
				defer mu.Unlock()
				return id == user
			})
			m, st := newTestManager(t, opts)
			mu.Lock()
			user = newUser(t, st)
			mu.Unlock()
			s := mustLoad(t, m, "")
			if err := s.Login(context.Background(), user, "a@example.com", false); err != nil {
				t.Fatal(err)
			}
			token := cookieOf(t, s)
			if got := mustLoad(t, m, token); got.UserID() != user.ID || got.Ended() {
				t.Fatalf("session before the epoch moved: user %d, ended %v", got.UserID(), got.Ended())
			}
			mu.Lock()
			user.Epoch++ // "sign out everywhere", a password change
			mu.Unlock()
			got := mustLoad(t, m, token)
			if got.UserID() != 0 || !got.Ended() || got.Token() == token {
				t.Errorf("session after the epoch moved: user %d, ended %v, same token %v; want a fresh guest session",
					got.UserID(), got.Ended(), got.Token() == token)
			}
			if _, _, found, _ := m.b.find(context.Background(), storeHash(token)); found {
				t.Error("the refused session is still stored")
			}
		})
	}
}
