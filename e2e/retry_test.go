package e2e_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/testenv/cluster"
)

// TestNginxRetriesOnlyKeyedPosts proves the retry rule of nginx.conf with
// the real nginx, the config scripts/nginx-conf.sh writes, and real
// replicas: a request whose replica dies holding it is sent to another
// replica when it is a GET or a POST that carries an idempotency key (and
// the key makes the shop apply it once), and not when it is a POST without
// one (nginx answers 502, and the shop applied it at most once). A
// connection refused is retried for every method.
//
// Between this test's own nginx and each replica of a cluster sits a relay
// (relayNet) that the test arms to catch one request: the relay forwards
// it to its replica and then either drops the replica's answer and closes
// nginx's connection ("lost answer": the replica applied the request and
// died before answering), or holds the connection while the test kills the
// replica with SIGKILL and closes the relay's port, as a dead replica's.
func TestNginxRetriesOnlyKeyedPosts(t *testing.T) {
	c := startCluster(t, clusterOptions{Store: "redis"})
	rn := startRelays(t, c)
	base := startNginx(t, rn, c.Replicas())

	// A fresh visitor per case: an empty guest cart and a CSRF token. Each
	// case makes nginx mark the replica it caught the request on failed for
	// fail_timeout (2s; max_fails=1): wait that out first, so every case
	// starts with every live replica in the rotation.
	first := true
	visitor := func(t *testing.T) *testenv.Browser {
		if !first {
			time.Sleep(2100 * time.Millisecond)
		}
		first = false
		b := testenv.NewBrowser(t)
		// The guest cart, and the session cookie that finds it, are made by
		// the first add: make them now, so the caught add goes to a cart
		// the visitor can read, not to one announced in the lost answer.
		r := b.Post(t, base, "/cart/items", url.Values{"product_id": {"1"}}, b.Token(t, base), true)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("first add: status %d: %.300s", r.StatusCode, r.Body)
		}
		return b
	}
	addRequest := func(t *testing.T, b *testenv.Browser, pid, queryKey, headerKey string) *http.Request {
		form := url.Values{"product_id": {pid}}
		path := "/cart/items"
		if queryKey != "" {
			// As the add-to-cart form sends it: in the action's query
			// string, where nginx sees it, and in a hidden field.
			path += "?idempotency_key=" + url.QueryEscape(queryKey)
			form.Set("idempotency_key", queryKey)
		}
		req := testenv.PostRequest(t, base, path, form, b.CSRF(), true)
		if headerKey != "" {
			req.Header.Set("Idempotency-Key", headerKey)
		}
		return req
	}
	quantity := func(t *testing.T, b *testenv.Browser, pid string) int {
		return b.Cart(t, base).Quantities()[pid]
	}
	// retried checks that the answer came from another replica than the
	// one the relay caught the request on.
	retried := func(t *testing.T, r testenv.Response, caught int) {
		t.Helper()
		t.Logf("caught on shop-%d; the client got %d from %q", caught, r.StatusCode, servedBy(r))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200 from another replica: %.300s", r.StatusCode, r.Body)
		}
		if got := servedBy(r); got == "" || got == fmt.Sprintf("shop-%d", caught) {
			t.Errorf("answered by %q, want a replica other than shop-%d, where the request was caught", got, caught)
		}
	}
	notRetried := func(t *testing.T, r testenv.Response, caught int) {
		t.Helper()
		t.Logf("caught on shop-%d; the client got %d from %q", caught, r.StatusCode, servedBy(r))
		if r.StatusCode != http.StatusBadGateway && r.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("status %d (served by %q), want nginx's 502 or 504: an unkeyed POST caught on shop-%d must not be sent again: %.300s",
				r.StatusCode, servedBy(r), caught, r.Body)
		}
	}

	t.Run("a GET whose answer is lost is retried", func(t *testing.T) {
		b := visitor(t)
		caught := rn.arm(t, "GET /cart ", lostAnswer)
		r := b.Do(t, testenv.GetRequest(t, base, "/cart", true))
		retried(t, r, caught.wait(t))
	})

	t.Run("a POST keyed in the query string whose answer is lost is retried and applied once", func(t *testing.T) {
		b := visitor(t)
		caught := rn.arm(t, "POST /cart/items", lostAnswer)
		r := b.Do(t, addRequest(t, b, "3", testenv.RandomName("idem-"), ""))
		retried(t, r, caught.wait(t))
		if n := quantity(t, b, "3"); n != 1 {
			t.Errorf("cart holds %d of product 3 after one keyed add sent to two replicas, want 1", n)
		}
	})

	t.Run("a POST keyed in the Idempotency-Key header whose answer is lost is retried and applied once", func(t *testing.T) {
		b := visitor(t)
		caught := rn.arm(t, "POST /cart/items", lostAnswer)
		r := b.Do(t, addRequest(t, b, "4", "", testenv.RandomName("idem-")))
		retried(t, r, caught.wait(t))
		if n := quantity(t, b, "4"); n != 1 {
			t.Errorf("cart holds %d of product 4 after one keyed add sent to two replicas, want 1", n)
		}
	})

	t.Run("an unkeyed POST whose answer is lost is not retried", func(t *testing.T) {
		b := visitor(t)
		caught := rn.arm(t, "POST /cart/items", lostAnswer)
		r := b.Do(t, addRequest(t, b, "5", "", ""))
		notRetried(t, r, caught.wait(t))
		// The replica applied it before its answer was lost: exactly once,
		// not twice.
		if n := quantity(t, b, "5"); n != 1 {
			t.Errorf("cart holds %d of product 5 after one unkeyed add whose answer was lost, want 1 (applied by the replica that lost the answer, and only there)", n)
		}
	})

	t.Run("a keyed POST whose replica is killed holding it is retried and applied once", func(t *testing.T) {
		b := visitor(t)
		caught := rn.arm(t, "POST /cart/items", killReplica)
		r := b.Do(t, addRequest(t, b, "6", testenv.RandomName("idem-"), ""))
		retried(t, r, caught.wait(t))
		if n := quantity(t, b, "6"); n != 1 {
			t.Errorf("cart holds %d of product 6 after one keyed add whose replica was killed, want 1", n)
		}
	})

	t.Run("an unkeyed POST whose replica is killed holding it is not retried", func(t *testing.T) {
		b := visitor(t)
		caught := rn.arm(t, "POST /cart/items", killReplica)
		r := b.Do(t, addRequest(t, b, "7", "", ""))
		notRetried(t, r, caught.wait(t))
		// The replica may have applied it before it was killed, or not.
		if n := quantity(t, b, "7"); n > 1 {
			t.Errorf("cart holds %d of product 7 after one unkeyed add whose replica was killed, want at most 1", n)
		}
	})

	t.Run("an unkeyed POST to a replica that refuses the connection is retried", func(t *testing.T) {
		// Two of the three replicas are dead now and their ports refuse.
		// nginx skips a replica for fail_timeout (2s) after it failed; past
		// that it tries them again, and a refused connection moves the
		// request on: the request never reached a replica, so no method
		// is at risk.
		b := visitor(t)
		refusedBefore := rn.refusals(t)
		adds := 0
		for range 4 {
			time.Sleep(2100 * time.Millisecond)
			r := b.Do(t, addRequest(t, b, "8", "", ""))
			if r.StatusCode != http.StatusOK {
				t.Fatalf("unkeyed add %d with two replicas down: status %d, want 200: %.300s", adds+1, r.StatusCode, r.Body)
			}
			adds++
			if rn.refusals(t) > refusedBefore {
				break
			}
		}
		if rn.refusals(t) == refusedBefore {
			t.Fatal("nginx never met a refused connection: the case was not exercised")
		}
		t.Logf("%d unkeyed adds answered 200; nginx met %d refused connections and moved them on", adds, rn.refusals(t)-refusedBefore)
		if n := quantity(t, b, "8"); n != adds {
			t.Errorf("cart holds %d of product 8 after %d acknowledged adds, want %d", n, adds, adds)
		}
	})
}

