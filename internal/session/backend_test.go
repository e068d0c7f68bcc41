package session

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// backends returns one of each backend on isolated real storage.
func backends(t *testing.T) map[config.Kind]backend {
	t.Helper()
	pool, prefix := testenv.MustRedis(t)
	return map[config.Kind]backend{
		config.StoreRedis:    newRedisBackend(pool, prefix),
		config.StorePostgres: &postgresBackend{db: testenv.MustDatabase(t)},
		config.StoreMemory:   newMemoryBackend(),
	}
}

func TestBackendConformance(t *testing.T) {
	t.Parallel()
	for kind, b := range backends(t) {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Millisecond)
			userID := int64(0)
			if kind == config.StorePostgres {
				// sessions.user_id references users.
				pb := b.(*postgresBackend)
				if err := pb.db.QueryRow(ctx, `INSERT INTO users (email, password_hash) VALUES ('b@example.com', 'x') RETURNING id`).Scan(&userID); err != nil {
					t.Fatal(err)
				}
			} else {
				userID = 42
			}
			acct := testenv.RandomName("acct-")
			o := owner{userID: userID, account: acct}
			info := func(id string, exp time.Time) Info {
				return Info{ID: id, UserID: userID, Account: acct, CreatedAt: now, LastSeen: now, Expiry: exp, IP: "192.0.2.7", UserAgent: "Firefox", Replica: "shop-1"}
			}
			// create stores a new session and returns its version.
			create := func(t *testing.T, id string, data string, in Info) int64 {
				t.Helper()
				v, err := b.commit(ctx, id, []byte(data), in, 0)
				if err != nil || v == 0 {
					t.Fatalf("create %s: version %d, %v", id, v, err)
				}
				return v
			}

			t.Run("CommitThenFind", func(t *testing.T) {
				id := testenv.RandomName("s-")
				create(t, id, "data-1", info(id, now.Add(time.Hour)))
				data, st, found, err := b.find(ctx, id)
				if err != nil || !found || string(data) != "data-1" {
					t.Fatalf("find = %q, %v, %v", data, found, err)
				}
				if !st.expiry.Equal(now.Add(time.Hour)) || !st.lastSeen.Equal(now) {
					t.Errorf("stored = %+v, want expiry %v last seen %v", st, now.Add(time.Hour), now)
				}
			})

			t.Run("ExpiredIsNotFound", func(t *testing.T) {
				id := testenv.RandomName("s-")
				create(t, id, "old", info(id, time.Now().Add(150*time.Millisecond)))
				time.Sleep(300 * time.Millisecond)
				if _, _, found, err := b.find(ctx, id); err != nil || found {
					t.Errorf("find of an expired session: found %v, %v", found, err)
				}
				if l, _ := b.list(ctx, o); containsID(l, id) {
					t.Error("list shows an expired session")
				}
			})

			t.Run("TouchExtendsWithoutRewriting", func(t *testing.T) {
				id := testenv.RandomName("s-")
				create(t, id, "keep", info(id, now.Add(time.Minute)))
				later := now.Add(30 * time.Second)
				in := info(id, later.Add(time.Minute))
				in.LastSeen, in.Replica = later, "shop-3"
				if err := b.touch(ctx, id, in); err != nil {
					t.Fatal(err)
				}
				data, st, _, _ := b.find(ctx, id)
				if string(data) != "keep" || !st.expiry.Equal(later.Add(time.Minute)) || !st.lastSeen.Equal(later) {
					t.Errorf("after touch: %q %+v", data, st)
				}
				l, err := b.list(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range l {
					if s.ID == id && (s.Replica != "shop-3" || !s.LastSeen.Equal(later) || s.UserAgent != "Firefox") {
						t.Errorf("listed after touch: %+v", s)
					}
				}
			})

			t.Run("TouchNeverRevives", func(t *testing.T) {
				id := testenv.RandomName("s-")
				create(t, id, "x", info(id, now.Add(time.Hour)))
				if err := b.delete(ctx, id, o); err != nil {
					t.Fatal(err)
				}
				var g *gone
				if err := b.touch(ctx, id, info(id, now.Add(2*time.Hour))); !errors.As(err, &g) || g.renewed {
					t.Fatalf("touch of a deleted session = %v, want gone", err)
				}
				if _, _, found, _ := b.find(ctx, id); found {
					t.Error("a touch brought a deleted session back")
				}
				if l, _ := b.list(ctx, o); containsID(l, id) {
					t.Error("a touch put a deleted session back in the index")
				}
			})

			t.Run("ListAndDeleteByAccount", func(t *testing.T) {
				a, bID := testenv.RandomName("s-"), testenv.RandomName("s-")
				for _, id := range []string{a, bID} {
					create(t, id, "x", info(id, now.Add(time.Hour)))
				}
				l, err := b.list(ctx, o)
				if err != nil || !containsID(l, a) || !containsID(l, bID) {
					t.Fatalf("list = %v, %v; want both sessions", l, err)
				}
				if err := b.delete(ctx, a, o); err != nil {
					t.Fatal(err)
				}
				l, _ = b.list(ctx, o)
				if containsID(l, a) || !containsID(l, bID) {
					t.Errorf("after deleting one: %v", l)
				}
				if _, _, found, _ := b.find(ctx, a); found {
					t.Error("deleted session still found")
				}
			})

			t.Run("WritesOnlyOverTheVersionLoaded", func(t *testing.T) {
				id := testenv.RandomName("s-")
				v1 := create(t, id, "v1", info(id, now.Add(time.Hour)))
				if _, err := b.commit(ctx, id, []byte("again"), info(id, now.Add(time.Hour)), 0); !errors.Is(err, errStale) {
					t.Errorf("a second create of one id = %v, want stale", err)
				}
				v2, err := b.commit(ctx, id, []byte("v2"), info(id, now.Add(time.Hour)), v1)
				if err != nil || v2 <= v1 {
					t.Fatalf("write over v%d = v%d, %v", v1, v2, err)
				}
				// A request that loaded v1 writes after v2 landed.
				if _, err := b.commit(ctx, id, []byte("stale"), info(id, now.Add(time.Hour)), v1); !errors.Is(err, errStale) {
					t.Errorf("write over a replaced version = %v, want stale", err)
				}
				data, st, _, _ := b.find(ctx, id)
				if string(data) != "v2" || st.version != v2 {
					t.Errorf("stored %q v%d, want v2 v%d", data, st.version, v2)
				}
			})

			t.Run("CommitNeverRevives", func(t *testing.T) {
				id := testenv.RandomName("s-")
				v := create(t, id, "x", info(id, now.Add(time.Hour)))
				if err := b.delete(ctx, id, o); err != nil {
					t.Fatal(err)
				}
				var g *gone
				if _, err := b.commit(ctx, id, []byte("back"), info(id, now.Add(time.Hour)), v); !errors.As(err, &g) || g.renewed {
					t.Fatalf("commit of a deleted session = %v, want gone", err)
				}
				if _, _, found, _ := b.find(ctx, id); found {
					t.Error("a commit brought a deleted session back")
				}
				if l, _ := b.list(ctx, o); containsID(l, id) {
					t.Error("a commit put a deleted session back in the index")
				}
			})

			t.Run("RetireLeavesAMarker", func(t *testing.T) {
				id := testenv.RandomName("s-")
				v := create(t, id, "guest", info(id, now.Add(time.Hour)))
				if err := b.retire(ctx, id, o, "account-b", 300*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				if _, _, found, _ := b.find(ctx, id); found {
					t.Error("a retired session is still found")
				}
				if l, _ := b.list(ctx, o); containsID(l, id) {
					t.Error("a retired session is still listed")
				}
				for _, expect := range []int64{v, 0} {
					var g *gone
					if _, err := b.commit(ctx, id, []byte("back"), info(id, now.Add(time.Hour)), expect); !errors.As(err, &g) || !g.renewed || g.renewedTo != "account-b" {
						t.Errorf("commit (over v%d) of a retired session = %v, want renewed to account-b", expect, err)
					}
				}
				var g *gone
				if err := b.touch(ctx, id, info(id, now.Add(time.Hour))); !errors.As(err, &g) || !g.renewed {
					t.Errorf("touch of a retired session = %v, want renewed", err)
				}
				// The marker goes; then the id is free as any unknown id.
				time.Sleep(450 * time.Millisecond)
				if _, err := b.commit(ctx, id, []byte("new"), info(id, now.Add(time.Hour)), 0); err != nil {
					t.Errorf("create after the marker expired: %v", err)
				}
			})

			t.Run("GuestIsNotIndexed", func(t *testing.T) {
				id := testenv.RandomName("s-")
				in := info(id, now.Add(time.Hour))
				in.UserID, in.Account = 0, ""
				create(t, id, "guest", in)
				if l, _ := b.list(ctx, o); containsID(l, id) {
					t.Error("a guest session is listed under an account")
				}
			})
		})
	}
}

