package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Markers around the hand-written part of docs/benchmarks.md, which report
// keeps when it writes the file again.
const (
	notesBegin = "<!-- notes:begin (kept by make bench; edit freely) -->"
	notesEnd   = "<!-- notes:end -->"
)

// runReport writes the benchmark page from what bench/bench.sh left in
// a directory: results/*.json (loadtest run), gobench.txt (go test
// -bench), machine.txt ("name: value" lines) and pprof-top.txt.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "", "directory bench/bench.sh filled")
	out := fs.String("out", "docs/benchmarks.md", "page to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("report needs -in DIR")
	}
	results, err := readResults(filepath.Join(*in, "results"))
	if err != nil {
		return err
	}
	notes := defaultNotes
	if old, err := os.ReadFile(*out); err == nil {
		if s, ok := between(string(old), notesBegin, notesEnd); ok {
			notes = s
		}
	}
	var b strings.Builder
	writeReport(&b, *in, results, notes)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, []byte(b.String()), 0o644)
}

func readResults(dir string) (map[string]*Result, error) {
	out := map[string]*Result{}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out[r.Store+"/"+r.Target] = &r
	}
	return out, nil
}

func between(s, begin, end string) (string, bool) {
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		return "", false
	}
	return s[i+len(begin) : j], true
}

const defaultNotes = `
(Findings from CPU profiles and what was changed go here; ` + "`make bench`" + ` keeps this part.)
`

