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
//
// Then the old master comes back as a replica and a switchover
// (SENTINEL FAILOVER) promotes it again under the same load, alternating
// between the app and a second one with REDIS_MIN_REPLICAS_ACK=1: the
// apps leave the demoted master without a restart, and the second loses
// no acknowledged write (the first may: logged, not asserted).
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
	m.stop(t, syscall.SIGKILL)
	kill := load(t, []*app.App{a}, req, ps[0].ID, time.Second, func() bool { return true })[0]
	if kill.failed == 0 {
		t.Fatal("no request failed after the master's death: the test did not see the failover")
	}
	t.Logf("failover after SIGKILL of the master: %s", kill)

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
	if lost := lostOf(t, a, req, append(before, kill.acked...)); len(lost) > 0 {
		t.Errorf("%d of %d acknowledged shoppers lost: %s", len(lost), len(before)+len(kill.acked), strings.Join(lost, "; "))
	}
	t.Logf("kept: %d shoppers written before the kill, %d after", len(before), len(kill.acked))

	// The old master comes back as a replica of the new one (as an
	// operator restarts it: the sentinels would convert it too, but only
	// after some 15s). Then a switchover (SENTINEL FAILOVER) promotes it again
	// while the visitors keep coming: the app's connections to the
	// demoted master must go (the sentinels' word, ROLE, READONLY).
	m.args = []string{"--replicaof", "127.0.0.1", strconv.Itoa(rPort)}
	m.start(t)
	back := time.Now()
	waitFor(t, 20*time.Second, "the old master back as a replica in sync", func() error {
		if role, link := infoField(t, mPort, "replication", "role"), infoField(t, mPort, "replication", "master_link_status"); role != "slave" || link != "up" {
			return fmt.Errorf("old master: role %q, link %q", role, link)
		}
		for _, p := range sPorts {
			c, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				return err
			}
			reps, err := redis.Values(c.Do("SENTINEL", "replicas", master))
			c.Close()
			if err != nil || len(reps) != 1 {
				return fmt.Errorf("sentinel %d: %d replicas (%v)", p, len(reps), err)
			}
			fields, _ := redis.StringMap(reps[0], nil)
			if fields["port"] != strconv.Itoa(mPort) || strings.Contains(fields["flags"], "down") || strings.Contains(fields["flags"], "disconnected") {
				return fmt.Errorf("sentinel %d: replica %s flags %s", p, fields["port"], fields["flags"])
			}
		}
		return nil
	})
	t.Logf("the old master was a replica in sync %.2fs after its restart", time.Since(back).Seconds())
	// Done once every sentinel names the old master again, and writes
	// went through for 2s after that: the pool asks the sentinels at most
	// once a second and checks a connection at most once a second. (The
	// sentinels demote the other one some 10s later.)
	switched := func() bool {
		for _, addr := range addrs {
			if masterPort(addr, master) != mPort {
				return false
			}
		}
		return true
	}
	// Requests alternate between the app and one that waits for a
	// replica's acknowledgement of each write (REDIS_MIN_REPLICAS_ACK=1).
	cfgAck := cfg
	cfgAck.RedisMinReplicasAck = 1
	cfgAck.MigrateOnStart = false
	b, err := app.Open(ctx, cfgAck, discard(), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sc, err := redis.Dial("tcp", addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Do("SENTINEL", "FAILOVER", master); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	sc.Close()
	ws := load(t, []*app.App{a, b}, req, ps[0].ID, 2*time.Second, switched)
	sw, swAck := ws[0], ws[1]
	t.Logf("switchover (SENTINEL FAILOVER) back to the old master: %s", sw)
	t.Logf("switchover, REDIS_MIN_REPLICAS_ACK=1: %s", swAck)
	// The app writes on the new master: the last visitor's line is there.
	last := sw.acked[len(sw.acked)-1]
	if n := keysOn(t, mPort, cfg.RedisKeyPrefix+"*"+strings.TrimPrefix(string(last.key), "g:")+"*"); n == 0 {
		t.Errorf("the last cart written after the switchover (%s) is not on the new master", last.key)
	}
	// Sentinel's failover is asynchronous: the promoted replica stops
	// following the old master before the sentinels name it and demote
	// the old one, and what the app writes on the old master meanwhile is
	// acknowledged, then discarded when it resyncs as a replica. Measured
	// here, not asserted: REDIS_MIN_REPLICAS_ACK (WAIT) is what turns
	// these into failed requests instead.
	lost := lostOf(t, a, req, sw.acked)
	t.Logf("switchover: %d of %d writes acknowledged during it were lost (the old master's last writes before its demotion)", len(lost), len(sw.acked))
	if lost := lostOf(t, a, req, swAck.acked); len(lost) > 0 {
		t.Errorf("switchover, REDIS_MIN_REPLICAS_ACK=1: %d of %d acknowledged writes lost: %s", len(lost), len(swAck.acked), strings.Join(lost, "; "))
	}
	if lost := lostOf(t, a, req, append(before, kill.acked...)); len(lost) > 0 {
		t.Errorf("the switchover lost %d shoppers written before it: %s", len(lost), strings.Join(lost, "; "))
	}
}

// keysOn counts the keys matching pattern on the server on port.
func keysOn(t *testing.T, port int, pattern string) int {
	t.Helper()
	c, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := redis.Strings(c.Do("KEYS", pattern))
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// window is what a run of paced requests saw: the failed ones, when
// (since the run started) and the shoppers whose writes were acknowledged.
type window struct {
	requests, failed    int
	firstFail, lastFail time.Duration
	firstErr            error
	acked               []kept
}

func (w window) String() string {
	if w.failed == 0 {
		return fmt.Sprintf("0 of %d requests failed (one every %v)", w.requests, pace)
	}
	return fmt.Sprintf("%d of %d requests failed (one every %v), from %.2fs to %.2fs (%.2fs); first error: %v",
		w.failed, w.requests, pace, w.firstFail.Seconds(), w.lastFail.Seconds(), (w.lastFail - w.firstFail + pace).Seconds(), w.firstErr)
}

// pace is the interval of load's requests.
const pace = 50 * time.Millisecond

// load makes a new visitor add to a cart every pace, on each of apps in
// turn, until done says so and the writes have succeeded for streak since
// then; at most 30s. The windows are each app's, their times since the
// start.
func load(t *testing.T, apps []*app.App, req session.Request, product int64, streak time.Duration, done func() bool) []window {
	t.Helper()
	ws := make([]window, len(apps))
	start := time.Now()
	okSince, doneAt := time.Duration(-1), time.Duration(-1)
	for i := 0; ; i++ {
		since := time.Since(start)
		if since > 30*time.Second {
			t.Fatalf("writes not back to normal 30s on: %v", ws)
		}
		w := &ws[i%len(apps)]
		rctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		k, err := guestAdd(rctx, apps[i%len(apps)], req, product)
		cancel()
		at := time.Since(start)
		w.requests++
		if err != nil {
			if w.failed == 0 {
				w.firstFail, w.firstErr = at, err
			}
			w.failed++
			w.lastFail, okSince = at, -1
		} else {
			w.acked = append(w.acked, k)
			if okSince < 0 {
				okSince = at
			}
			if doneAt < 0 && done() {
				doneAt = time.Since(start)
			}
			if doneAt >= 0 && at-max(okSince, doneAt) >= streak {
				return ws
			}
		}
		if wait := pace - (time.Since(start) - since); wait > 0 {
			time.Sleep(wait)
		}
	}
}

// lostOf names the shoppers whose session or cart line is not there.
func lostOf(t *testing.T, a *app.App, req session.Request, shoppers []kept) []string {
	t.Helper()
	var lost []string
	for _, k := range shoppers {
		s, err := a.Sessions.Load(t.Context(), k.token, req)
		if err != nil {
			t.Fatal(err)
		}
		v, err := a.Carts.View(t.Context(), k.key)
		if err != nil {
			t.Fatal(err)
		}
		if s.UserID() != k.userID || (k.userID == 0 && s.CartID() == "") || quantityOf(v, k.product) != k.qty {
			lost = append(lost, fmt.Sprintf("%s (user %d, cart id %q, quantity %d)", k.key, s.UserID(), s.CartID(), quantityOf(v, k.product)))
		}
	}
	return lost
}

// masterPort is the master's port the sentinel at addr names (0 when it
// does not answer).
func masterPort(addr, master string) int {
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(time.Second))
	if err != nil {
		return 0
	}
	defer c.Close()
	hp, err := redis.Strings(c.Do("SENTINEL", "get-master-addr-by-name", master))
	if err != nil || len(hp) != 2 {
		return 0
	}
	n, _ := strconv.Atoi(hp[1])
	return n
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
