package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/the-shop/shop/internal/shopclient"
)

// The routes the shoppers drive, all as JSON clients (Accept:
// application/json), which the shop and the floor answer alike.
const (
	routeCatalog = iota // GET /
	routeCart           // GET /cart
	routeAdd            // POST /cart/items
	routeSet            // POST /cart/items/:product_id
	numRoutes
)

var routeNames = [numRoutes]string{"GET /", "GET /cart", "POST /cart/items", "POST /cart/items/:product_id"}

// products are the catalog's ids (the 14 seeded products).
const products = 14

// Result is what one run measured; report turns results into tables.
type Result struct {
	Label    string  `json:"label"`
	Target   string  `json:"target"`
	Store    string  `json:"store"`
	Shoppers int     `json:"shoppers"`
	Seconds  float64 `json:"seconds"`
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	Errors   int64   `json:"errors"`
	// ErrorSamples are the first few failures, for the reader.
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Lost counts cart items the shop acknowledged that the cart lacked at
	// the end; Extra, units the cart held beyond what was acknowledged.
	Lost         int          `json:"lost_items"`
	Extra        int          `json:"extra_items"`
	CartsChecked int          `json:"carts_checked"`
	Acknowledged int          `json:"acknowledged_adds"`
	Routes       []RouteStats `json:"routes"`
	// From the replicas' /metrics, per request served in the window.
	Metrics *MetricsDelta `json:"metrics,omitempty"`
	// CPU time the replicas and nginx used in the window (seconds), from
	// /proc, when their pids were given.
	ReplicaCPU float64 `json:"replica_cpu_seconds,omitempty"`
	NginxCPU   float64 `json:"nginx_cpu_seconds,omitempty"`
}

