package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/testenv"
)

// startFloor builds bench/cmd/floor and runs it on a migrated throwaway database;
// it returns its URL and process id.
func startFloor(t *testing.T) (string, int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "floor")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, "../floor").CombinedOutput(); err != nil {
		t.Fatalf("build the floor: %v\n%s", err, out)
	}
	db := testenv.MustEmptyDatabase(t)
	m, err := postgres.NewMigrator(testenv.MustPool(t, db), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Close()
	_, prefix := testenv.MustRedis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ADDR="+addr, "SESSION_STORE=redis", "DATABASE_URL="+db,
		"REDIS_URL="+testenv.RedisURL(), "REDIS_KEY_PREFIX="+prefix)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); ; {
		if res, err := http.Get(url + "/readyz"); err == nil {
			res.Body.Close()
			return url, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the floor did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLoadAndReport drives a real floor for a second and writes a report
// from what it measured: no errors, no lost items, every cart checked.
func TestLoadAndReport(t *testing.T) {
	url, pid := startFloor(t)
	res, err := load(context.Background(), loadConfig{url: url, target: "floor", store: "redis", label: "test",
		shoppers: 4, duration: time.Second, warmup: 200 * time.Millisecond, replicaPIDs: []int{pid}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.RPS <= 0 || res.P50 <= 0 || res.P99 < res.P50 {
		t.Errorf("implausible result: %+v", res)
	}
	if res.Errors != 0 || res.Lost != 0 || res.Extra != 0 || res.CartsChecked != 4 {
		t.Errorf("errors %d (%v), lost %d, extra %d, carts checked %d", res.Errors, res.ErrorSamples, res.Lost, res.Extra, res.CartsChecked)
	}
	if res.Acknowledged == 0 {
		t.Error("no add was acknowledged")
	}
	if res.ReplicaCPU <= 0 {
		t.Errorf("CPU time of pid %d not measured", pid)
	}
	var sum int64
	for _, r := range res.Routes {
		sum += r.Requests
	}
	if sum != res.Requests {
		t.Errorf("routes add up to %d requests, the total is %d", sum, res.Requests)
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	shop := *res
	shop.Target, shop.RPS = "shop", res.RPS*0.9
	shop.Metrics = delta(map[string]float64{}, map[string]float64{
		`shop_http_requests_total{method="GET",route="/cart",status="200"}`:    100,
		`shop_store_operations_total{kind="session",op="find",store="redis"}`:  100,
		`shop_store_operations_total{kind="cart",op="snapshot",store="redis"}`: 100,
		`shop_db_queries_total{query="select products"}`:                       100,
		`shop_store_operations_total{kind="session",op="touch",store="redis"}`: 1,
	})
	for name, r := range map[string]*Result{"redis-floor.json": res, "redis-shop.json": &shop} {
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, "results", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bench := "BenchmarkCodec/gob/encode-2   100  2634 ns/op  225.0 bytes/session  2336 B/op  36 allocs/op\n" +
		"BenchmarkCodec/gob/decode-2   100  9878 ns/op  225.0 bytes/session  9216 B/op  213 allocs/op\n" +
		"BenchmarkSession/redis/load-2  6036  41207 ns/op  1832 B/op  39 allocs/op\n"
	if err := os.WriteFile(filepath.Join(dir, "gobench.txt"), []byte(bench), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "benchmarks.md")
	if err := os.WriteFile(out, []byte("old\n"+notesBegin+"\nmy findings\n"+notesEnd+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runReport([]string{"-in", dir, "-out", out}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	page := string(b)
	for _, want := range []string{
		"### SESSION_STORE=redis",
		fmt.Sprintf("| floor | %.0f |", res.RPS),
		"Shop / floor: **0.90**",
		"| session find | 1.000 |",
		"| session touch | 0.010 |",
		"| gob | 225.0 | 2634 | 9878 | 36 | 213 |",
		"| Session/redis/load | 41207 | 1832 | 39 |",
		"\nmy findings\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q:\n%s", want, page)
		}
	}
}
