package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

func options(kind config.Kind) Options {
	return Options{
		Kind:             kind,
		CookieName:       "session",
		IdleTimeout:      30 * time.Minute,
		Lifetime:         24 * time.Hour,
		RememberLifetime: 720 * time.Hour,
	}
}

// newManager builds a Manager of kind on real backing stores.
func newManager(t *testing.T, kind config.Kind) (*Manager, *pgxpool.Pool) {
	t.Helper()
	m, st := newTestManager(t, options(kind))
	return m, st.db
}

// storeHash is the token scs hands the store when HashTokenInStore is set:
// the SHA-256 of the cookie token, base64url-encoded without padding.
func storeHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func mustInsertUser(t *testing.T, db *pgxpool.Pool, email string) int64 {
	t.Helper()
	var id int64
	err := db.QueryRow(context.Background(),
		`INSERT INTO users (email, password_hash) VALUES ($1, 'not-a-real-hash') RETURNING id`, email).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestNew(t *testing.T) {
	t.Parallel()

	for _, kind := range []config.Kind{config.StoreRedis, config.StorePostgres, config.StoreMemory} {
		t.Run("Builds"+strings.ToUpper(string(kind[:1]))+string(kind[1:])+"Manager", func(t *testing.T) {
			t.Parallel()
			m, _ := newManager(t, kind)
			if m.Kind() != kind {
				t.Errorf("Kind() = %q, want %q", m.Kind(), kind)
			}
			if !m.scs.HashTokenInStore {
				t.Error("HashTokenInStore = false, want true")
			}
			c := m.scs.Cookie
			if c.Name != "session" || !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.Persist {
				t.Errorf("cookie = %+v, want name session, HttpOnly, Path /, SameSite Lax, not persistent", c)
			}
			// The manager really talks to its store: a value survives a
			// commit and a load with the token.
			ctx := mustLoad(t, m, "")
			ctx.SetCartID("cart-" + string(kind))
			token := mustSave(t, ctx)
			if got := mustLoad(t, m, token).CartID(); got != "cart-"+string(kind) {
				t.Errorf("CartID after Commit and Load = %q, want %q", got, "cart-"+string(kind))
			}
		})
	}

	t.Run("RedisStoreKeysAreUnderPrefix", func(t *testing.T) {
		t.Parallel()
		m, st := newTestManager(t, options(config.StoreRedis))
		pool, prefix := st.pool, st.prefix
		ctx := mustLoad(t, m, "")
		ctx.SetCartID("x")
		token := mustSave(t, ctx)
		keys := testenv.Keys(t, pool, prefix)
		slices.Sort(keys)
		want := []string{prefix + "session:" + storeHash(token)}
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("redis keys = %v, want %v", keys, want)
		}
	})

	t.Run("CookieSecureFollowsOptions", func(t *testing.T) {
		t.Parallel()
		opts := options(config.StoreMemory)
		opts.CookieSecure = true
		m, _ := newTestManager(t, opts)
		if !m.scs.Cookie.Secure {
			t.Error("Cookie.Secure = false, want true")
		}
		// scs's idle timeout stays off: the Manager applies it, so that an
		// unchanged session is not rewritten on every request.
		if m.scs.IdleTimeout != 0 || m.scs.Lifetime != opts.Lifetime {
			t.Errorf("scs timeouts = %v/%v, want 0/%v", m.scs.IdleTimeout, m.scs.Lifetime, opts.Lifetime)
		}
	})

	t.Run("RejectsNoBackend", func(t *testing.T) {
		t.Parallel()
		m, err := New(options(config.StoreRedis), Backend{})
		if err == nil || m != nil {
			t.Errorf("New without a backend = %v, %v; want nil and an error", m, err)
		}
	})
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	m, db := newManager(t, config.StorePostgres)
	ctx := context.Background()

	t.Run("CommitStoresHashedTokenAndUserID", func(t *testing.T) {
		t.Parallel()
		const email = "commit@example.com"
		uid := mustInsertUser(t, db, email)
		sctx := mustLoad(t, m, "")
		sctx.SetCartID("guest-cart")
		if err := sctx.Login(context.Background(), ident(uid), email, false); err != nil {
			t.Fatal(err)
		}
		token := mustSave(t, sctx)

		var stored string
		var storedUser *int64
		err := db.QueryRow(ctx, `SELECT token, user_id FROM sessions WHERE user_id = $1`, uid).Scan(&stored, &storedUser)
		if err != nil {
			t.Fatalf("find the committed session by user id: %v", err)
		}
		if stored == token || strings.Contains(stored, token) {
			t.Errorf("the sessions table holds the cookie token %q", token)
		}
		if want := storeHash(token); stored != want {
			t.Errorf("stored token = %q, want the SHA-256 of the cookie token %q", stored, want)
		}
		if storedUser == nil || *storedUser != uid {
			t.Errorf("stored user_id = %v, want %d", storedUser, uid)
		}

		// The raw cookie token is nowhere in the store; the manager
		// (which hashes it) finds the session with its values.
		var raw int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE token = $1`, token).Scan(&raw); err != nil || raw != 0 {
			t.Errorf("rows keyed by the cookie token = %d, %v; want 0", raw, err)
		}
		loaded := mustLoad(t, m, token)
		// Login starts a clean session: the guest cart was the caller's to
		// merge, and nothing else of the guest carries over.
		if loaded.UserID() != uid || loaded.Email() != email || loaded.CartID() != "" {
			t.Errorf("loaded session: user %d %q cart %q; want %d %q and no guest cart",
				loaded.UserID(), loaded.Email(), loaded.CartID(), uid, email)
		}
	})

	t.Run("GuestCommitHasNoUserID", func(t *testing.T) {
		t.Parallel()
		sctx := mustLoad(t, m, "")
		sctx.SetCartID("guest")
		token := mustSave(t, sctx)
		var storedUser *int64
		if err := db.QueryRow(ctx, `SELECT user_id FROM sessions WHERE token = $1`, storeHash(token)).Scan(&storedUser); err != nil {
			t.Fatal(err)
		}
		if storedUser != nil {
			t.Errorf("guest session user_id = %d, want NULL", *storedUser)
		}
	})

	t.Run("LoginRenewsToken", func(t *testing.T) {
		t.Parallel()
		const email = "renew@example.com"
		uid := mustInsertUser(t, db, email)
		guest := mustLoad(t, m, "")
		guest.SetCartID("c")
		before := mustSave(t, guest)

		sctx := mustLoad(t, m, before)
		if err := sctx.Login(context.Background(), ident(uid), email, false); err != nil {
			t.Fatal(err)
		}
		after := mustSave(t, sctx)
		if after == before {
			t.Fatal("Login kept the session token; a planted token would survive login")
		}
		// What stays of the pre-login session is a marker for requests of
		// it still in flight: no data, no account, where it went.
		var data []byte
		var user *int64
		var renewedTo *string
		if err := db.QueryRow(ctx, `SELECT data, user_id, renewed_to FROM sessions WHERE token = $1`, storeHash(before)).
			Scan(&data, &user, &renewedTo); err != nil {
			t.Fatal(err)
		}
		if len(data) != 0 || user != nil || renewedTo == nil || *renewedTo != ident(uid).PublicID {
			t.Errorf("the pre-login session row: %d bytes of data, user %v, renewed to %v; want a marker naming the account", len(data), user, renewedTo)
		}
		if got := mustLoad(t, m, before).UserID(); got != 0 {
			t.Errorf("the pre-login token loads user %d, want a fresh guest session", got)
		}
	})

	t.Run("LoginWithRememberExtendsDeadline", func(t *testing.T) {
		t.Parallel()
		uid := mustInsertUser(t, db, "remember@example.com")
		sctx := mustLoad(t, m, "")
		if err := sctx.Login(context.Background(), ident(uid), "remember@example.com", true); err != nil {
			t.Fatal(err)
		}
		want := time.Now().Add(720 * time.Hour)
		if got := sctx.m.scs.Deadline(sctx.data); got.Before(want.Add(-time.Minute)) || got.After(want.Add(time.Minute)) {
			t.Errorf("deadline after remember-me login = %v, want about %v", got, want)
		}
		if !sctx.Remembered() {
			t.Error("remember-me flag not set on the session")
		}
	})

	t.Run("RememberedSessionOutlivesIdleTimeout", func(t *testing.T) {
		t.Parallel()
		const email = "remember-idle@example.com"
		uid := mustInsertUser(t, db, email)
		sctx := mustLoad(t, m, "")
		if err := sctx.Login(context.Background(), ident(uid), email, true); err != nil {
			t.Fatal(err)
		}
		token := mustSave(t, sctx)
		expiry, _ := sctx.Expiry()
		var stored time.Time
		if err := db.QueryRow(ctx, `SELECT expiry FROM sessions WHERE token = $1`, storeHash(token)).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		// The remembered session must still be in the store the next day.
		nextDay := time.Now().Add(24 * time.Hour)
		if expiry.Before(nextDay) || stored.Before(nextDay) {
			t.Errorf("remembered session expires at %v (stored %v), want after %v", expiry, stored, nextDay)
		}
	})

	t.Run("LogoutDeletesStoredSession", func(t *testing.T) {
		t.Parallel()
		sctx := mustLoad(t, m, "")
		sctx.SetCartID("c")
		token := mustSave(t, sctx)
		if err := mustLoad(t, m, token).Logout(context.Background()); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE token = $1`, storeHash(token)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("sessions rows after Logout = %d, want 0", n)
		}
	})
}

