package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/app"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/testenv/cluster"
)

// TestRedisSentinelFailover: the shop reaches Redis through three
// sentinels (quorum 2) that watch a master and one replica, all real
// redis-server processes on free loopback ports. The master dies
// (SIGKILL); the sentinels promote the replica, and the same app, never
// restarted, writes sessions and carts again on the new master within a
// bounded time. What was written before the kill is all there: the test
// makes it deterministic with WAIT 1 (the replica acknowledged every
// write) before the kill; without it, replication is asynchronous and the
// writes of the last moment before a crash may be lost (that is what
// REDIS_MIN_REPLICAS_ACK is for). The failed requests in between, each an
// "add to cart" by a new visitor paced every 50ms, give the window this
// test logs and docs/scaling.md reports.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	const master = "shop"
	base := cluster.FreePorts(t, 5)
	mPort, rPort := base, base+1
	sPorts := []int{base + 2, base + 3, base + 4}

	plain := func(t *testing.T, lines ...string) string {
		t.Helper()
		dir := t.TempDir()
		conf := filepath.Join(dir, "redis.conf")
		lines = append([]string{`save ""`, "appendonly no"}, lines...)
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return conf
	}
	mConf := plain(t)
	m := startRedis(t, mConf, filepath.Dir(mConf), mPort)
	rConf := plain(t, fmt.Sprintf("replicaof 127.0.0.1 %d", mPort))
	r := startRedis(t, rConf, filepath.Dir(rConf), rPort)
	var sentinels []*redisServer
	var addrs []string
	for _, p := range sPorts {
		// The sentinel rewrites its file (what it learns): one of its own.
		conf := plain(t,
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", master, mPort),
			"sentinel down-after-milliseconds "+master+" 1000",
			"sentinel failover-timeout "+master+" 5000",
			"sentinel parallel-syncs "+master+" 1")
		sentinels = append(sentinels, startRedis(t, conf, filepath.Dir(conf), p, "--sentinel"))
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("master log:\n%s\nreplica log:\n%s", m.log(), r.log())
			for i, s := range sentinels {
				t.Logf("sentinel %d log:\n%s", i, s.log())
			}
		}
	})
	// Before the kill: the replica is in sync and every sentinel knows the
	// replica and the two other sentinels (a failover needs their votes).
	waitFor(t, 15*time.Second, "replica in sync, sentinels acquainted", func() error {
		if v := infoField(t, rPort, "replication", "master_link_status"); v != "up" {
			return fmt.Errorf("replica link %q", v)
		}
		for _, p := range sPorts {
			c, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				return err
			}
			reps, err1 := redis.Values(c.Do("SENTINEL", "replicas", master))
			others, err2 := redis.Values(c.Do("SENTINEL", "sentinels", master))
			c.Close()
			if err1 != nil || err2 != nil || len(reps) != 1 || len(others) != 2 {
				return fmt.Errorf("sentinel %d: %d replicas, %d other sentinels (%v %v)", p, len(reps), len(others), err1, err2)
			}
		}
		return nil
	})

	ctx := t.Context()
	cfg := testConfig(t, map[string]string{
		"SESSION_STORE":         "redis",
		"DATABASE_URL":          testenv.MustEmptyDatabase(t),
		"REDIS_SENTINEL_ADDRS":  strings.Join(addrs, ","),
		"REDIS_SENTINEL_MASTER": master,
		"MIGRATE_ON_START":      "true",
		"PASSWORD_COST":         "4",
	})
	a, err := app.Open(ctx, cfg, discard(), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ps, err := a.Products.List(ctx)
	if err != nil || len(ps) < 2 {
		t.Fatalf("products = %d, %v; want the seeded catalog", len(ps), err)
	}
	req := session.Request{IP: "127.0.0.1", UserAgent: "sentinel-test"}

	// Before the kill: a signed-in shopper with an account cart, and
	// guests with guest carts.
	var before []kept
	email := fmt.Sprintf("sentinel-%s@example.com", testenv.RandomName(""))
	u, err := a.Accounts.Signup(ctx, account.Credentials{Email: email, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Sessions.Load(ctx, "", req)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Login(ctx, account.Identity{ID: u.ID, PublicID: u.PublicID, Epoch: u.Epoch}, u.Email, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Carts.Add(ctx, cart.AccountKey(u.PublicID), ps[0].ID, 3); err != nil {
		t.Fatal(err)
	}
	tok, err := saveToken(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	before = append(before, kept{token: tok, userID: u.ID, key: cart.AccountKey(u.PublicID), product: ps[0].ID, qty: 3})
	for range 5 {
		k, err := guestAdd(ctx, a, req, ps[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, k)
	}
	// WAIT 1 on a write of its own, after the app's: the replication
	// stream is ordered, so the replica's acknowledgement of this write
	// covers every write before it.
	mc, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", mPort))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.Do("SET", cfg.RedisKeyPrefix+"sentinel-test:marker", "1"); err != nil {
		t.Fatal(err)
	}
	if n, err := redis.Int(mc.Do("WAIT", 1, 5000)); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v; want the replica's acknowledgement", n, err)
	}
	mc.Close()

	// The kill, then a new visitor adding to a cart every 50ms until the
	// writes have succeeded again for a second (at most 30s).
	const pace = 50 * time.Millisecond
	m.stop(t, syscall.SIGKILL)
	killed := time.Now()
	var (
		after                   []kept
		failed                  int
		firstFail, lastFail     time.Duration
		firstErr                error
		recoveredAt, okStreakAt time.Duration
	)
	for {
		since := time.Since(killed)
		if since > 30*time.Second {
			t.Fatalf("writes still fail 30s after the master's death: %d failed since the kill, first: %v", failed, firstErr)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		k, err := guestAdd(rctx, a, req, ps[0].ID)
		cancel()
		at := time.Since(killed)
		if err != nil {
			if failed == 0 {
				firstFail, firstErr = at, err
			}
			failed++
			lastFail, okStreakAt = at, 0
		} else {
			after = append(after, k)
			if okStreakAt == 0 {
				okStreakAt = at
			}
			if failed > 0 && recoveredAt == 0 {
				recoveredAt = at
			}
			if failed > 0 && at-okStreakAt >= time.Second {
				break
			}
		}
		if wait := pace - (time.Since(killed) - since); wait > 0 {
			time.Sleep(wait)
		}
	}
	if failed == 0 {
		t.Fatal("no request failed after the master's death: the test did not see the failover")
	}
	t.Logf("failover window: %d failed requests (one every %v) from %.2fs to %.2fs after the SIGKILL; writes work again at %.2fs; first error: %v",
		failed, pace, firstFail.Seconds(), lastFail.Seconds(), recoveredAt.Seconds(), firstErr)

	// The sentinels name the former replica; the app followed it.
	c, err := redis.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	hp, err := redis.Strings(c.Do("SENTINEL", "get-master-addr-by-name", master))
	c.Close()
	if err != nil || len(hp) != 2 || hp[1] != strconv.Itoa(rPort) {
		t.Errorf("master after failover = %q, %v; want the former replica on port %d", hp, err, rPort)
	}
	if role := infoField(t, rPort, "replication", "role"); role != "master" {
		t.Errorf("former replica's role = %q, want master", role)
	}

	// Nothing acknowledged is lost: before the kill (WAIT 1) nor after.
	for _, k := range append(before, after...) {
		s, err := a.Sessions.Load(ctx, k.token, req)
		if err != nil {
			t.Fatal(err)
		}
		if s.UserID() != k.userID {
			t.Errorf("session of %q: user %d, want %d (lost)", k.key, s.UserID(), k.userID)
		}
		if k.userID == 0 && s.CartID() == "" {
			t.Errorf("guest session of %q lost its cart id", k.key)
		}
		v, err := a.Carts.View(ctx, k.key)
		if err != nil {
			t.Fatal(err)
		}
		if got := quantityOf(v, k.product); got != k.qty {
			t.Errorf("cart %q: product %d quantity %d, want %d", k.key, k.product, got, k.qty)
		}
	}
	t.Logf("kept: %d shoppers written before the kill, %d after", len(before), len(after))
}

// kept is what one shopper left in Redis: a session (of userID, 0 for a
// guest) and a cart line.
type kept struct {
	token   string
	userID  int64
	key     cart.Key
	product int64
	qty     int
}

// guestAdd is a new visitor's first add to cart: a guest session and its
// cart line, saved as the end of the request saves them.
func guestAdd(ctx context.Context, a *app.App, req session.Request, product int64) (k kept, err error) {
	g, err := a.Sessions.Load(ctx, "", req)
	if err != nil {
		return k, err
	}
	g.WroteGuestCart()
	k.key, k.product, k.qty = cart.GuestKey(g.GuestCartID()), product, 1
	if _, _, err := a.Carts.Add(ctx, k.key, product, 1); err != nil {
		return k, err
	}
	k.token, err = saveToken(ctx, g)
	return k, err
}

// saveToken saves s as the end of a request would and returns the token
// its cookie carries.
func saveToken(ctx context.Context, s *session.Session) (string, error) {
	w := httptest.NewRecorder()
	if err := s.Save(ctx, w); err != nil {
		return "", err
	}
	for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
		if c.Value != "" {
			return c.Value, nil
		}
	}
	return s.Token(), nil
}

// infoField is one field of INFO section of the server on port ("" when
// it does not answer).
func infoField(t *testing.T, port int, section, field string) string {
	t.Helper()
	c, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), redis.DialConnectTimeout(time.Second))
	if err != nil {
		return ""
	}
	defer c.Close()
	info, err := redis.String(c.Do("INFO", section))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// waitFor polls cond until it returns nil, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
