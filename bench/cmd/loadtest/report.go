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

// readResults reads every run's JSON and merges the runs of one label (a
// bench run measures each target twice: the main phases, then the cart
// sizes after products were added).
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
		var r Result
		if err := readJSON(filepath.Join(dir, e.Name()), &r); err != nil {
			return nil, err
		}
		if old := out[r.Label]; old != nil {
			for _, ph := range r.Phases {
				if same := old.phase(ph.Scenario); same != nil {
					mergePhase(same, ph)
				} else {
					old.Phases = append(old.Phases, ph)
				}
			}
			old.Lost += r.Lost
			old.Extra += r.Extra
			old.CartsChecked += r.CartsChecked
			old.Acknowledged += r.Acknowledged
			continue
		}
		out[r.Label] = &r
	}
	for _, r := range out {
		slices.SortStableFunc(r.Phases, func(a, b *Phase) int { return phaseOrder(a) - phaseOrder(b) })
	}
	return out, nil
}

// mergePhase adds another round of the same scenario to p: counts and
// times add up, rates and CPU per request are recomputed over both, and
// the percentiles are the request-weighted means of the rounds' (an
// approximation: the rounds' samples are not kept).
func mergePhase(p, q *Phase) {
	wp, wq := float64(p.Requests), float64(q.Requests)
	mean := func(a, b float64) float64 {
		if wp+wq == 0 {
			return 0
		}
		return (a*wp + b*wq) / (wp + wq)
	}
	p.P50, p.P95, p.P99 = mean(p.P50, q.P50), mean(p.P95, q.P95), mean(p.P99, q.P99)
	p.Max = max(p.Max, q.Max)
	p.Seconds += q.Seconds
	p.Requests += q.Requests
	p.Errors += q.Errors
	p.Sent += q.Sent
	p.NginxCPU += q.NginxCPU
	if p.Seconds > 0 {
		p.RPS = float64(p.Requests) / p.Seconds
	}
	p.ErrorSamples = append(p.ErrorSamples, q.ErrorSamples...)
	for _, rq := range q.Routes {
		found := false
		for i := range p.Routes {
			if rs := &p.Routes[i]; rs.Route == rq.Route {
				a, b := float64(rs.Requests), float64(rq.Requests)
				if a+b > 0 {
					rs.P50, rs.P99 = (rs.P50*a+rq.P50*b)/(a+b), (rs.P99*a+rq.P99*b)/(a+b)
				}
				rs.Requests += rq.Requests
				rs.Errors += rq.Errors
				found = true
			}
		}
		if !found {
			p.Routes = append(p.Routes, rq)
		}
	}
	var cpu float64
	var reqs int64
	for _, rq := range q.Replicas {
		found := false
		for i := range p.Replicas {
			if rc := &p.Replicas[i]; rc.Name == rq.Name {
				rc.CPUSeconds += rq.CPUSeconds
				rc.Requests += rq.Requests
				found = true
			}
		}
		if !found {
			p.Replicas = append(p.Replicas, rq)
		}
	}
	for i := range p.Replicas {
		rc := &p.Replicas[i]
		if rc.Requests > 0 {
			rc.Micros = rc.CPUSeconds * 1e6 / float64(rc.Requests)
		}
		cpu += rc.CPUSeconds
		reqs += rc.Requests
	}
	if reqs > 0 {
		p.CPUMicros = cpu * 1e6 / float64(reqs)
	}
	if p.Metrics != nil && q.Metrics != nil {
		m, n := p.Metrics, q.Metrics
		m.HTTPRequests += n.HTTPRequests
		m.StoreOps += n.StoreOps
		m.SessionWrites += n.SessionWrites
		m.DBQueries += n.DBQueries
		for _, pair := range [][2]map[string]float64{{m.OpsByName, n.OpsByName}, {m.QueriesByName, n.QueriesByName}, {m.RequestsByName, n.RequestsByName}} {
			for k, v := range pair[1] {
				pair[0][k] += v
			}
		}
		if m.HTTPRequests > 0 {
			m.OpsPerRequest = m.StoreOps / m.HTTPRequests
			m.WritesPerReq = m.SessionWrites / m.HTTPRequests
			m.QueriesPerReq = m.DBQueries / m.HTTPRequests
		}
	}
	switch {
	case p.Writes == nil:
		p.Writes = q.Writes
	case q.Writes != nil && (p.Writes.Postgres < 0) != (q.Writes.Postgres < 0):
		// bench.sh counts PostgreSQL in one round only (each count waits
		// 10 s): keep the round that has it, whole.
		if p.Writes.Postgres < 0 {
			p.Writes = q.Writes
		}
	case q.Writes != nil:
		w := p.Writes
		w.Sent += q.Writes.Sent
		w.Redis = sumKnown(w.Redis, q.Writes.Redis)
		w.Postgres = sumKnown(w.Postgres, q.Writes.Postgres)
	}
}

