package account_test

import (
	"context"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/account"
)

// eventually polls cond for up to two seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIdentities(t *testing.T) {
	t.Parallel()
	svc, db := newService(t)
	ctx := context.Background()
	signup := func(email string) account.Identity {
		u, err := svc.Signup(ctx, account.Credentials{Email: email, Password: "password123"})
		if err != nil {
			t.Fatal(err)
		}
		if u.PublicID == "" || u.Epoch != 1 {
			t.Fatalf("new account: public id %q, epoch %d", u.PublicID, u.Epoch)
		}
		return account.Identity{ID: u.ID, PublicID: u.PublicID, Epoch: u.Epoch}
	}
	current := func(ids *account.Identities, id account.Identity) bool {
		t.Helper()
		ok, err := ids.Current(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	t.Run("CachedWhileListening", func(t *testing.T) {
		ids := account.NewIdentities(db, time.Minute, nil)
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		go ids.Listen(lctx)
		a := signup("cached@example.com")
		// The first check reads; once the listener is up, later ones don't.
		eventually(t, "cache fills", func() bool {
			before := ids.Reads()
			return current(ids, a) && current(ids, a) && ids.Reads() == before+1
		})
		before := ids.Reads()
		for range 100 {
			if !current(ids, a) {
				t.Fatal("current identity refused")
			}
		}
		if got := ids.Reads() - before; got != 0 {
			t.Errorf("100 checks of a cached identity read the database %d times", got)
		}

		// Another replica moves the epoch on: the notification reaches
		// this one, which refuses the old identity from then on.
		epoch, err := svc.NewEpoch(ctx, a.ID)
		if err != nil || epoch != 2 {
			t.Fatalf("NewEpoch = %d, %v", epoch, err)
		}
		eventually(t, "old epoch refused", func() bool { return !current(ids, a) })
		a.Epoch = epoch
		if !current(ids, a) {
			t.Error("the new epoch is refused")
		}

		// A session newer than the cache (its epoch moved a moment ago on
		// another replica) is accepted at once: the database decides.
		if _, err := db.Exec(ctx, `UPDATE users SET session_epoch = 3 WHERE id = $1`, a.ID); err != nil {
			t.Fatal(err)
		}
		a.Epoch = 3
		if !current(ids, a) {
			t.Error("an identity newer than the cache is refused")
		}

		// An account that is deleted, or another account under the same
		// serial id, does not pass.
		if _, err := db.Exec(ctx, `DELETE FROM users WHERE id = $1`, a.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "deleted account refused", func() bool { return !current(ids, a) })
	})

	t.Run("AnotherAccountUnderTheSameID", func(t *testing.T) {
		ids := account.NewIdentities(db, time.Minute, nil)
		b := signup("b@example.com")
		if !current(ids, b) {
			t.Fatal("refused")
		}
		stale := b
		stale.PublicID = "00000000-0000-0000-0000-000000000000"
		if current(ids, stale) {
			t.Error("an identity with another public id passes")
		}
	})

	t.Run("WithoutListenerEveryCheckReads", func(t *testing.T) {
		ids := account.NewIdentities(db, time.Minute, nil)
		c := signup("c@example.com")
		before := ids.Reads()
		for range 3 {
			if !current(ids, c) {
				t.Fatal("refused")
			}
		}
		if got := ids.Reads() - before; got != 3 {
			t.Errorf("3 checks without notifications read %d times, want 3 (nothing may be cached)", got)
		}
	})
}
