package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchScript runs bench/bench.sh end to end on a tiny load (two runs,
// a second per phase, 100 sessions) and checks the page it writes. It is
// left out of `make test` unless SHOP_TEST_BENCH_SH=1: it builds three
// binaries and starts two clusters of three replicas, nginx and a Redis,
// about 30 s to 2 minutes on a shared 2-core machine, whatever the load's
// length. TestLoadAndReport covers the load tool and the report in
// `make test` with a real floor.
func TestBenchScript(t *testing.T) {
	if os.Getenv("SHOP_TEST_BENCH_SH") != "1" {
		t.Skip("SHOP_TEST_BENCH_SH=1 runs bench/bench.sh on a tiny load (about a minute)")
	}
	out := filepath.Join(t.TempDir(), "benchmarks.md")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../bench.sh")
	// On timeout: SIGTERM, which bench.sh traps to stop what it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Env = append(os.Environ(), "BENCH_OUT="+out, "BENCH_RUNS=floor shop-redis", "BENCH_SHOPPERS=4",
		"BENCH_JSON=1s", "BENCH_HTML=1s", "BENCH_WARMUP=200ms", "BENCH_CART=0", "BENCH_SESSIONS=100", "BENCH_GOTIME=0")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench.sh: %v\n%s", err, b)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| floor | ", "| shop-redis | ", "| shop-redis / floor, req/s | ", "### shop-redis",
		"| shop-redis | html | ", "Per guest session with a one-line cart", "<!-- notes:end -->"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}