// sumKnown adds two counts, -1 meaning unknown; one unknown makes the sum
// unknown, since its requests were not counted.
func sumKnown(a, b int64) int64 {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}

// phaseOrder puts json before html before the cart sizes, small to large.
func phaseOrder(p *Phase) int {
	switch p.Scenario {
	case scenarioJSON:
		return -2
	case scenarioHTML:
		return -1
	}
	return p.Lines
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
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

// The runs bench/bench.sh makes, in the order the tables show them.
var runLabels = []string{"floor", "shop-redis", "shop-postgres"}

// phase returns a run's phase of a scenario, or nil.
func (r *Result) phase(scenario string) *Phase {
	if r == nil {
		return nil
	}
	for _, p := range r.Phases {
		if p.Scenario == scenario {
			return p
		}
	}
	return nil
}

// ratio formats a/b against a goal of at least goal.
func ratio(a, b *Phase, cpu bool, goal float64) string {
	if a == nil || b == nil {
		return "–"
	}
	var x float64
	if cpu {
		// Throughput per CPU: the inverse ratio of CPU per request.
		if a.CPUMicros <= 0 || b.CPUMicros <= 0 {
			return "–"
		}
		x = b.CPUMicros / a.CPUMicros
	} else {
		if b.RPS <= 0 {
			return "–"
		}
		x = a.RPS / b.RPS
	}
	if goal == 0 {
		return fmt.Sprintf("%.2f", x)
	}
	verdict := "met"
	if x < goal {
		verdict = "**not met**"
	}
	return fmt.Sprintf("%.2f (goal ≥ %.1f: %s)", x, goal, verdict)
}

func num(v float64, format string) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func writeReport(b *strings.Builder, dir string, results map[string]*Result, notes string) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("# Benchmarks\n\n")
	p("Written by `make bench` (bench/bench.sh) on %s", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	if el := strings.TrimSpace(readFile(filepath.Join(dir, "elapsed.txt"))); el != "" {
		p(", which took %s s", el)
	}
	p(". Everything runs on this one\n")
	p("machine, on loopback: PostgreSQL, Redis, nginx, three replicas and the load\n")
	p("generator share its cores, so the numbers compare the shop with the floor\n")
	p("measured in the same run, not with other machines. CPU microseconds per\n")
	p("request hold across machines better than requests per second.\n\n")

	p("## Machine\n\n| | |\n| --- | --- |\n")
	for _, kv := range readKV(filepath.Join(dir, "machine.txt")) {
		p("| %s | %s |\n", kv[0], kv[1])
	}

	floor, shopRedis, shopPG := results["floor"], results["shop-redis"], results["shop-postgres"]
	p("\n## The shop against the floor\n\n")
	p("Three clusters side by side, each three replicas behind the same nginx\n")
	p("configuration, measured in turns (the others idle meanwhile), in rounds, so\n")
	p("that the machine's background load falls on each alike: the **floor** (`bench/cmd/floor`, the minimal design for a cart kept\n")
	p("in Redis: a random session id in a cookie, CSRF token = HMAC(secret, id),\n")
	p("the cart one Redis hash; `GET /cart` is one `HGETALL`, an add one pipelined\n")
	p("`HINCRBY` + `EXPIRE` + `HGETALL`, products from memory), then the shop with\n")
	p("`SESSION_STORE=redis`, then with `SESSION_STORE=postgres`. The same load for\n")
	p("each, guests only (`bin/loadtest run`); the rounds add up (percentiles:\n")
	p("the request-weighted mean of the rounds'):\n\n")
	p("- **JSON**: each guest loops: add an item (`POST /cart/items`), then view the cart\n")
	p("  (`GET /cart`), both as JSON; at the end every cart is checked against the adds\n")
	p("  acknowledged.\n")
	p("- **HTML**: the same guests loop over the cart page and the catalog page\n")
	p("  (`Accept: text/html`, html/template on both sides).\n\n")
	p("CPU µs / request: the replicas' `process_cpu_seconds_total` (scraped from\n")
	p("each one's admin `/metrics` before and after the measured window) over the\n")
	p("requests each served in it (counted by their `X-Served-By`).\n\n")
	p("| run | JSON req/s | JSON CPU µs / req | HTML req/s | HTML CPU µs / req | JSON p50 / p99 ms | HTML p50 / p99 ms | errors | lost items |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, l := range runLabels {
		r := results[l]
		if r == nil {
			continue
		}
		j, h := r.phase(scenarioJSON), r.phase(scenarioHTML)
		var errs int64
		for _, ph := range r.Phases {
			errs += ph.Errors
		}
		cell := func(ph *Phase) (string, string, string) {
			if ph == nil {
				return "–", "–", "–"
			}
			return fmt.Sprintf("%.0f", ph.RPS), num(ph.CPUMicros, "%.0f"), fmt.Sprintf("%.2f / %.2f", ph.P50, ph.P99)
		}
		jr, jc, jl := cell(j)
		hr, hc, hl := cell(h)
		p("| %s | %s | %s | %s | %s | %s | %s | %d | %d of %d carts |\n", l, jr, jc, hr, hc, jl, hl, errs, r.Lost, r.CartsChecked)
	}
	p("\n| ratio | JSON | HTML |\n| --- | --- | --- |\n")
	p("| shop-redis / floor, req/s | %s | %s |\n", ratio(shopRedis.phase(scenarioJSON), floor.phase(scenarioJSON), false, 0.8), ratio(shopRedis.phase(scenarioHTML), floor.phase(scenarioHTML), false, 0.8))
	p("| shop-postgres / shop-redis, req/s | %s | %s |\n", ratio(shopPG.phase(scenarioJSON), shopRedis.phase(scenarioJSON), false, 0.8), ratio(shopPG.phase(scenarioHTML), shopRedis.phase(scenarioHTML), false, 0.8))
	p("| shop-redis / floor, requests per CPU second (floor µs / shop µs) | %s | %s |\n", ratio(shopRedis.phase(scenarioJSON), floor.phase(scenarioJSON), true, 0), ratio(shopRedis.phase(scenarioHTML), floor.phase(scenarioHTML), true, 0))
	p("| shop-postgres / shop-redis, requests per CPU second | %s | %s |\n", ratio(shopPG.phase(scenarioJSON), shopRedis.phase(scenarioJSON), true, 0), ratio(shopPG.phase(scenarioHTML), shopRedis.phase(scenarioHTML), true, 0))
	p("\nThe goals (issue 12) are the two req/s ratios, each at least 0.8, for JSON\n")
	p("and HTML. The replicas' CPU is not all of it: nginx, the stores and the load\n")
	p("generator share the cores (nginx's own CPU is in the tables below).\n")

	writeStoreCounts(p, results)
	writeScenarios(p, results)
	writeScale(p, dir, results)

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
	p("default, which still reads sessions gob wrote; `+aes` is the same sealed\n")
	p("with `SESSION_ENCRYPTION_KEYS`.\n")

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

	if top := readFile(filepath.Join(dir, "pprof-top.txt")); top != "" {
		p("\n## CPU profile of this run\n\n")
		p("Replica shop-1 under the JSON load with Redis sessions (`go tool pprof -top`\n")
		p("of `/debug/pprof/profile` on its admin listener), the functions that use\n")
		p("the most CPU themselves (flat):\n\n```\n%s```\n", top)
	}

	p("\n## Findings\n\n%s%s%s\n", notesBegin, notes, notesEnd)
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

type printer func(format string, a ...any)

// writeStoreCounts: round trips per request as the shop counts them, and
// what the stores counted as writes while nothing changed.
func writeStoreCounts(p printer, results map[string]*Result) {
	p("\n## Store round trips and writes\n\n")
	p("Round trips as the shop's replicas count them in the measured window\n")
	p("(`shop_store_operations_total`: one per session or cart store operation,\n")
	p("a Redis script or command or one SQL statement; `shop_db_queries_total`:\n")
	p("every PostgreSQL statement, which with the PostgreSQL store includes the\n")
	p("session and cart statements), per request the replicas served. The floor\n")
	p("has no such counters: by construction it makes one Redis round trip per\n")
	p("request (none for the catalog as JSON) and no database query.\n\n")
	p("| run | phase | store round trips / req | DB queries / req | session writes / req |\n| --- | --- | ---: | ---: | ---: |\n")
	for _, l := range runLabels[1:] {
		r := results[l]
		if r == nil {
			continue
		}
		for _, ph := range r.Phases {
			if m := ph.Metrics; m != nil && m.HTTPRequests > 0 {
				p("| %s | %s | %.2f | %.2f | %.3f |\n", l, ph.Scenario, m.OpsPerRequest, m.QueriesPerReq, m.WritesPerReq)
			}
		}
	}
	for _, l := range runLabels[1:] {
		r := results[l]
		ph := r.phase(scenarioJSON)
		if ph == nil || ph.Metrics == nil || ph.Metrics.HTTPRequests == 0 {
			continue
		}
		m := ph.Metrics
		p("\n%s, JSON phase, by operation (per request):\n\n| operation | per request |\n| --- | ---: |\n", l)
		for _, k := range sortedKeys(m.OpsByName) {
			p("| store: %s | %.3f |\n", k, m.OpsByName[k]/m.HTTPRequests)
		}
		for _, k := range sortedKeys(m.QueriesByName) {
			p("| query: %s | %.3f |\n", k, m.QueriesByName[k]/m.HTTPRequests)
		}
	}

	p("\n### Writes per unchanged view\n\n")
	p("The HTML phase and the cart-size phases change nothing: every request is a\n")
	p("view of a cart that stays as it is. The stores count their own writes over\n")
	p("each read-only block, warm-ups included: Redis `INFO persistence`\n")
	p("`rdb_changes_since_last_save` (every key written, inside scripts too; the\n")
	p("bench runs its own Redis, flushed before each run, so nothing else writes\n")
	p("to it), PostgreSQL `pg_stat_database` `tup_inserted + tup_updated +\n")
	p("tup_deleted` of the bench's own database. PostgreSQL's statistics reach\n")
	p("that view up to 10 s late, so each count waits for 10 s of quiet, and the\n")
	p("three cart sizes are counted together (their carts are filled first).\n")
	p("PostgreSQL is counted for the shop on PostgreSQL only; the floor and the\n")
	p("shop on Redis have no write to it on their path. Within the touch\n")
	p("interval the goal is 0.\n\n")
	p("| run | phases | requests | Redis writes | per request | PostgreSQL row writes | per request |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, l := range runLabels {
		r := results[l]
		if r == nil {
			continue
		}
		for _, ph := range r.Phases {
			w := ph.Writes
			if w == nil || w.Sent == 0 {
				continue
			}
			rw, rp, pw, pp := "–", "–", "–", "–"
			if w.Redis >= 0 {
				rw, rp = fmt.Sprint(w.Redis), fmt.Sprintf("%.3f", float64(w.Redis)/float64(w.Sent))
			}
			if w.Postgres >= 0 {
				pw, pp = fmt.Sprint(w.Postgres), fmt.Sprintf("%.3f", float64(w.Postgres)/float64(w.Sent))
			}
			p("| %s | %s | %d | %s | %s | %s | %s |\n", l, w.Phases, w.Sent, rw, rp, pw, pp)
		}
	}
}

// writeScenarios: every phase of every run in full.
func writeScenarios(p printer, results map[string]*Result) {
	p("\n## Every phase\n\n")
	p("| run | phase | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | CPU µs / req (per replica) | nginx CPU µs / req |\n")
	p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
	for _, l := range runLabels {
		r := results[l]
		if r == nil {
			continue
		}
		for _, ph := range r.Phases {
			var per []string
			for _, rc := range ph.Replicas {
				per = append(per, num(rc.Micros, "%.0f"))
			}
			nginx := "–"
			if ph.NginxCPU > 0 && ph.Requests > 0 {
				nginx = fmt.Sprintf("%.0f", ph.NginxCPU*1e6/float64(ph.Requests))
			}
			p("| %s | %s | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %s (%s) | %s |\n", l, ph.Scenario, ph.RPS, ph.P50, ph.P95, ph.P99, ph.Max, ph.Errors,
				num(ph.CPUMicros, "%.0f"), strings.Join(per, ", "), nginx)
		}
	}
	p("\nPer route:\n\n| run | phase | route | requests | p50 ms | p99 ms | errors |\n| --- | --- | --- | ---: | ---: | ---: | ---: |\n")
	for _, l := range runLabels {
		r := results[l]
		if r == nil {
			continue
		}
		for _, ph := range r.Phases {
			for _, rs := range ph.Routes {
				p("| %s | %s | `%s` | %d | %.2f | %.2f | %d |\n", l, ph.Scenario, rs.Route, rs.Requests, rs.P50, rs.P99, rs.Errors)
			}
		}
	}
	for _, l := range runLabels {
		r := results[l]
		if r == nil {
			continue
		}
		for _, ph := range r.Phases {
			for _, e := range ph.ErrorSamples {
				p("\nFirst errors (%s, %s): `%s`\n", l, ph.Scenario, strings.ReplaceAll(e, "`", "'"))
			}
		}
	}
}

// writeScale: bytes per session and cart, 1M sessions, cart size.
func writeScale(p printer, dir string, results map[string]*Result) {
	p("\n## Scale\n")
	for _, store := range []string{"redis", "postgres"} {
		l := "shop-" + store
		var pop Populated
		var before, after StoreSize
		if readJSON(filepath.Join(dir, "scale", l+"-populate.json"), &pop) != nil ||
			readJSON(filepath.Join(dir, "scale", l+"-before.json"), &before) != nil ||
			readJSON(filepath.Join(dir, "scale", l+"-after.json"), &after) != nil || pop.Sessions == 0 {
			continue
		}
		n := float64(pop.Sessions)
		p("\n### %s\n\n", l)
		p("After the load phases, `loadtest populate` made %d more guest sessions,\n", pop.Sessions)
		p("each with a one-line cart, through the shop's routes (a cart view, then\n")
		p("one add with its idempotency key; %.1f s). What the shop then held:\n\n", pop.Seconds)
		if a, b := after.Redis, before.Redis; a != nil && b != nil && store == "redis" {
			p("| Redis keys (`MEMORY USAGE … SAMPLES 0`) | keys | bytes | bytes / key | added by populate, bytes / session |\n| --- | ---: | ---: | ---: | ---: |\n")
			var sum, sumBefore int64
			for _, k := range sortedKinds(a.Kinds) {
				ks := a.Kinds[k]
				var kb int64
				if o := b.Kinds[k]; o != nil {
					kb = o.Bytes
				}
				sum += ks.Bytes
				sumBefore += kb
				p("| `%s:…` | %d | %d | %.0f | %.0f |\n", k, ks.Keys, ks.Bytes, float64(ks.Bytes)/float64(max(ks.Keys, 1)), float64(ks.Bytes-kb)/n)
			}
			per := func(kinds ...string) string {
				var bytes, keys int64
				for _, k := range kinds {
					if ks := a.Kinds[k]; ks != nil {
						bytes += ks.Bytes
						if keys == 0 {
							keys = ks.Keys
						}
					}
				}
				if keys == 0 {
					return "–"
				}
				return fmt.Sprintf("%.0f bytes", float64(bytes)/float64(keys))
			}
			p("\nA session: **%s** (`session:`); a cart, most of them of one line: **%s**\n", per("session"), per("cart", "cartgen"))
			p("(`cart:` and its `cartgen:` generation key); each add's idempotency key\n")
			p("(`idem:`, until it expires): %s.\n", per("idem"))
			p("\nPer guest session with a one-line cart: **%.0f bytes** by `MEMORY USAGE`\n", float64(sum-sumBefore)/n)
			p("(the keys' own bytes), **%.0f bytes** of `used_memory` (the server's whole\n", float64(a.UsedMemory-b.UsedMemory)/n)
			p("allocation, with its hash table entries and allocator rounding).\n")
			p("1M such sessions, extrapolated linearly from these %d: **%.0f MiB** of\n", pop.Sessions, float64(a.UsedMemory-b.UsedMemory)/n*1e6/(1<<20))
			p("`used_memory` (%.0f MiB by `MEMORY USAGE`). A signed-in customer's session\n", float64(sum-sumBefore)/n*1e6/(1<<20))
			p("adds its account index entry; a cart of more lines grows by a hash field each.\n")
		}
		if a, b := after.Postgres, before.Postgres; a != nil && b != nil && store == "postgres" {
			p("| PostgreSQL table | rows | total bytes (with indexes, TOAST) | bytes / row | mean row (`pg_column_size`) | added by populate, bytes / session |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
			var grown int64
			for _, k := range sortedTables(a.Tables) {
				t := a.Tables[k]
				var tb int64
				if o := b.Tables[k]; o != nil {
					tb = o.TotalBytes
				}
				if o := b.Tables[k]; o != nil && o.Rows == t.Rows && o.TotalBytes == t.TotalBytes {
					continue // not written by the shop's guests: products and the like
				}
				grown += t.TotalBytes - tb
				p("| %s | %d | %d | %.0f | %.0f | %.0f |\n", k, t.Rows, t.TotalBytes, float64(t.TotalBytes)/float64(max(t.Rows, 1)), t.AvgRowBytes, float64(t.TotalBytes-tb)/n)
			}
			row := func(name string) string {
				if t := a.Tables[name]; t != nil && t.Rows > 0 {
					return fmt.Sprintf("%.0f bytes of row data (`pg_column_size`), %.0f with indexes and free space", t.AvgRowBytes, float64(t.TotalBytes)/float64(t.Rows))
				}
				return "–"
			}
			p("\nA session row: %s. A cart row: %s; each cart line: %s.\n", row("sessions"), row("carts"), row("cart_items"))
			p("\nPer guest session with a one-line cart: **%.0f bytes** of tables and\n", float64(grown)/n)
			p("indexes. 1M such sessions, extrapolated linearly from these %d: **%.0f MiB**\n", pop.Sessions, float64(grown)/n*1e6/(1<<20))
			p("(before vacuum and bloat from updates; products, users and orders aside).\n")
		}
	}

	p("\n### The cart view's cost by cart size\n\n")
	p("New guests each fill a cart with N lines (not timed), then loop over\n")
	p("`GET /cart` as JSON (bench/bench.sh adds products to the catalog first,\n")
	p("restarting every run, so that 99 lines exist):\n\n")
	p("| run | lines | req/s | p50 ms | p99 ms | CPU µs / req |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	any := false
	for _, l := range runLabels {
		r := results[l]
		if r == nil {
			continue
		}
		var first *Phase
		for _, ph := range r.Phases {
			if ph.Lines == 0 {
				continue
			}
			any = true
			growth := ""
			if first == nil {
				first = ph
			} else if first.CPUMicros > 0 && ph.CPUMicros > 0 {
				growth = fmt.Sprintf(" (×%.1f)", ph.CPUMicros/first.CPUMicros)
			}
			p("| %s | %d | %.0f | %.2f | %.2f | %s%s |\n", l, ph.Lines, ph.RPS, ph.P50, ph.P99, num(ph.CPUMicros, "%.0f"), growth)
		}
	}
	if !any {
		p("| (not measured in this run) | | | | | |\n")
	}
}

func sortedKinds(m map[string]*KeySizes) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedTables(m map[string]*TableSize) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