func containsID(l []Info, id string) bool {
	for _, s := range l {
		if s.ID == id {
			return true
		}
	}
	return false
}

// counter counts store operations by kind.
type counter map[Op]int

func (c counter) observe(op Op, _ time.Duration, _ error) { c[op]++ }

// TestTouchInterval: a request that changes nothing writes nothing until the
// touch interval has passed, then extends the expiry with one touch, never a
// full commit.
func TestTouchInterval(t *testing.T) {
	t.Parallel()
	for kind := range backends(t) {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ops := counter{}
			m, _ := newTestManager(t, Options{Kind: kind, CookieName: "session", IdleTimeout: time.Minute, Lifetime: time.Hour,
				RememberLifetime: 2 * time.Hour, TouchInterval: 300 * time.Millisecond, Observer: ops.observe})
			s := mustLoad(t, m, "")
			s.put("k", "v")
			rec := httptest.NewRecorder()
			if err := s.Save(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			token := rec.Result().Cookies()[0].Value
			request := func() (idle time.Time) {
				s := mustLoad(t, m, token)
				if s.getString("k") != "v" {
					t.Fatal("session lost")
				}
				if err := s.Save(context.Background(), httptest.NewRecorder()); err != nil {
					t.Fatal(err)
				}
				idle, _ = s.Expiry()
				return idle
			}
			first := request()
			for range 20 {
				if got := request(); !got.Equal(first) {
					t.Fatalf("expiry moved within the touch interval: %v → %v", first, got)
				}
			}
			if ops[OpCommit] != 1 || ops[OpTouch] != 0 {
				t.Errorf("within the interval: %d commits, %d touches; want 1 commit (the first) and no touch", ops[OpCommit], ops[OpTouch])
			}
			time.Sleep(350 * time.Millisecond)
			if got := request(); !got.After(first) {
				t.Errorf("after the interval the expiry %v did not move past %v", got, first)
			}
			if ops[OpCommit] != 1 || ops[OpTouch] != 1 {
				t.Errorf("after the interval: %d commits, %d touches; want 1 and 1", ops[OpCommit], ops[OpTouch])
			}
		})
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	plain := []byte("email=secret-person@example.com")
	const id = "stored-id-of-the-session"

	s1, err := NewSealer([][]byte{k1}, false)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s1.Seal(id, plain)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("CiphertextHidesValues", func(t *testing.T) {
		if bytes.Contains(sealed, []byte("secret-person")) {
			t.Error("sealed data contains the plaintext email")
		}
		again, _ := s1.Seal(id, plain)
		if bytes.Equal(sealed, again) {
			t.Error("two seals are identical: the nonce is not random")
		}
		if got, err := s1.Open(id, sealed); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Open = %q, %v", got, err)
		}
	})
	t.Run("BoundToItsID", func(t *testing.T) {
		// A copy of a session's data under another token must not open:
		// it would log that token in as the session's owner.
		if _, err := s1.Open("another-stored-id", sealed); err == nil {
			t.Error("data sealed for one id opened under another")
		}
	})
	t.Run("RotationKeepsOldSessions", func(t *testing.T) {
		rotated, err := NewSealer([][]byte{k2, k1}, false)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := rotated.Open(id, sealed); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open with the old key second: %q %v", got, err)
		}
		resealed, _ := rotated.Seal(id, plain)
		if _, err := s1.Open(id, resealed); err == nil {
			t.Error("data sealed with the new first key opened without it")
		}
	})
	t.Run("RejectsTamperingAndUnknownKeys", func(t *testing.T) {
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		if _, err := s1.Open(id, bad); err == nil {
			t.Error("tampered data opened")
		}
		other, _ := NewSealer([][]byte{k2}, false)
		if _, err := other.Open(id, sealed); err == nil {
			t.Error("data opened without its key")
		}
	})
	t.Run("PlaintextOnlyWhileMigrating", func(t *testing.T) {
		if _, err := s1.Open(id, plain); !errors.Is(err, ErrNotSealed) {
			t.Errorf("plaintext with encryption on = %v, want ErrNotSealed", err)
		}
		migrating, _ := NewSealer([][]byte{k1}, true)
		if got, err := migrating.Open(id, plain); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("plaintext while migrating = %q, %v", got, err)
		}
		if got, err := migrating.Open(id, sealed); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("sealed while migrating = %q, %v", got, err)
		}
	})
	t.Run("FirstFormatOnlyWhileMigrating", func(t *testing.T) {
		// The first sealed format authenticated its header only.
		old := oldSeal(t, k1, plain)
		if _, err := s1.Open(id, old); err == nil {
			t.Error("the unbound format opened with migration off")
		}
		migrating, _ := NewSealer([][]byte{k1}, true)
		if got, err := migrating.Open(id, old); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("the unbound format while migrating = %q, %v", got, err)
		}
	})
	t.Run("RejectsBadKeys", func(t *testing.T) {
		if _, err := NewSealer([][]byte{make([]byte, 16)}, false); err == nil {
			t.Error("accepted a 16-byte key")
		}
		if _, err := NewSealer(nil, false); err == nil {
			t.Error("accepted no key")
		}
	})
}

