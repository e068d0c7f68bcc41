// Package cluster runs the shop in tests as it really runs: the binary,
// several replicas and nginx, started by scripts/shop.sh (what `make up`
// runs). Every cluster gets free loopback ports, its own database and
// Redis key prefix, and is stopped when its test ends.
//
// It is a test helper of the product: e2e/ uses it, and so do the wings
// (workshop/) that start clusters of their own. A test binary builds the
// shop once in TestMain with Build and starts clusters from that build.
package cluster

import (
	"bytes"
	"errors"
	"fmt"
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

// Shop is a build of cmd/shop and the work tree it came from.
type Shop struct {
	// Root is the work tree: where scripts/shop.sh and go.mod are.
	Root string
	// Bin is the built binary every cluster of this Shop runs.
	Bin string
	dir string
}

// Build builds cmd/shop of the work tree around the working directory into
// a temporary directory; Close removes it. It also checks that nginx is
// installed, so a missing one fails once with how to get it rather than in
// every test.
func Build() (*Shop, error) {
	root, err := FindRoot()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			return nil, errors.New("end-to-end tests need nginx: apt-get install -y nginx (.ci/run installs it)")
		}
	}
	dir, err := os.MkdirTemp("", "shop-e2e-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory for the shop binary: %w", err)
	}
	s := &Shop{Root: root, Bin: filepath.Join(dir, "shop"), dir: dir}
	build := exec.Command(GoTool(), "build", "-o", s.Bin, "./cmd/shop")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		s.Close()
		return nil, fmt.Errorf("build the shop: %w\n%s", err, out)
	}
	return s, nil
}

// Close removes the binary.
func (s *Shop) Close() error { return os.RemoveAll(s.dir) }

// FindRoot returns the work tree around the working directory: the first
// directory upward that holds scripts/shop.sh.
func FindRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "scripts", "shop.sh")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside the shop's work tree (no scripts/shop.sh above it)", wd)
		}
	}
}

// GoTool is the go command: from PATH, else where the official tarball
// puts it.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// Options choose a topology; zero values mean the defaults of make up.
type Options struct {
	Store    string // SESSION_STORE (default redis)
	LB       string // rr (default), ip, cookie
	Replicas int    // default 3
	// DatabaseURL and RedisURL override the test's own (for proxies).
	DatabaseURL, RedisURL string
	// Env sets any other variable scripts/shop.sh passes to the replicas.
	Env map[string]string
}

// Cluster is a running shop: replicas and nginx, started by scripts/shop.sh.
type Cluster struct {
	shop     *Shop
	env      []string
	runDir   string
	base     int
	replicas int
	// URL is nginx's address.
	URL string
}

// Start starts a cluster with o's topology; it is stopped (and, when the
// test failed, its logs printed) when tb ends.
func (s *Shop) Start(tb testing.TB, o Options) *Cluster {
	tb.Helper()
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
		o.DatabaseURL = testenv.MustEmptyDatabase(tb)
	}
	_, prefix := testenv.MustRedis(tb)
	if o.RedisURL == "" {
		o.RedisURL = testenv.RedisURL()
	}
	// One block for nginx and the replicas: two blocks found apart can
	// overlap (nginx then finds its port taken by a replica).
	port := FreePorts(tb, 1+o.Replicas)
	base := port + 1
	c := &Cluster{shop: s, runDir: tb.TempDir(), base: base, replicas: o.Replicas, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	vars := map[string]string{
		"RUN_DIR":           c.runDir,
		"SHOP_BIN":          s.Bin,
		"REPLICAS":          strconv.Itoa(o.Replicas),
		"LB":                o.LB,
		"PORT":              strconv.Itoa(port),
		"REPLICA_BASE_PORT": strconv.Itoa(base),
		"SESSION_STORE":     o.Store,
		"DATABASE_URL":      o.DatabaseURL,
		"REDIS_URL":         o.RedisURL,
		"REDIS_KEY_PREFIX":  prefix,
		"PASSWORD_COST":     "4",
		// Every test shopper comes from loopback: one address would use up
		// the bcrypt budget a real address gets.
		"PASSWORD_HASHES_PER_IP": "0",
		"SHUTDOWN_TIMEOUT":       "10s",
		"READY_TIMEOUT":          "30",
		"LOG_FORMAT":             "json",
		// make up's Mailpit listens on fixed ports; a test that wants
		// mail starts its own (testenv.MustMailpit) and passes SMTP_URL
		// and PUBLIC_URL in Env.
		"MAILPIT":    "off",
		"PUBLIC_URL": fmt.Sprintf("http://127.0.0.1:%d", port),
	}
	for k, v := range o.Env {
		vars[k] = v
	}
	c.env = os.Environ()
	for k, v := range vars {
		c.env = append(c.env, k+"="+v)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			c.dumpLogs(tb)
		}
		// A failed stop is logged, not failed: the test's verdict is in,
		// and shop.sh down stops what it can.
		if out, err := c.Script("down"); err != nil {
			tb.Logf("%v\n%s", err, out)
		}
	})
	if out, err := c.Script("up"); err != nil {
		tb.Fatalf("scripts/shop.sh up: %v\n%s", err, out)
	}
	return c
}

