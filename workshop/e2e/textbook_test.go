package e2e_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/testenv/cluster"
	"github.com/the-shop/shop/workshop"
)

// TestTextbookStep runs step 8 as `make workshop STEP=8` sets it up: the
// shop (3 replicas, sessions in a Redis of the step's own) and the
// textbook server (workshop/cmd/textbook, 3 replicas behind nginx through
// scripts/shop.sh, its own Redis), then the checker; and then the checker
// with its textbook target pointed at the shop, where it must fail.
func TestTextbookStep(t *testing.T) {
	t.Parallel()
	step, err := workshop.StepN(8)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "textbook")
	build := exec.Command(cluster.GoTool(), "build", "-o", bin, "./workshop/cmd/textbook")
	build.Dir = shop.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the textbook server: %v\n%s", err, out)
	}

	o := cluster.Options{Env: map[string]string{}, RedisURL: privateRedis(t)}
	for _, s := range step.Settings() {
		switch s.Name {
		case "REPLICAS":
			o.Replicas, _ = strconv.Atoi(s.Value)
		case "SESSION_STORE":
			o.Store = s.Value
		case "LB":
			o.LB = s.Value
		case "REDIS_URL": // make workshop's fixed port; the test's own instead
		default:
			o.Env[s.Name] = s.Value
		}
	}
	c := shop.Start(t, o)
	textbook := &cluster.Shop{Root: shop.Root, Bin: bin}
	tbRedis := privateRedis(t)
	tc := textbook.Start(t, cluster.Options{Replicas: 3, RedisURL: tbRedis, DatabaseURL: c.Env("DATABASE_URL")})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := workshopEnv(t, c, o)
	env.TextbookURL, env.TextbookRedisURL = tc.URL, tbRedis
	report := workshop.Check(ctx, 8, env)
	var out strings.Builder
	report.Print(&out)
	t.Logf("make workshop-check STEP=8:\n%s", out.String())
	if !report.OK() {
		t.Errorf("step 8 does not behave as workshop/README.md says:\n%s", out.String())
	}

	// The checker can fail: the shop as the textbook target neither writes
	// on every view nor loses items.
	env.TextbookURL, env.TextbookRedisURL = c.URL, o.RedisURL
	wrong := workshop.Check(ctx, 8, env)
	out.Reset()
	wrong.Print(&out)
	t.Logf("step 8's checker with the shop as its textbook:\n%s", out.String())
	failed := 0
	for _, res := range wrong.Results {
		if !res.OK && strings.HasPrefix(res.Detail, "textbook") || !res.OK && strings.Contains(res.Detail, "session:<cookie>") {
			failed++
		}
	}
	if wrong.OK() || failed != 3 {
		t.Errorf("with the shop as its textbook target, step 8's checker should fail the textbook's three checks (it failed %d):\n%s", failed, out.String())
	}
}

// privateRedis starts a redis-server of the test's own on a free port,
// with no snapshots (so rdb_changes_since_last_save counts every write),
// stopped when the test ends.
func privateRedis(t *testing.T) string {
	t.Helper()
	port := cluster.FreePorts(t, 1)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server (apt-get install -y redis-server): %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s does not answer", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "redis://" + addr + "/0"
}