// oldSeal seals plain as the shop's first format did: magic "shE1", key
// id, nonce, and only the magic and key id authenticated.
func oldSeal(t *testing.T, key, plain []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(key)
	head := append([]byte("shE1"), sum[:keyIDLen]...)
	nonce := make([]byte, aead.NonceSize())
	return aead.Seal(append(bytes.Clone(head), nonce...), nonce, plain, head)
}

// TestEncryptedAtRest: with encryption on, what the stores hold does not
// contain the session's values, and a rotation keeps the session alive.
func TestEncryptedAtRest(t *testing.T) {
	t.Parallel()
	k1, k2 := bytes.Repeat([]byte{9}, 32), bytes.Repeat([]byte{8}, 32)
	for kind := range backends(t) {
		if kind == config.StoreMemory {
			continue
		}
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			st := newTestStorage(t, kind)
			manager := func(keys ...[]byte) *Manager {
				sealer, err := NewSealer(keys, false)
				if err != nil {
					t.Fatal(err)
				}
				m, err := New(Options{Kind: kind, CookieName: "session", IdleTimeout: time.Minute, Lifetime: time.Hour,
					RememberLifetime: time.Hour, Sealer: sealer}, st.backend)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			m := manager(k1)
			s := mustLoad(t, m, "")
			s.put("email", "plaintext-marker@example.com")
			token := mustSave(t, s)
			db, pool, prefix := st.db, st.pool, st.prefix
			var raw []byte
			if kind == config.StorePostgres {
				if err := db.QueryRow(context.Background(), `SELECT data FROM sessions`).Scan(&raw); err != nil {
					t.Fatal(err)
				}
			} else {
				conn := pool.Get()
				defer conn.Close()
				id := s.r.id
				v, err := conn.Do("HGET", prefix+"session:"+id, "d")
				if err != nil || v == nil {
					t.Fatalf("read the stored session: %v %v", v, err)
				}
				raw = v.([]byte)
			}
			if len(raw) == 0 || bytes.Contains(raw, []byte("plaintext-marker")) {
				t.Errorf("stored bytes (%d) contain the plaintext", len(raw))
			}
			rotated := manager(k2, k1)
			s2, err := rotated.Load(context.Background(), token, Request{})
			if err != nil || s2.getString("email") != "plaintext-marker@example.com" {
				t.Errorf("after rotation the session is lost: %v", err)
			}

			// Someone who can write to the store copies the sealed data
			// under a token of their own: it does not open there.
			theirs := cookieOf(t, mustLoad(t, m, ""))
			copied := Info{ID: storeHash(theirs), LastSeen: time.Now(), Expiry: time.Now().Add(time.Hour)}
			if _, err := st.backend.b.commit(context.Background(), copied.ID, raw, copied, 0); err != nil {
				t.Fatal(err)
			}
			if got := mustLoad(t, m, theirs); got.getString("email") != "" {
				t.Errorf("a copy of a sealed session under another token loaded as %q", got.getString("email"))
			}

			// Plaintext in the store (written before encryption was on, or
			// by someone who can write to it) is read only while migrating.
			plainM, err := New(Options{Kind: kind, CookieName: "session", IdleTimeout: time.Minute, Lifetime: time.Hour}, st.backend)
			if err != nil {
				t.Fatal(err)
			}
			ps := mustLoad(t, plainM, "")
			ps.put("email", "from-before@example.com")
			old := mustSave(t, ps)
			if got := mustLoad(t, m, old); got.getString("email") != "" {
				t.Error("plaintext session data was read with encryption on")
			}
			migrating, err := NewSealer([][]byte{k1}, true)
			if err != nil {
				t.Fatal(err)
			}
			mm, err := New(Options{Kind: kind, CookieName: "session", IdleTimeout: time.Minute, Lifetime: time.Hour, Sealer: migrating}, st.backend)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustLoad(t, mm, old); got.getString("email") != "from-before@example.com" {
				t.Error("plaintext session data was not read while migrating")
			}
		})
	}
}

