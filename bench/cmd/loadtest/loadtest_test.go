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

// startFloor builds bench/cmd/floor and runs it as replica shop-1 on a
// migrated throwaway database; it returns its URL and admin URL.
func startFloor(t *testing.T) (string, string) {
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
	addr, admin := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ADDR="+addr, "ADMIN_ADDR="+admin, "DATABASE_URL="+db, "REPLICA_NAME=shop-1",
		"REDIS_URL="+testenv.RedisURL(), "REDIS_KEY_PREFIX="+prefix, "FLOOR_SECRET=a secret for the load test")
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
			return url, "http://" + admin
		}
		if time.Now().After(deadline) {
			t.Fatal("the floor did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestLoadAndReport drives a real floor through every scenario for a
// moment and writes a report from what it measured: no errors, no lost
// items, every cart checked, the replica's CPU time per request, writes
// counted by the store.
func TestLoadAndReport(t *testing.T) {
	url, admin := startFloor(t)
	phases, err := parsePhases("json=1s,html=500ms,cart2=300ms,cart3=500ms")
	if err != nil {
		t.Fatal(err)
	}
	res, err := load(context.Background(), loadConfig{url: url, target: "floor", label: "floor", shoppers: 4,
		phases: phases, warmup: 200 * time.Millisecond, admins: []string{admin}, redisURL: testenv.RedisURL()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Phases) != 4 {
		t.Fatalf("%d phases, want 4", len(res.Phases))
	}
	for _, p := range res.Phases {
		if p.Requests == 0 || p.RPS <= 0 || p.P50 <= 0 || p.P99 < p.P50 || p.Errors != 0 {
			t.Errorf("%s: implausible: %+v (errors %v)", p.Scenario, p, p.ErrorSamples)
		}
		if len(p.Replicas) != 1 || p.Replicas[0].Requests == 0 || p.Replicas[0].Requests > p.Requests || p.CPUMicros <= 0 {
			t.Errorf("%s: CPU per request not measured: %+v", p.Scenario, p.Replicas)
		}
		if p.Sent < p.Requests {
			t.Errorf("%s: %d requests sent, %d measured", p.Scenario, p.Sent, p.Requests)
		}
		if p.Metrics != nil {
			t.Errorf("%s: the floor has no shop counters, got %+v", p.Scenario, p.Metrics)
		}
		var sum int64
		for _, r := range p.Routes {
			sum += r.Requests
		}
		if sum != p.Requests {
			t.Errorf("%s: routes add up to %d requests, the total is %d", p.Scenario, sum, p.Requests)
		}
	}
	// Writes are counted over read-only blocks: html alone, the cart
	// phases together.
	ph := res.Phases
	if ph[0].Writes != nil || ph[2].Writes != nil {
		t.Errorf("writes counted for json (%+v) or inside the cart block (%+v)", ph[0].Writes, ph[2].Writes)
	}
	for _, c := range []struct {
		w      *Writes
		phases string
		sent   int64
	}{{ph[1].Writes, "html", ph[1].Sent}, {ph[3].Writes, "cart2+cart3", ph[2].Sent + ph[3].Sent}} {
		if c.w == nil || c.w.Phases != c.phases || c.w.Sent != c.sent || c.w.Redis < 0 || c.w.Postgres != -1 {
			t.Errorf("writes of %s: %+v, want %d requests", c.phases, c.w, c.sent)
		}
	}
	if r := res.Phases[1].Routes; len(r) != 2 || r[0].Route != "GET /cart (page)" || r[1].Route != "GET / (page)" {
		t.Errorf("html phase routes: %+v", r)
	}
	if res.Lost != 0 || res.Extra != 0 || res.CartsChecked != 4 || res.Acknowledged == 0 {
		t.Errorf("lost %d, extra %d, carts checked %d, adds acknowledged %d", res.Lost, res.Extra, res.CartsChecked, res.Acknowledged)
	}
	if _, err := load(context.Background(), loadConfig{url: url, target: "floor", shoppers: 1,
		phases: []phaseSpec{{Name: "cart99", Lines: 99, Duration: time.Second}}}); err == nil || !strings.Contains(err.Error(), "the catalog has 14 products") {
		t.Errorf("cart99 on 14 products: %v", err)
	}

	dir := t.TempDir()
	for _, d := range []string{"results", "scale"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The shop's runs, made up from the floor's: half its throughput.
	shop := func(label string, f float64) *Result {
		r := *res
		r.Label, r.Target = label, "shop"
		r.Phases = nil
		for _, p := range res.Phases {
			q := *p
			q.RPS, q.CPUMicros = p.RPS*f, p.CPUMicros/f
			q.Metrics = delta(map[string]float64{}, map[string]float64{
				`shop_http_requests_total{method="GET",route="/cart",status="200"}`:    100,
				`shop_store_operations_total{kind="session",op="find",store="redis"}`:  100,
				`shop_store_operations_total{kind="cart",op="snapshot",store="redis"}`: 100,
				`shop_store_operations_total{kind="session",op="touch",store="redis"}`: 1,
			})
			r.Phases = append(r.Phases, &q)
		}
		return &r
	}
	write := func(name string, v any) {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("results/floor.json", res)
	write("results/shop-redis.json", shop("shop-redis", 0.5))
	write("results/shop-postgres.json", shop("shop-postgres", 0.45))
	write("scale/shop-redis-populate.json", Populated{Label: "shop-redis", Sessions: 1000, Seconds: 2})
	write("scale/shop-redis-before.json", StoreSize{Redis: &RedisSize{UsedMemory: 1 << 20, Kinds: map[string]*KeySizes{"session": {Keys: 10, Bytes: 2000}}}})
	write("scale/shop-redis-after.json", StoreSize{Redis: &RedisSize{UsedMemory: 1<<20 + 500_000, Kinds: map[string]*KeySizes{
		"session": {Keys: 1010, Bytes: 202000}, "cart": {Keys: 1000, Bytes: 150000}}}})
	bench := "BenchmarkCodec/gob/encode-2   100  2634 ns/op  225.0 bytes/session  2336 B/op  36 allocs/op\n" +
		"BenchmarkCodec/gob/decode-2   100  9878 ns/op  225.0 bytes/session  9216 B/op  213 allocs/op\n" +
		"BenchmarkSession/redis/load-2  6036  41207 ns/op  1832 B/op  39 allocs/op\n"
	write("elapsed.txt", 42)
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
	if os.Getenv("SHOW_REPORT") != "" {
		t.Log(page)
	}
	for _, want := range []string{
		"which took 42 s",
		fmt.Sprintf("| floor | %.0f | %.0f | %.0f |", res.Phases[0].RPS, res.Phases[0].CPUMicros, res.Phases[1].RPS),
		"| shop-redis / floor, req/s | 0.50 (goal ≥ 0.8: **not met**) | 0.50 (goal ≥ 0.8: **not met**) |",
		"| shop-postgres / shop-redis, req/s | 0.90 (goal ≥ 0.8: met) |",
		"| shop-redis | json | 2.01 |",
		"| store: session find | 1.000 |",
		"| floor | html | ",
		"| `cart:…` | 1000 | 150000 | 150 | 150 |",
		"Per guest session with a one-line cart: **350 bytes** by `MEMORY USAGE`",
		"**500 bytes** of `used_memory`",
		"| floor | 3 | ",
		"| floor | cart2+cart3 | ",
		"| gob | 225.0 | 2634 | 9878 | 36 | 213 |",
		"| Session/redis/load | 41207 | 1832 | 39 |",
		"\nmy findings\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q:\n%s", want, page)
		}
	}
}

// TestMergePhase: two rounds of a scenario add up; CPU per request and
// req/s are recomputed over both; a round without PostgreSQL counts does
// not hide the one with them.
func TestMergePhase(t *testing.T) {
	p := &Phase{Scenario: "html", Seconds: 2, Requests: 200, P50: 1, Sent: 250,
		Replicas: []ReplicaCPU{{Name: "shop-1", CPUSeconds: 0.02, Requests: 200}},
		Routes:   []RouteStats{{Route: "GET /cart (page)", Requests: 200, P50: 1}},
		Writes:   &Writes{Phases: "html", Sent: 250, Redis: 0, Postgres: 10}}
	q := &Phase{Scenario: "html", Seconds: 2, Requests: 600, P50: 3, Sent: 700,
		Replicas: []ReplicaCPU{{Name: "shop-1", CPUSeconds: 0.02, Requests: 600}},
		Routes:   []RouteStats{{Route: "GET /cart (page)", Requests: 600, P50: 3}},
		Writes:   &Writes{Phases: "html", Sent: 700, Redis: 5, Postgres: -1}}
	mergePhase(p, q)
	if p.Requests != 800 || p.RPS != 200 || p.P50 != 2.5 || p.Sent != 950 || p.CPUMicros != 50 ||
		len(p.Routes) != 1 || p.Routes[0].Requests != 800 || p.Routes[0].P50 != 2.5 {
		t.Errorf("merged: %+v", p)
	}
	if w := p.Writes; w.Sent != 250 || w.Postgres != 10 {
		t.Errorf("writes: %+v, want the round with PostgreSQL counts", w)
	}
}