// How a relay treats the request it catches.
type trapMode int

const (
	// lostAnswer: forward the request, wait for the replica's answer, drop
	// it and close nginx's connection.
	lostAnswer trapMode = iota
	// killReplica: forward the request, then SIGKILL the replica and close
	// the relay's port (connections refused from then on, as a dead
	// replica's), and close nginx's connection. Any answer is dropped.
	killReplica
)

// trap catches the first request (on any relay) whose bytes start with
// prefix, once.
type trap struct {
	prefix string
	mode   trapMode
	caught chan int // the replica number it was caught on
}

// wait returns the replica the request was caught on.
func (tr *trap) wait(t *testing.T) int {
	t.Helper()
	select {
	case n := <-tr.caught:
		return n
	case <-time.After(10 * time.Second):
		t.Fatalf("no request starting with %q passed a relay", tr.prefix)
		return 0
	}
}

// relayNet is one TCP relay per replica, on consecutive ports from base
// (as nginx-conf.sh numbers replicas), each forwarding to its replica.
type relayNet struct {
	c    *cluster.Cluster
	base int
	dir  string // the test nginx's prefix, for its error log

	mu    sync.Mutex
	trap  *trap
	lns   map[int]net.Listener
	conns map[net.Conn]struct{}
}

func startRelays(t *testing.T, c *cluster.Cluster) *relayNet {
	t.Helper()
	rn := &relayNet{c: c, base: cluster.FreePorts(t, c.Replicas()), lns: map[int]net.Listener{}, conns: map[net.Conn]struct{}{}}
	for n := 1; n <= c.Replicas(); n++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", rn.base+n-1))
		if err != nil {
			t.Fatalf("relay for shop-%d: %v", n, err)
		}
		rn.lns[n] = ln
		target := strings.TrimPrefix(c.ReplicaURL(n), "http://")
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go rn.relay(n, conn, target)
			}
		}()
	}
	t.Cleanup(rn.stop)
	return rn
}

