// Package e2e_test runs the shop as it really runs: the binary, several
// replicas and nginx, started by scripts/shop.sh (what `make up` runs), and
// proves what the design promises when replicas die, restart, or lose their
// stores. Every test starts its own cluster on free loopback ports with its
// own database and Redis prefix, and stops everything it started.
package e2e_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/testenv"
)

// shopBin is the binary every cluster runs, built once by TestMain.
var shopBin string

// repoRoot is the work tree's root (the parent of e2e/).
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Dir(wd)
	dir, err := os.MkdirTemp("", "shop-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shopBin = filepath.Join(dir, "shop")
	build := exec.Command(goTool(), "build", "-o", shopBin, "./cmd/shop")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build shop: %v\n%s", err, out)
		return 1
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e tests need nginx: apt-get install -y nginx (.ci/run installs it)")
			return 1
		}
	}
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// clusterOptions choose a topology; zero values mean the defaults of make up.
type clusterOptions struct {
	Store    string // SESSION_STORE
	LB       string // rr, ip, cookie
	Replicas int
	// DatabaseURL and RedisURL override the test's own (for proxies).
	DatabaseURL, RedisURL string
	Env                   map[string]string
}

// cluster is a running shop: replicas and nginx, started by scripts/shop.sh.
type cluster struct {
	t        *testing.T
	env      []string
	runDir   string
	base     int
	replicas int
	// URL is nginx's address.
	URL string
}

func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if o.Store == "" {
		o.Store = "redis"
	}
	if o.LB == "" {
		o.LB = "rr"
	}
	if o.Replicas == 0 {
		o.Replicas = 3
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = testenv.MustEmptyDatabase(t)
	}
	_, prefix := testenv.MustRedis(t)
	if o.RedisURL == "" {
		o.RedisURL = testenv.RedisURL()
	}
	port := freePorts(t, 1)
	base := freePorts(t, o.Replicas)
	c := &cluster{t: t, runDir: t.TempDir(), base: base, replicas: o.Replicas, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	vars := map[string]string{
		"RUN_DIR":           c.runDir,
		"SHOP_BIN":          shopBin,
		"REPLICAS":          strconv.Itoa(o.Replicas),
		"LB":                o.LB,
		"PORT":              strconv.Itoa(port),
		"REPLICA_BASE_PORT": strconv.Itoa(base),
		"SESSION_STORE":     o.Store,
		"DATABASE_URL":      o.DatabaseURL,
		"REDIS_URL":         o.RedisURL,
		"REDIS_KEY_PREFIX":  prefix,
		"PASSWORD_COST":     "4",
		"SHUTDOWN_TIMEOUT":  "10s",
		"READY_TIMEOUT":     "30",
		"LOG_FORMAT":        "json",
	}
	for k, v := range o.Env {
		vars[k] = v
	}
	c.env = os.Environ()
	for k, v := range vars {
		c.env = append(c.env, k+"="+v)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		c.script("down")
	})
	if out, err := c.script("up"); err != nil {
		t.Fatalf("scripts/shop.sh up: %v\n%s", err, out)
	}
	return c
}

// script runs scripts/shop.sh with the cluster's settings.
func (c *cluster) script(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot, "scripts", "shop.sh")}, args...)...)
	cmd.Dir = repoRoot
	cmd.Env = c.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// mustScript runs scripts/shop.sh or fails the test.
func (c *cluster) mustScript(args ...string) {
	c.t.Helper()
	if out, err := c.script(args...); err != nil {
		c.t.Fatalf("scripts/shop.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// replicaURL is replica n's own address (1-based), bypassing nginx.
func (c *cluster) replicaURL(n int) string {
	return fmt.Sprintf("http://127.0.0.1:%d", c.base+n-1)
}

// replicaNumber turns "shop-2" into 2.
func replicaNumber(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(name, "shop-"))
	if err != nil {
		t.Fatalf("replica name %q is not shop-N", name)
	}
	return n
}

// pid returns replica n's process id.
func (c *cluster) pid(n int) int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.runDir, "pids", fmt.Sprintf("shop-%d.pid", n)))
	if err != nil {
		c.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		c.t.Fatal(err)
	}
	return pid
}

// kill sends SIGKILL to replica n, as a crash or an OOM kill would, and
// waits until it is gone.
func (c *cluster) kill(n int) {
	c.t.Helper()
	pid := c.pid(n)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill shop-%d (pid %d): %v", n, pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			c.t.Fatalf("shop-%d (pid %d) still alive after SIGKILL", n, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nginxUpstreamErrors counts the requests nginx could not complete on the
// replica it first chose (refused, reset, closed early) and so retried.
func (c *cluster) nginxUpstreamErrors() int {
	b, err := os.ReadFile(filepath.Join(c.runDir, "nginx", "error.log"))
	if err != nil {
		c.t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "[error]") && strings.Contains(line, "upstream") {
			n++
		}
	}
	return n
}

// dumpLogs prints the end of every replica log and nginx's error log.
func (c *cluster) dumpLogs() {
	files, _ := filepath.Glob(filepath.Join(c.runDir, "logs", "*.log"))
	files = append(files, filepath.Join(c.runDir, "nginx", "error.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		c.t.Logf("---- %s (last %d lines)\n%s", filepath.Base(f), len(lines), strings.Join(lines, "\n"))
	}
}

// freePorts finds n consecutive free loopback ports and returns the first.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		// Below Linux's ephemeral range (32768 up): a port found free
		// there can be taken, before the replica binds it, as the local
		// port of any outgoing connection (to Redis, to PostgreSQL, of
		// nginx) on this busy machine.
		base := 10000 + rand.IntN(22000-n)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// servedBy returns the replica that answered.
func servedBy(r testenv.Response) string { return r.Header.Get("X-Served-By") }

// waitStatus polls url until it answers want, or fails after timeout.
func waitStatus(t *testing.T, url string, want int, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == want {
				return
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within %v (last: %s)", url, want, timeout, last)
}
