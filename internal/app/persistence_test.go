package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// redisServer is a redis-server this test started and stops by pid.
type redisServer struct {
	conf, dir string
	port      int
	// args follow the standard ones (for example --sentinel).
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
	// owner is the test the server lives as long as, when restarted in
	// one of its subtests too.
	owner *testing.T
}

// startRedis starts redis-server with the config file conf on port,
// keeping its files in dir, and waits until it answers.
func startRedis(t *testing.T, conf, dir string, port int, args ...string) *redisServer {
	t.Helper()
	r := &redisServer{conf: conf, dir: dir, port: port, args: args, owner: t}
	r.start(t)
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start(t *testing.T) {
	t.Helper()
	args := append([]string{r.conf,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log")}, r.args...)
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server (Debian: apt-get install redis-server): %v", err)
	}
	exited := make(chan struct{})
	r.exited = exited
	go func() { _ = r.cmd.Wait(); close(exited) }()
	pid := r.cmd.Process.Pid
	r.owner.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), redis.DialConnectTimeout(time.Second))
		if err == nil {
			// LOADING while it replays the append-only file.
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("redis-server exited at start: %s", r.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d does not answer: %v\n%s", r.port, err, r.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends sig and waits until the process is gone.
func (r *redisServer) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(r.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("signal redis-server: %v", err)
	}
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("redis-server did not exit on %v", sig)
	}
}

func (r *redisServer) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return string(b)
}

// TestRedisPersistence: the Redis the shop starts for itself (`make up`'s
// private Redis, compose's redis service) runs deploy/redis/redis.conf,
// and with it sessions and cart lines outlive a restart of Redis, both a
// clean one (SIGTERM, as `make down`, docker or systemd stop it, right
// after the shop's writes were acknowledged) and a crash of the process
// (SIGKILL, past everysec's window of at most two seconds). The crash round is what proves the append-only file: with
// Redis's default snapshots and no AOF, a SIGTERM alone would pass (Redis
// writes a snapshot as it shuts down), a SIGKILL would lose everything.
func TestRedisPersistence(t *testing.T) {
	t.Parallel()
	root, err := cluster.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	rs := startRedis(t, filepath.Join(root, "deploy", "redis", "redis.conf"), t.TempDir(), cluster.FreePorts(t, 1))
	checkPersistenceConfig(t, rs)

	ctx := t.Context()
	cfg := testConfig(t, map[string]string{
		"SESSION_STORE":    "redis",
		"DATABASE_URL":     testenv.MustEmptyDatabase(t),
		"REDIS_URL":        rs.url(),
		"MIGRATE_ON_START": "true",
		"PASSWORD_COST":    "4",
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
	req := session.Request{IP: "127.0.0.1", UserAgent: "persistence-test"}

	// What a shopper leaves in Redis: a signed-in session whose account
	// cart has lines, and a guest's pending session with a guest cart.
	type shopper struct {
		token   string
		user    account.User
		key     cart.Key
		product int64
		qty     int
	}
	var shoppers []shopper
	addShoppers := func(t *testing.T, round int) {
		t.Helper()
		email := fmt.Sprintf("persist-%d-%s@example.com", round, testenv.RandomName(""))
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
		signedIn := shopper{user: u, key: cart.AccountKey(u.PublicID), product: ps[0].ID, qty: 2 + round}
		if _, _, err := a.Carts.Add(ctx, signedIn.key, signedIn.product, signedIn.qty); err != nil {
			t.Fatal(err)
		}
		signedIn.token = save(t, s)

		g, err := a.Sessions.Load(ctx, "", req)
		if err != nil {
			t.Fatal(err)
		}
		g.WroteGuestCart()
		guest := shopper{key: cart.GuestKey(g.GuestCartID()), product: ps[1].ID, qty: 1 + round}
		if _, _, err := a.Carts.Add(ctx, guest.key, guest.product, guest.qty); err != nil {
			t.Fatal(err)
		}
		guest.token = save(t, g)
		shoppers = append(shoppers, signedIn, guest)
	}
	checkShoppers := func(t *testing.T) {
		t.Helper()
		for _, sh := range shoppers {
			s, err := a.Sessions.Load(ctx, sh.token, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.UserID(); got != sh.user.ID {
				t.Errorf("session of %q: user %d, want %d (the session was lost: a new one was started)", sh.key, got, sh.user.ID)
			}
			if sh.user.ID != 0 && s.Email() != sh.user.Email {
				t.Errorf("session of %q: email %q, want %q", sh.key, s.Email(), sh.user.Email)
			}
			if sh.user.ID == 0 && s.CartID() == "" {
				t.Errorf("guest session of %q lost its cart id", sh.key)
			}
			v, err := a.Carts.View(ctx, sh.key)
			if err != nil {
				t.Fatal(err)
			}
			if got := quantityOf(v, sh.product); got != sh.qty {
				t.Errorf("cart %q: product %d quantity %d, want %d", sh.key, sh.product, got, sh.qty)
			}
		}
	}

	for round, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("redis log:\n%s", rs.log())
				}
			})
			addShoppers(t, round)
			checkShoppers(t)
			if sig == syscall.SIGKILL {
				// appendfsync everysec may hold back the AOF write while
				// an fsync is slow (a busy disk): a crash then loses up
				// to the last two seconds of writes, as Redis documents.
				// Past that window a crash loses nothing; without the AOF
				// it loses everything (no snapshot is due yet).
				time.Sleep(2500 * time.Millisecond)
			}
			rs.stop(t, sig)
			rs.start(t)
			checkPersistenceConfig(t, rs)
			// The replica kept running; its idle connections died with
			// Redis. Readiness finds Redis again once they are gone.
			t.Logf("connections the restart closed, each one failed request: %d", reconnect(t, a))
			checkShoppers(t)
		})
	}
}