// RouteStats is one route's share of a run.
type RouteStats struct {
	Route    string  `json:"route"`
	Requests int64   `json:"requests"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Errors   int64   `json:"errors"`
}

// MetricsDelta is what the replicas counted during the measured window.
type MetricsDelta struct {
	HTTPRequests   float64            `json:"http_requests"`
	StoreOps       float64            `json:"store_ops"`
	SessionWrites  float64            `json:"session_writes"`
	DBQueries      float64            `json:"db_queries"`
	OpsPerRequest  float64            `json:"store_ops_per_request"`
	WritesPerReq   float64            `json:"session_writes_per_request"`
	QueriesPerReq  float64            `json:"db_queries_per_request"`
	OpsByName      map[string]float64 `json:"store_ops_by_name"`
	QueriesByName  map[string]float64 `json:"db_queries_by_name"`
	RequestsByName map[string]float64 `json:"http_requests_by_route"`
}

type loadConfig struct {
	url, target, label, out, store string
	admins                         []string
	replicaPIDs, nginxPIDs         []int
	shoppers                       int
	duration, warmup               time.Duration
}

func runLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c loadConfig
	var admin string
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "nginx in front of the shop or the floor")
	fs.StringVar(&c.target, "target", "shop", "shop (signs up through the form, sends CSRF tokens) or floor")
	fs.StringVar(&c.store, "store", "", "the session store, for the report")
	fs.IntVar(&c.shoppers, "shoppers", 32, "simulated shoppers, each with its own cookie jar, one request at a time")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "time before measuring (connections, caches, JIT of Lua scripts)")
	fs.StringVar(&admin, "admin", "", "comma-separated admin URLs of the replicas (http://127.0.0.1:19001,...) to count store round trips")
	fs.StringVar(&c.label, "label", "", "name of this run in the report")
	replicaPIDs := fs.String("replica-pids", "", "comma-separated pids of the replicas, to measure their CPU time (Linux)")
	nginxPIDs := fs.String("nginx-pids", "", "comma-separated pids of nginx's processes, to measure their CPU time (Linux)")
	fs.StringVar(&c.out, "out", "", "write the result as JSON here (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.target != "shop" && c.target != "floor" {
		return fmt.Errorf("-target must be shop or floor, not %q", c.target)
	}
	if c.shoppers < 1 || c.duration <= 0 {
		return errors.New("-shoppers and -duration must be positive")
	}
	for _, a := range strings.Split(admin, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.admins = append(c.admins, strings.TrimSuffix(a, "/"))
		}
	}
	if c.label == "" {
		c.label = c.target
	}
	var err error
	if c.replicaPIDs, err = parsePIDs(*replicaPIDs); err != nil {
		return err
	}
	if c.nginxPIDs, err = parsePIDs(*nginxPIDs); err != nil {
		return err
	}
	res, err := load(ctx, c)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintf(os.Stderr, "%s: %.0f req/s, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, %d errors, %d lost items (%d carts checked)\n",
		res.Label, res.RPS, res.P50, res.P95, res.P99, res.Errors, res.Lost, res.CartsChecked)
	if res.Metrics != nil {
		fmt.Fprintf(os.Stderr, "%s: %.2f store round trips, %.3f session writes, %.2f database queries per request\n",
			res.Label, res.Metrics.OpsPerRequest, res.Metrics.WritesPerReq, res.Metrics.QueriesPerReq)
	}
	if c.out == "" {
		_, err = os.Stdout.Write(append(b, '\n'))
		return err
	}
	return os.WriteFile(c.out, append(b, '\n'), 0o644)
}

// shopper is one simulated customer: the shop's scripted client (its own
// cookie jar and CSRF token, on the load test's shared transport).
type shopper struct {
	c   *shopclient.Client
	rng *mrand.Rand
	// want is what the cart must hold: product id → acknowledged quantity;
	// unsure marks lines whose last change got no answer (it may or may
	// not have been applied), which the final check skips.
	want   map[int]int
	unsure map[int]bool
	acked  int
	// limit is the most a line can hold: what is in stock, at most 99
	// (the shop caps an add there).
	limit map[int]int
	// samples are latencies (µs) per route of requests in the window.
	samples [numRoutes][]int32
	errs    [numRoutes]int64
}

// recorder decides which requests count: those that start in the window.
type recorder struct {
	from, to time.Time
	errs     atomic.Int64
	mu       sync.Mutex
	samples  []string
}

func (r *recorder) counts(t time.Time) bool { return !t.Before(r.from) && t.Before(r.to) }

func (r *recorder) failure(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) < 5 {
		r.samples = append(r.samples, msg)
	}
}

func newTransport(shoppers int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        shoppers * 2,
		MaxIdleConnsPerHost: shoppers * 2,
		IdleConnTimeout:     60 * time.Second,
	}
}

func load(ctx context.Context, c loadConfig) (*Result, error) {
	tr := newTransport(c.shoppers)
	defer tr.CloseIdleConnections()
	shoppers := make([]*shopper, c.shoppers)
	// Sign everyone up first (not timed), a few at a time.
	sem := make(chan struct{}, 8)
	errc := make(chan error, c.shoppers)
	var wg sync.WaitGroup
	for i := range shoppers {
		s := &shopper{
			c:    shopclient.New(c.url, shopclient.Options{Transport: tr, Timeout: 30 * time.Second}),
			rng:  mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))),
			want: map[int]int{}, unsure: map[int]bool{},
		}
		shoppers[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := s.signUp(ctx, c.target, i); err != nil {
				errc <- fmt.Errorf("shopper %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	limit, err := lineLimits(ctx, shoppers[0].c)
	if err != nil {
		return nil, err
	}
	for _, s := range shoppers {
		s.limit = limit
	}

	start := time.Now()
	rec := &recorder{from: start.Add(c.warmup), to: start.Add(c.warmup + c.duration)}
	var before, after map[string]float64
	var scrapeErr error
	scrapeDone := make(chan struct{})
	go func() {
		defer close(scrapeDone)
		if len(c.admins) == 0 {
			return
		}
		time.Sleep(time.Until(rec.from))
		if before, scrapeErr = scrapeAll(ctx, c.admins); scrapeErr != nil {
			return
		}
		time.Sleep(time.Until(rec.to))
		after, scrapeErr = scrapeAll(ctx, c.admins)
	}()
	var cpuBefore, cpuAfter [2]float64
	cpuDone := make(chan struct{})
	go func() {
		defer close(cpuDone)
		time.Sleep(time.Until(rec.from))
		cpuBefore = [2]float64{cpuSeconds(c.replicaPIDs), cpuSeconds(c.nginxPIDs)}
		time.Sleep(time.Until(rec.to))
		cpuAfter = [2]float64{cpuSeconds(c.replicaPIDs), cpuSeconds(c.nginxPIDs)}
	}()
	for _, s := range shoppers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(rec.to) {
				s.step(ctx, rec)
			}
		}()
	}
	wg.Wait()
	<-scrapeDone
	<-cpuDone
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	res := &Result{Label: c.label, Target: c.target, Store: c.store, Shoppers: c.shoppers, Seconds: c.duration.Seconds(),
		ReplicaCPU: cpuAfter[0] - cpuBefore[0], NginxCPU: cpuAfter[1] - cpuBefore[1]}
	// Every shopper checks its cart against what the shop acknowledged.
	for i, s := range shoppers {
		lost, extra, err := s.check(ctx)
		if err != nil {
			return nil, fmt.Errorf("check the cart of shopper %d: %w", i, err)
		}
		res.Lost += lost
		res.Extra += extra
		res.CartsChecked++
		res.Acknowledged += s.acked
	}
	var all []int32
	for r := range numRoutes {
		var rs []int32
		var errs int64
		for _, s := range shoppers {
			rs = append(rs, s.samples[r]...)
			errs += s.errs[r]
		}
		slices.Sort(rs)
		all = append(all, rs...)
		res.Routes = append(res.Routes, RouteStats{Route: routeNames[r], Requests: int64(len(rs)), P50: pct(rs, 50), P99: pct(rs, 99), Errors: errs})
		res.Errors += errs
	}
	slices.Sort(all)
	res.Requests = int64(len(all))
	res.RPS = float64(len(all)) / c.duration.Seconds()
	res.P50, res.P95, res.P99 = pct(all, 50), pct(all, 95), pct(all, 99)
	if len(all) > 0 {
		res.Max = float64(all[len(all)-1]) / 1000
	}
	res.ErrorSamples = rec.samples
	if scrapeErr != nil {
		return nil, fmt.Errorf("scrape metrics: %w", scrapeErr)
	}
	if before != nil && after != nil {
		res.Metrics = delta(before, after)
	}
	return res, nil
}

// pct is the p-th percentile of sorted latencies (µs), in milliseconds.
func pct(sorted []int32, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1000
}

// signUp gets the shopper a session: on the shop an account through the
// signup form (its CSRF token taken from a page, as a browser does), on
// the floor a bare session.
func (s *shopper) signUp(ctx context.Context, target string, i int) error {
	if target == "floor" {
		r, err := s.c.PostForm(ctx, "/signup", url.Values{})
		if err == nil {
			err = r.Expect(http.StatusOK)
		}
		return err
	}
	email := fmt.Sprintf("loadtest-%d-%s@example.com", i, randomHex(6))
	_, err := s.c.SignUp(ctx, email, "load test password")
	return err
}

// lineLimits reads the catalog's stock: the most each line can hold is
// what is in stock, at most 99, as the shop caps an add there.
func lineLimits(ctx context.Context, c *shopclient.Client) (map[int]int, error) {
	var catalog struct {
		Products []struct {
			ID    json.Number `json:"id"`
			Stock int         `json:"stock"`
		} `json:"products"`
	}
	if _, err := c.GetJSON(ctx, "/", &catalog); err != nil {
		return nil, fmt.Errorf("read the catalog's stock: %w", err)
	}
	limit := map[int]int{}
	for pid := 1; pid <= products; pid++ {
		limit[pid] = 99
	}
	for _, p := range catalog.Products {
		if id, err := strconv.Atoi(p.ID.String()); err == nil && p.Stock < limit[id] {
			limit[id] = p.Stock
		}
	}
	return limit, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// send sends one JSON request (a form for POSTs, with the CSRF token);
// anything but 200 is an error.
func (s *shopper) send(ctx context.Context, method, path string, form url.Values) (shopclient.Response, error) {
	if method == http.MethodGet {
		return s.c.GetJSON(ctx, path, nil)
	}
	r, err := s.c.PostForm(ctx, path, form)
	if err == nil {
		err = r.Expect(http.StatusOK)
	}
	return r, err
}

// timed sends a request and records it when it started in the window.
func (s *shopper) timed(ctx context.Context, rec *recorder, route int, method, path string, form url.Values) bool {
	t := time.Now()
	_, err := s.send(ctx, method, path, form)
	took := time.Since(t)
	if rec.counts(t) {
		s.samples[route] = append(s.samples[route], int32(min(took.Microseconds(), 1<<31-1)))
		if err != nil {
			s.errs[route]++
		}
	}
	if err != nil && ctx.Err() == nil {
		rec.failure(err.Error())
	}
	return err == nil
}

// step is one thing a shopper does: look at the cart (45%), add an item
// (40%), look at the catalog (10%), set a line's quantity (5%).
func (s *shopper) step(ctx context.Context, rec *recorder) {
	switch n := s.rng.IntN(100); {
	case n < 45:
		s.timed(ctx, rec, routeCart, http.MethodGet, "/cart", nil)
	case n < 85:
		pid := 1 + s.rng.IntN(products)
		if s.limit[pid] < 5 {
			// Too few in stock to add and set without reaching the cap.
			s.timed(ctx, rec, routeCatalog, http.MethodGet, "/", nil)
			return
		}
		if s.want[pid] >= s.limit[pid]-4 {
			// Keep lines under the cap (99, or what is in stock), or lost
			// items would hide.
			s.set(ctx, rec, pid, 1)
			return
		}
		s.add(ctx, rec, pid)
	case n < 95:
		s.timed(ctx, rec, routeCatalog, http.MethodGet, "/", nil)
	default:
		s.set(ctx, rec, 1+s.rng.IntN(products), s.rng.IntN(4))
	}
}

// add adds one unit; a failure is retried with the same idempotency key,
// so an add applies once however often it is sent.
func (s *shopper) add(ctx context.Context, rec *recorder, pid int) {
	form := url.Values{"product_id": {strconv.Itoa(pid)}, "quantity": {"1"}, "idempotency_key": {randomHex(12)}}
	for range 3 {
		if ok := s.timed(ctx, rec, routeAdd, http.MethodPost, "/cart/items", form); ok {
			s.want[pid]++
			s.acked++
			return
		}
		if ctx.Err() != nil {
			break
		}
	}
	s.unsure[pid] = true
}

// set sets a line (0 removes it); setting is idempotent, so it is retried.
func (s *shopper) set(ctx context.Context, rec *recorder, pid, qty int) {
	form := url.Values{"quantity": {strconv.Itoa(qty)}}
	for range 3 {
		if ok := s.timed(ctx, rec, routeSet, http.MethodPost, "/cart/items/"+strconv.Itoa(pid), form); ok {
			s.want[pid] = qty
			delete(s.unsure, pid)
			return
		}
		if ctx.Err() != nil {
			break
		}
	}
	s.unsure[pid] = true
}

// check compares the cart with what the shop acknowledged.
func (s *shopper) check(ctx context.Context) (lost, extra int, err error) {
	v, _, err := s.c.Cart(ctx)
	if err != nil {
		return 0, 0, err
	}
	got := map[int]int{}
	for pid, n := range v.Quantities() {
		id, _ := strconv.Atoi(pid)
		got[id] = n
	}
	for pid := 1; pid <= products; pid++ {
		if s.unsure[pid] {
			continue
		}
		if d := s.want[pid] - got[pid]; d > 0 {
			lost += d
		} else {
			extra -= d
		}
	}
	return lost, extra, nil
}

// scrapeAll sums the counters the load test reads over every replica.
func scrapeAll(ctx context.Context, admins []string) (map[string]float64, error) {
	sum := map[string]float64{}
	for _, a := range admins {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "shop_store_operations_total{") &&
				!strings.HasPrefix(line, "shop_db_queries_total{") &&
				!strings.HasPrefix(line, "shop_http_requests_total{") {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				continue
			}
			sum[line[:i]] += v
		}
		res.Body.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

// label returns a label's value from a series name such as
// shop_store_operations_total{kind="cart",op="add",store="redis"}.
func label(series, name string) string {
	i := strings.Index(series, name+`="`)
	if i < 0 {
		return ""
	}
	rest := series[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}

func delta(before, after map[string]float64) *MetricsDelta {
	d := &MetricsDelta{OpsByName: map[string]float64{}, QueriesByName: map[string]float64{}, RequestsByName: map[string]float64{}}
	for k, v := range after {
		n := v - before[k]
		if n <= 0 {
			continue
		}
		switch {
		case strings.HasPrefix(k, "shop_store_operations_total"):
			name := label(k, "kind") + " " + label(k, "op")
			d.StoreOps += n
			d.OpsByName[name] += n
			if name == "session commit" || name == "session touch" {
				d.SessionWrites += n
			}
		case strings.HasPrefix(k, "shop_db_queries_total"):
			d.DBQueries += n
			d.QueriesByName[label(k, "query")] += n
		case strings.HasPrefix(k, "shop_http_requests_total"):
			d.HTTPRequests += n
			d.RequestsByName[label(k, "method")+" "+label(k, "route")] += n
		}
	}
	if d.HTTPRequests > 0 {
		d.OpsPerRequest = d.StoreOps / d.HTTPRequests
		d.WritesPerReq = d.SessionWrites / d.HTTPRequests
		d.QueriesPerReq = d.DBQueries / d.HTTPRequests
	}
	return d
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad pid %q", f)
		}
		out = append(out, pid)
	}
	return out, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go runs on.
const clockTicks = 100

// cpuSeconds sums user and system CPU time of processes (0 for those that
// are gone, or off Linux).
func cpuSeconds(pids []int) float64 {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name, which may hold spaces and ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		ticks += utime + stime
	}
	return float64(ticks) / clockTicks
}