// Replicas is the number of replicas the cluster was started with.
func (c *Cluster) Replicas() int { return c.replicas }

// Env is the value the cluster's scripts get for name (the last one set
// wins, as in exec.Cmd): what the replicas were started with.
func (c *Cluster) Env(name string) string {
	for i := len(c.env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(c.env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// SetEnv changes a variable for the scripts run from now on (a restart
// then hands it to the replicas, as `make restart NAME=value` does).
func (c *Cluster) SetEnv(name, value string) {
	c.env = append(c.env, name+"="+value)
}

// Script runs scripts/shop.sh with the cluster's settings and returns its
// output.
func (c *Cluster) Script(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(c.shop.Root, "scripts", "shop.sh")}, args...)...)
	cmd.Dir = c.shop.Root
	cmd.Env = c.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("scripts/shop.sh %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// MustScript runs scripts/shop.sh or fails the test.
func (c *Cluster) MustScript(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := c.Script(args...); err != nil {
		tb.Fatalf("%v\n%s", err, out)
	}
}

// ReplicaURL is replica n's own address (1-based), bypassing nginx.
func (c *Cluster) ReplicaURL(n int) string {
	return fmt.Sprintf("http://127.0.0.1:%d", c.base+n-1)
}

// PID returns replica n's process id, from its pid file.
func (c *Cluster) PID(n int) (int, error) {
	file := filepath.Join(c.runDir, "pids", fmt.Sprintf("shop-%d.pid", n))
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("pid of shop-%d: %w", n, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s holds no pid (%q)", file, b)
	}
	return pid, nil
}

// Crash sends SIGKILL to replica n, as a crash or an OOM kill would, and
// waits until it is gone.
func (c *Cluster) Crash(n int) error {
	pid, err := c.PID(n)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill shop-%d (pid %d): %w", n, pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("shop-%d (pid %d) still alive 10s after SIGKILL", n, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Kill is Crash that fails the test on an error.
func (c *Cluster) Kill(tb testing.TB, n int) {
	tb.Helper()
	if err := c.Crash(n); err != nil {
		tb.Fatal(err)
	}
}

// NginxUpstreamErrors counts the requests nginx could not complete on the
// replica it first chose (refused, reset, closed early) and so retried.
func (c *Cluster) NginxUpstreamErrors(tb testing.TB) int {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(c.runDir, "nginx", "error.log"))
	if err != nil {
		tb.Fatal(err)
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
func (c *Cluster) dumpLogs(tb testing.TB) {
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
		tb.Logf("---- %s (last %d lines)\n%s", filepath.Base(f), len(lines), strings.Join(lines, "\n"))
	}
}

// FreePorts finds n consecutive free loopback ports and returns the first
// (testenv.FreePorts).
func FreePorts(tb testing.TB, n int) int {
	tb.Helper()
	return testenv.FreePorts(tb, n)
}