// arm sets the trap for the next request starting with prefix.
func (rn *relayNet) arm(t *testing.T, prefix string, mode trapMode) *trap {
	t.Helper()
	tr := &trap{prefix: prefix, mode: mode, caught: make(chan int, 1)}
	rn.mu.Lock()
	rn.trap = tr
	rn.mu.Unlock()
	t.Cleanup(func() {
		rn.mu.Lock()
		if rn.trap == tr {
			rn.trap = nil
		}
		rn.mu.Unlock()
	})
	return tr
}

// take disarms and returns the trap when chunk starts the request it waits
// for. nginx writes a request's line and headers at once and sends no
// second request on a connection before the first one's answer, so the
// chunk that starts with the request line is that request's.
func (rn *relayNet) take(chunk []byte) *trap {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.trap == nil || !bytes.HasPrefix(chunk, []byte(rn.trap.prefix)) {
		return nil
	}
	tr := rn.trap
	rn.trap = nil
	return tr
}

func (rn *relayNet) track(conns ...net.Conn) bool {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.lns == nil {
		return false
	}
	for _, c := range conns {
		rn.conns[c] = struct{}{}
	}
	return true
}

func (rn *relayNet) relay(n int, client net.Conn, target string) {
	server, err := net.Dial("tcp", target)
	if err != nil {
		// The replica is gone: close, as the relay's port will refuse
		// soon (killReplica closes it).
		client.Close()
		return
	}
	if !rn.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	defer func() {
		client.Close()
		server.Close()
		rn.mu.Lock()
		delete(rn.conns, client)
		delete(rn.conns, server)
		rn.mu.Unlock()
	}()
	var caught atomic.Pointer[trap]
	// Replica to nginx: the caught request's answer never reaches nginx.
	go func() {
		defer client.Close()
		buf := make([]byte, 32<<10)
		for {
			k, err := server.Read(buf)
			if k > 0 {
				if tr := caught.Load(); tr != nil {
					if tr.mode == lostAnswer {
						// The replica has applied the request and answered:
						// it "dies" now.
						tr.caught <- n
						return
					}
					continue
				}
				if _, werr := client.Write(buf[:k]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	// nginx to replica.
	buf := make([]byte, 32<<10)
	for {
		k, err := client.Read(buf)
		if k > 0 {
			tr := rn.take(buf[:k])
			if tr != nil {
				caught.Store(tr)
			}
			if _, werr := server.Write(buf[:k]); werr != nil {
				return
			}
			if tr != nil && tr.mode == killReplica {
				rn.kill(n)
				tr.caught <- n
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// kill SIGKILLs replica n and closes its relay's port.
func (rn *relayNet) kill(n int) {
	if err := rn.c.Crash(n); err != nil {
		fmt.Fprintf(os.Stderr, "relay: %v\n", err)
	}
	rn.mu.Lock()
	if ln := rn.lns[n]; ln != nil {
		ln.Close()
		delete(rn.lns, n)
	}
	rn.mu.Unlock()
}

func (rn *relayNet) stop() {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	for _, ln := range rn.lns {
		ln.Close()
	}
	rn.lns = nil
	for c := range rn.conns {
		c.Close()
	}
}

// refusals counts the connections nginx found refused.
func (rn *relayNet) refusals(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rn.dir, "error.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Connection refused")
}

// startNginx runs nginx in the foreground with the config
// scripts/nginx-conf.sh writes for replicas on relayBase upward, round
// robin, and returns its address; it stops when t ends.
func startNginx(t *testing.T, rn *relayNet, replicas int) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	dir := t.TempDir()
	rn.dir = dir
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := cluster.FreePorts(t, 1)
	gen := exec.Command("bash", filepath.Join(repoRoot, "scripts", "nginx-conf.sh"), strconv.Itoa(replicas), "rr", strconv.Itoa(port))
	gen.Env = append(os.Environ(), "REPLICA_BASE_PORT="+strconv.Itoa(rn.base))
	var stderr bytes.Buffer
	gen.Stderr = &stderr
	conf, err := gen.Output()
	if err != nil {
		t.Fatalf("nginx-conf.sh: %v\n%s", err, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir + "/", "-c", filepath.Join(dir, "nginx.conf"), "-e", "error.log"}
	if out, err := exec.Command(bin, append(args, "-t", "-q")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append(args, "-g", "daemon off;")...)
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("---- test nginx error.log\n%s", b)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "access.log")); err == nil {
				t.Logf("---- test nginx access.log\n%s", b)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitStatus(t, url+"/healthz", http.StatusOK, 10*time.Second)
	return url
}