// TestPruneRedisIndexesInBatches checks that a prune stops once it has
// removed its limit, so the cleanup job can pause, and that the next call
// goes on where there is something left.
func TestPruneRedisIndexesInBatches(t *testing.T) {
	t.Parallel()
	pool, prefix := testenv.MustRedis(t)
	b := newRedisBackend(pool, prefix)
	ctx := context.Background()
	now := time.Now()
	// Two accounts, each with one session about to expire and one live.
	for _, user := range []int64{1, 2} {
		for _, exp := range []time.Time{now.Add(200 * time.Millisecond), now.Add(time.Hour)} {
			id := testenv.RandomName("p-")
			acct := "account-" + strconv.FormatInt(user, 10)
			if _, err := b.commit(ctx, id, []byte("x"), Info{ID: id, UserID: user, Account: acct, LastSeen: now, Expiry: exp}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(400 * time.Millisecond)
	for i, want := range []int64{1, 1, 0} {
		if n, err := PruneRedisIndexes(ctx, pool, prefix, 1); err != nil || n != want {
			t.Fatalf("call %d pruned %d, %v; want %d", i+1, n, err, want)
		}
	}
}

func TestPruneRedisIndexes(t *testing.T) {
	t.Parallel()
	pool, prefix := testenv.MustRedis(t)
	b := newRedisBackend(pool, prefix)
	ctx := context.Background()
	now := time.Now()
	for i, exp := range []time.Time{now.Add(200 * time.Millisecond), now.Add(200 * time.Millisecond), now.Add(time.Hour)} {
		id := testenv.RandomName("p-")
		acct := "account-" + strconv.Itoa(7+i%2)
		if _, err := b.commit(ctx, id, []byte("x"), Info{ID: id, UserID: int64(7 + i%2), Account: acct, LastSeen: now, Expiry: exp}, 0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(400 * time.Millisecond)
	// Account 8's index held only an expired session: the whole hash
	// expired with it. Account 7's index lives on for its live session and
	// needs its expired entry pruned.
	n, err := PruneRedisIndexes(ctx, pool, prefix, 1000)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want account 7's expired entry", n, err)
	}
	if n, err := PruneRedisIndexes(ctx, pool, prefix, 1000); err != nil || n != 0 {
		t.Fatalf("second prune removed %d, %v; want nothing left", n, err)
	}
	conn := pool.Get()
	entries, _ := conn.Do("HLEN", b.indexKey("account-7"))
	gone, _ := conn.Do("EXISTS", b.indexKey("account-8"))
	conn.Close()
	if entries.(int64) != 1 || gone.(int64) != 0 {
		t.Errorf("index 7 holds %v entries (want 1); index 8 exists=%v (want 0)", entries, gone)
	}
	for _, k := range testenv.Keys(t, pool, prefix) {
		conn := pool.Get()
		ttl, _ := conn.Do("PTTL", k)
		conn.Close()
		if ttl.(int64) <= 0 {
			t.Errorf("key %s has no expiry (PTTL %v)", k, ttl)
		}
	}
}