func TestFlashes(t *testing.T) {
	t.Parallel()
	want := []Flash{{Kind: "success", Message: "Added to cart."}, {Kind: "error", Message: "Out of stock."}}

	t.Run("PopReturnsAllInOrderThenNone", func(t *testing.T) {
		t.Parallel()
		m, _ := newManager(t, config.StoreMemory)
		ctx := mustLoad(t, m, "")
		if got := ctx.PopFlashes(); got != nil {
			t.Errorf("PopFlashes of a fresh session = %v, want none", got)
		}
		for _, f := range want {
			ctx.AddFlash(f.Kind, f.Message)
		}
		if got := ctx.PopFlashes(); !slices.Equal(got, want) {
			t.Errorf("PopFlashes = %v, want %v", got, want)
		}
		if got := ctx.PopFlashes(); got != nil {
			t.Errorf("second PopFlashes = %v, want none", got)
		}
	})

	t.Run("SurviveCommitAndLoadThroughRedis", func(t *testing.T) {
		t.Parallel()
		m, _ := newManager(t, config.StoreRedis)
		ctx := mustLoad(t, m, "")
		for _, f := range want {
			ctx.AddFlash(f.Kind, f.Message)
		}
		token := mustSave(t, ctx)

		next := mustLoad(t, m, token)
		if got := next.PopFlashes(); !slices.Equal(got, want) {
			t.Errorf("PopFlashes after Commit and Load = %v, want %v", got, want)
		}
		if token2 := mustSave(t, next); token2 != token {
			t.Fatalf("token changed from %q to %q without a renewal", token, token2)
		}
		if got := mustLoad(t, m, token).PopFlashes(); got != nil {
			t.Errorf("PopFlashes on the page after = %v, want none", got)
		}
	})
}