func writeReport(b *strings.Builder, dir string, results map[string]*Result, notes string) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("# Benchmarks\n\n")
	p("Written by `make bench` (bench/bench.sh) on %s. Everything runs on this one\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("machine, on loopback: PostgreSQL, Redis, nginx, three replicas and the load\n")
	p("generator share its cores, so the numbers compare the shop with itself and\n")
	p("with the floor on the same machine, not with other machines.\n\n")

	p("## Machine\n\n| | |\n| --- | --- |\n")
	for _, kv := range readKV(filepath.Join(dir, "machine.txt")) {
		p("| %s | %s |\n", kv[0], kv[1])
	}

	p("\n## Load test: the shop against the floor\n\n")
	any := firstResult(results)
	if any != nil {
		p("`bin/loadtest run`: %d simulated shoppers, each with its own cookie jar and\n", any.Shoppers)
		p("CSRF token (taken from the signup page), one request at a time without\n")
		p("pauses, through nginx (round robin) to three replicas, for %.0f s after a\n", any.Seconds)
		p("warm-up. Each is a signed-in customer (signed up through the form before\n")
		p("the clock starts) sending JSON requests: 45%% `GET /cart`, 40%% `POST /cart/items`\n")
		p("(with an idempotency key, retried with the same key on failure), 10%% `GET /`,\n")
		p("5%% `POST /cart/items/:product_id`. At the end every shopper compares its\n")
		p("cart with the adds and sets the server acknowledged: **lost items** are\n")
		p("acknowledged units missing from the cart.\n\n")
		p("The **floor** (`bench/cmd/floor`) is a plain `net/http` program behind the same\n")
		p("nginx, started the same way, answering the same routes with the same store\n")
		p("round trips and database queries per request (session by cookie, the cart\n")
		p("through the shop's own cart store code, the products), but without Echo,\n")
		p("middleware, templates, request ids, logs, CSRF, session encoding and\n")
		p("bookkeeping. See its package comment for exactly what it does.\n\n")
	}
	stores := []string{"redis", "postgres"}
	for _, store := range stores {
		shop, floor := results[store+"/shop"], results[store+"/floor"]
		if shop == nil && floor == nil {
			continue
		}
		p("### SESSION_STORE=%s\n\n", store)
		p("| run | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | lost items | carts checked | store round trips / req | session writes / req | DB queries / req | replica CPU µs / req | nginx CPU µs / req |\n")
		p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, r := range []*Result{shop, floor} {
			if r == nil {
				continue
			}
			trips, writes, queries := "–", "–", "–"
			if m := r.Metrics; m != nil {
				trips = fmt.Sprintf("%.2f", m.OpsPerRequest)
				writes = fmt.Sprintf("%.3f", m.WritesPerReq)
				queries = fmt.Sprintf("%.2f", m.QueriesPerReq)
			}
			replicaCPU, nginxCPU := "–", "–"
			if r.ReplicaCPU > 0 && r.Requests > 0 {
				replicaCPU = fmt.Sprintf("%.0f", r.ReplicaCPU*1e6/float64(r.Requests))
				nginxCPU = fmt.Sprintf("%.0f", r.NginxCPU*1e6/float64(r.Requests))
			}
			p("| %s | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %d | %d | %s | %s | %s | %s | %s |\n",
				r.Target, r.RPS, r.P50, r.P95, r.P99, r.Max, r.Errors, r.Lost, r.CartsChecked, trips, writes, queries, replicaCPU, nginxCPU)
		}
		if shop != nil && floor != nil && floor.RPS > 0 {
			p("\nShop / floor: **%.2f** of the floor's throughput.\n", shop.RPS/floor.RPS)
		}
		if shop != nil {
			p("\nPer route (shop):\n\n| route | requests | p50 ms | p99 ms | errors |\n| --- | ---: | ---: | ---: | ---: |\n")
			for _, rs := range shop.Routes {
				p("| `%s` | %d | %.2f | %.2f | %d |\n", rs.Route, rs.Requests, rs.P50, rs.P99, rs.Errors)
			}
			if m := shop.Metrics; m != nil && m.HTTPRequests > 0 {
				p("\nStore operations counted by the replicas (`shop_store_operations_total`, each one round trip), per request:\n\n")
				p("| operation | per request |\n| --- | ---: |\n")
				for _, k := range sortedKeys(m.OpsByName) {
					p("| %s | %.3f |\n", k, m.OpsByName[k]/m.HTTPRequests)
				}
				p("\nDatabase queries (`shop_db_queries_total`; with the PostgreSQL store they include the session and cart statements), per request:\n\n")
				p("| query | per request |\n| --- | ---: |\n")
				for _, k := range sortedKeys(m.QueriesByName) {
					p("| %s | %.3f |\n", k, m.QueriesByName[k]/m.HTTPRequests)
				}
			}
			for _, e := range shop.ErrorSamples {
				p("\nFirst errors: `%s`\n", strings.ReplaceAll(e, "`", "'"))
			}
		}
		p("\n")
	}

	p("## Ratios\n\n| store | shop req/s | floor req/s | shop / floor |\n| --- | ---: | ---: | ---: |\n")
	for _, store := range stores {
		shop, floor := results[store+"/shop"], results[store+"/floor"]
		if shop == nil || floor == nil || floor.RPS == 0 {
			continue
		}
		p("| %s | %.0f | %.0f | %.2f |\n", store, shop.RPS, floor.RPS, shop.RPS/floor.RPS)
	}
	if rs, ps := results["redis/shop"], results["postgres/shop"]; rs != nil && ps != nil && rs.RPS > 0 {
		p("\nPostgreSQL sessions against Redis sessions: the shop reaches **%.2f** of its Redis throughput", ps.RPS/rs.RPS)
		if rf, pf := results["redis/floor"], results["postgres/floor"]; rf != nil && pf != nil && rf.RPS > 0 {
			p(" (the floor: %.2f)", pf.RPS/rf.RPS)
		}
		p(".\n")
	}
	p("\nThe goal is a shop / floor ratio of at least 0.8 with Redis sessions.\n")

	bench := readBench(filepath.Join(dir, "gobench.txt"))
	p("\n## Session codec\n\n")
	p("A typical signed-in session (user id, email, created, remember-me) as the\n")
	p("store keeps it (`BenchmarkCodec`, internal/session):\n\n")
	p("| codec | bytes | encode ns | decode ns | encode allocs | decode allocs |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, c := range []string{"gob", "compact", "gob+aes", "compact+aes"} {
		enc, dec := bench["BenchmarkCodec/"+c+"/encode"], bench["BenchmarkCodec/"+c+"/decode"]
		if enc == nil || dec == nil {
			continue
		}
		p("| %s | %s | %s | %s | %s | %s |\n", c, enc["bytes/session"], enc["ns/op"], dec["ns/op"], enc["allocs/op"], dec["allocs/op"])
	}
	p("\n`gob` is scs's default codec; `compact` is `session.CompactCodec`, the shop's\n")
	p("default since this benchmark, which still reads sessions gob wrote; `+aes`\n")
	p("is the same sealed with `SESSION_ENCRYPTION_KEYS`.\n")

	p("\n## Go benchmarks\n\n")
	p("`go test -run '^$' -bench . ./internal/session ./internal/cart`: one\n")
	p("operation against the local stores from one goroutine, so mostly the\n")
	p("loopback round trip.\n\n")
	p("| benchmark | ns/op | B/op | allocs/op |\n| --- | ---: | ---: | ---: |\n")
	for _, name := range sortedBench(bench) {
		if strings.HasPrefix(name, "BenchmarkCodec/") {
			continue
		}
		m := bench[name]
		p("| %s | %s | %s | %s |\n", strings.TrimPrefix(name, "Benchmark"), m["ns/op"], m["B/op"], m["allocs/op"])
	}

	if top, err := os.ReadFile(filepath.Join(dir, "pprof-top.txt")); err == nil && len(top) > 0 {
		p("\n## CPU profile of this run\n\n")
		p("Replica shop-1 under the load test with Redis sessions (`go tool pprof -top`\n")
		p("of `/debug/pprof/profile` on its admin listener), the functions that use\n")
		p("the most CPU themselves (flat), 10 s in the middle of the run:\n\n```\n%s```\n", string(top))
	}

	p("\n## Findings\n\n%s%s%s\n", notesBegin, notes, notesEnd)
}

func firstResult(rs map[string]*Result) *Result {
	for _, k := range []string{"redis/shop", "postgres/shop", "redis/floor", "postgres/floor"} {
		if r := rs[k]; r != nil {
			return r
		}
	}
	return nil
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// readKV reads "name: value" lines.
func readKV(path string) [][2]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return out
}

// readBench parses `go test -bench` output: benchmark name (without the
// -GOMAXPROCS suffix) → unit → value.
func readBench(path string) map[string]map[string]string {
	out := map[string]map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := map[string]string{}
		for i := 2; i+1 < len(fields); i += 2 {
			m[fields[i+1]] = fields[i]
		}
		out[name] = m
	}
	return out
}

// sortedBench sorts benchmarks by name, which groups each store's
// operations together.
func sortedBench(m map[string]map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