// checkPersistenceConfig: the running server has the append-only file on,
// fsynced every second (deploy/redis/redis.conf took effect).
func checkPersistenceConfig(t *testing.T, rs *redisServer) {
	t.Helper()
	c, err := redis.DialURL(rs.url())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for k, want := range map[string]string{"appendonly": "yes", "appendfsync": "everysec"} {
		kv, err := redis.Strings(c.Do("CONFIG", "GET", k))
		if err != nil || len(kv) != 2 || kv[1] != want {
			t.Errorf("CONFIG GET %s = %q, %v; want %q", k, kv, err, want)
		}
	}
}

// reconnect drains the app's pool of the connections Redis's restart
// closed and returns how many there were: the replica kept running, and
// each of its idle connections would fail the one request that borrows it
// next (the pool pings only connections idle for 10s before handing them
// out). Borrowing every idle connection at once and pinging each discards
// the dead ones.
func reconnect(t *testing.T, a *app.App) int {
	t.Helper()
	pool := a.Pools.Redis
	var failed int
	for range 10 {
		conns := make([]redis.Conn, 0, pool.IdleCount()+1)
		var errs int
		for range cap(conns) {
			c, err := pool.GetContext(t.Context())
			if err != nil {
				errs++
				continue
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			if _, err := c.Do("PING"); err != nil {
				errs++
			}
			c.Close()
		}
		if errs == 0 {
			return failed
		}
		failed += errs
	}
	t.Fatalf("the app's redis connections still fail after the restart (%d failures)", failed)
	return failed
}

// save saves s as the end of a request would and returns the token its
// cookie carries.
func save(t *testing.T, s *session.Session) string {
	t.Helper()
	w := httptest.NewRecorder()
	if err := s.Save(t.Context(), w); err != nil {
		t.Fatalf("save session: %v", err)
	}
	for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
		if c.Value != "" {
			return c.Value
		}
	}
	return s.Token()
}

func quantityOf(v cart.View, product int64) int {
	for _, it := range v.Items {
		if it.ProductID == product {
			return it.Quantity
		}
	}
	return 0
}
