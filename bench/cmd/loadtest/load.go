package main

import (
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
	"time"

	"github.com/the-shop/shop/internal/shopclient"
)

// The routes the shoppers drive. The shop and the floor answer them alike.
const (
	routeAdd      = iota // POST /cart/items (JSON)
	routeCart            // GET /cart (JSON)
	routeSet             // POST /cart/items/:product_id (JSON)
	routeCartPage        // GET /cart (page)
	routeCatalog         // GET / (page)
	numRoutes
)

var routeNames = [numRoutes]string{"POST /cart/items", "GET /cart", "POST /cart/items/:product_id", "GET /cart (page)", "GET / (page)"}

// mixProducts is how many products the JSON mix adds: the 14 the catalog
// is seeded with, whatever else a bench run added for the cart sizes.
const mixProducts = 14

// Scenarios, the phases of a run, one after the other:
//
//	json    guest shoppers loop: add an item (POST /cart/items), then view
//	        the cart (GET /cart), both as JSON; every cart is checked at the end
//	html    the same shoppers loop over the cart page and the catalog page;
//	        it changes nothing, so it also counts writes per unchanged view
//	cartN   new guests each fill a cart with N lines (not timed), then loop
//	        over GET /cart as JSON: how a view's cost grows with its cart
const (
	scenarioJSON = "json"
	scenarioHTML = "html"
)

// phaseSpec is one scenario of a run and how long it is measured.
type phaseSpec struct {
	Name     string
	Lines    int // cartN: N
	Duration time.Duration
}

// parsePhases reads "json=12s,html=8s,cart99=3s".
func parsePhases(s string) ([]phaseSpec, error) {
	var out []phaseSpec
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		name, dur, ok := strings.Cut(f, "=")
		d, err := time.ParseDuration(dur)
		if !ok || err != nil || d <= 0 {
			return nil, fmt.Errorf("phase %q: want NAME=DURATION, such as json=12s", f)
		}
		p := phaseSpec{Name: name, Duration: d}
		switch {
		case name == scenarioJSON || name == scenarioHTML:
		case strings.HasPrefix(name, "cart"):
			n, err := strconv.Atoi(strings.TrimPrefix(name, "cart"))
			if err != nil || n < 1 || n > 999 {
				return nil, fmt.Errorf("phase %q: cartN takes N from 1 to 999", f)
			}
			p.Lines = n
		default:
			return nil, fmt.Errorf("phase %q: the scenarios are json, html and cartN", f)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no phases")
	}
	return out, nil
}

// Result is what one run measured, phase by phase.
type Result struct {
	Label    string   `json:"label"`
	Target   string   `json:"target"`
	Store    string   `json:"store"`
	Shoppers int      `json:"shoppers"`
	Phases   []*Phase `json:"phases"`
	// Lost counts cart items the server acknowledged in the json phase
	// that the cart lacked at the end; Extra, units beyond them.
	Lost         int `json:"lost_items"`
	Extra        int `json:"extra_items"`
	CartsChecked int `json:"carts_checked"`
	Acknowledged int `json:"acknowledged_adds"`
}

// Phase is one scenario's measurements.
type Phase struct {
	Scenario string  `json:"scenario"`
	Lines    int     `json:"lines,omitempty"`
	Seconds  float64 `json:"seconds"`
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	Errors   int64   `json:"errors"`
	// ErrorSamples are the first few failures, for the reader.
	ErrorSamples []string     `json:"error_samples,omitempty"`
	Routes       []RouteStats `json:"routes"`
	// Replicas: CPU time from each replica's process_cpu_seconds_total
	// over the measured window, and the requests it served in it (by its
	// X-Served-By answers).
	Replicas []ReplicaCPU `json:"replicas,omitempty"`
	// CPUMicros is the replicas' CPU time per request they served (µs).
	CPUMicros float64 `json:"cpu_us_per_request,omitempty"`
	// NginxCPU is nginx's CPU time in the window (seconds), from /proc.
	NginxCPU float64 `json:"nginx_cpu_seconds,omitempty"`
	// Metrics: what the replicas counted in the window (the shop's own
	// counters; nil for the floor, which has none).
	Metrics *MetricsDelta `json:"metrics,omitempty"`
	// Sent is every request of the phase, warm-up included.
	Sent int64 `json:"sent"`
	// Writes: what the stores counted over a read-only block of phases
	// ending with this one, when they were given.
	Writes *Writes `json:"writes,omitempty"`
}

// RouteStats is one route's share of a phase.
type RouteStats struct {
	Route    string  `json:"route"`
	Requests int64   `json:"requests"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Errors   int64   `json:"errors"`
}

// ReplicaCPU is one replica's share of a phase.
type ReplicaCPU struct {
	Name       string  `json:"name"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Requests   int64   `json:"requests"`
	Micros     float64 `json:"cpu_us_per_request"`
}

// Writes are the stores' own write counters over the read-only phases
// they name (consecutive cart phases are counted together: PostgreSQL's
// statistics need a quiet pause before and after to be complete).
type Writes struct {
	// Phases are the phases counted, such as "cart1+cart10+cart99".
	Phases string `json:"phases"`
	// Sent is every request of those phases, warm-ups included.
	Sent int64 `json:"sent"`
	// Redis: INFO persistence rdb_changes_since_last_save (writes, also
	// those inside scripts); -1 when not read.
	Redis int64 `json:"redis_changes"`
	// PostgreSQL: pg_stat_database tup_inserted + tup_updated +
	// tup_deleted of the shop's database; -1 when not read.
	Postgres int64 `json:"postgres_tuple_writes"`
}

type loadConfig struct {
	url, target, label, out, store string
	redisURL, dbURL                string
	admins                         []string
	nginxPIDs                      []int
	shoppers                       int
	phases                         []phaseSpec
	warmup                         time.Duration
}

func runLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c loadConfig
	var admin, phases string
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "nginx in front of the shop or the floor")
	fs.StringVar(&c.target, "target", "shop", "shop or floor (for the report)")
	fs.StringVar(&c.store, "store", "", "the session store, for the report")
	fs.IntVar(&c.shoppers, "shoppers", 32, "simulated shoppers, each with its own cookie jar, one request at a time")
	fs.StringVar(&phases, "phases", "json=12s,html=8s", "scenarios and their measured time, in order: json, html, cartN (N lines)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "time before measuring each phase")
	fs.StringVar(&admin, "admin", "", "comma-separated admin URLs of replicas 1, 2, … (their /metrics: CPU time, store operations)")
	fs.StringVar(&c.redisURL, "redis-url", "", "Redis to read write counts from (INFO persistence); best a private one")
	fs.StringVar(&c.dbURL, "db-url", "", "PostgreSQL database to read write counts from (pg_stat_database)")
	fs.StringVar(&c.label, "label", "", "name of this run in the report (default: the target)")
	nginxPIDs := fs.String("nginx-pids", "", "comma-separated pids of nginx's processes, to measure their CPU time (Linux)")
	fs.StringVar(&c.out, "out", "", "write the result as JSON here (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.shoppers < 1 {
		return errors.New("-shoppers must be positive")
	}
	var err error
	if c.phases, err = parsePhases(phases); err != nil {
		return err
	}
	for _, a := range strings.Split(admin, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.admins = append(c.admins, strings.TrimSuffix(a, "/"))
		}
	}
	if c.label == "" {
		c.label = c.target
	}
	if c.nginxPIDs, err = parsePIDs(*nginxPIDs); err != nil {
		return err
	}
	res, err := load(ctx, c)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if c.out == "" {
		_, err = os.Stdout.Write(append(b, '\n'))
		return err
	}
	return os.WriteFile(c.out, append(b, '\n'), 0o644)
}

// shopper is one simulated guest: its own cookie jar and CSRF token (from
// the first page it loads), on the load test's shared transport.
type shopper struct {
	c   *shopclient.Client
	rng *mrand.Rand
	// want is what the cart must hold: product id → acknowledged quantity;
	// unsure marks lines whose last change got no answer (it may or may
	// not have been applied), which the final check skips.
	want   map[int64]int
	unsure map[int64]bool
	acked  int
	rec    *shopperRec
	// turn alternates the two requests of a loop.
	turn int
}

// shopperRec is what one shopper saw in one phase.
type shopperRec struct {
	samples  [numRoutes][]int32 // latencies (µs) of requests in the window
	errs     [numRoutes]int64
	servedBy map[string]int64 // replica → requests in the window
	sent     int64            // all requests of the phase
}

// window decides which requests count: those that start in it.
type window struct {
	from, to time.Time
	mu       sync.Mutex
	samples  []string
}

func (w *window) counts(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

func (w *window) failure(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples) < 5 {
		w.samples = append(w.samples, msg)
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

// loader runs the phases of one run.
type loader struct {
	c        loadConfig
	tr       *http.Transport
	products []int64 // the catalog's ids, in order
	// lineMax is the most a line may hold in the mix: under the cap of 99
	// and under the product's stock, which the shop holds an add to (the
	// floor does not, and the same limit keeps the two loads alike).
	lineMax  map[int64]int
	counters *storeCounters
}

func load(ctx context.Context, c loadConfig) (*Result, error) {
	l := &loader{c: c, tr: newTransport(c.shoppers)}
	defer l.tr.CloseIdleConnections()
	var err error
	if l.counters, err = openCounters(ctx, c.redisURL, c.dbURL); err != nil {
		return nil, err
	}
	defer l.counters.Close()
	if l.products, l.lineMax, err = catalogIDs(ctx, c.url, l.tr); err != nil {
		return nil, err
	}
	res := &Result{Label: c.label, Target: c.target, Store: c.store, Shoppers: c.shoppers}
	// Every cart phase's guests fill their carts first, so that the cart
	// phases run back to back, one read-only block between two counts.
	carts := map[int][]*shopper{}
	for i, spec := range c.phases {
		if spec.Lines == 0 {
			continue
		}
		if spec.Lines > len(l.products) {
			return nil, fmt.Errorf("phase %s: the catalog has %d products, not %d", spec.Name, len(l.products), spec.Lines)
		}
		if carts[i], err = l.newShoppers(ctx, i, spec.Lines); err != nil {
			return nil, fmt.Errorf("phase %s: %w", spec.Name, err)
		}
	}
	var guests []*shopper // the json phase's, which html reuses
	var block *Writes     // the counts at the start of the read-only block
	var blockPhases []*Phase
	for i, spec := range c.phases {
		shoppers := carts[i]
		if shoppers == nil && guests == nil {
			if guests, err = l.newShoppers(ctx, i, 0); err != nil {
				return nil, fmt.Errorf("phase %s: %w", spec.Name, err)
			}
		}
		if shoppers == nil {
			shoppers = guests
		}
		readOnly := spec.Name != scenarioJSON
		if readOnly && block == nil {
			if block, err = l.counters.read(ctx); err != nil {
				return nil, err
			}
		}
		p, err := l.phase(ctx, spec, shoppers)
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", spec.Name, err)
		}
		res.Phases = append(res.Phases, p)
		fmt.Fprintf(os.Stderr, "%s %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors, %.0f µs CPU / request\n",
			c.label, p.name(), p.RPS, p.P50, p.P99, p.Errors, p.CPUMicros)
		if readOnly {
			blockPhases = append(blockPhases, p)
		}
		// A block ends before a phase that is not a cart phase like it.
		last := i == len(c.phases)-1 || c.phases[i+1].Lines == 0 || spec.Lines == 0
		if block != nil && last {
			end, err := l.counters.read(ctx)
			if err != nil {
				return nil, err
			}
			if end != nil {
				w := &Writes{Redis: diff(block.Redis, end.Redis), Postgres: diff(block.Postgres, end.Postgres)}
				var names []string
				for _, bp := range blockPhases {
					names = append(names, bp.Scenario)
					w.Sent += bp.Sent
				}
				w.Phases = strings.Join(names, "+")
				blockPhases[len(blockPhases)-1].Writes = w
				fmt.Fprintf(os.Stderr, "%s %s: writes: redis %d, postgres %d over %d requests\n", c.label, w.Phases, w.Redis, w.Postgres, w.Sent)
			}
			block, blockPhases = nil, nil
		}
		if spec.Name == scenarioJSON {
			// Every shopper compares its cart with what was acknowledged.
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
		}
	}
	return res, nil
}

func (p *Phase) name() string { return p.Scenario }

// catalogIDs reads the product ids from GET / as JSON, and the most a
// line of each may hold in the mix (see loader.lineMax).
func catalogIDs(ctx context.Context, base string, tr http.RoundTripper) ([]int64, map[int64]int, error) {
	var cat struct {
		Products []struct {
			ID    int64 `json:"id,string"`
			Stock *int  `json:"stock"`
		} `json:"products"`
	}
	c := shopclient.New(base, shopclient.Options{Transport: tr, NoCookies: true})
	if _, err := c.GetJSON(ctx, "/", &cat); err != nil {
		return nil, nil, fmt.Errorf("read the catalog: %w", err)
	}
	ids := make([]int64, 0, len(cat.Products))
	lineMax := map[int64]int{}
	for _, p := range cat.Products {
		ids = append(ids, p.ID)
		lineMax[p.ID] = 95
		if p.Stock != nil && *p.Stock-1 < lineMax[p.ID] {
			lineMax[p.ID] = max(*p.Stock-1, 1)
		}
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return nil, nil, errors.New("the catalog is empty")
	}
	return ids, lineMax, nil
}

// newShoppers makes the phase's guests: each loads the catalog page (its
// session cookie and CSRF token) and, for a cart phase, adds one of each
// of the first lines products. None of it is timed.
func (l *loader) newShoppers(ctx context.Context, phase, lines int) ([]*shopper, error) {
	shoppers := make([]*shopper, l.c.shoppers)
	errc := make(chan error, len(shoppers))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range shoppers {
		s := &shopper{
			c:    shopclient.New(l.c.url, shopclient.Options{Transport: l.tr, Timeout: 30 * time.Second}),
			rng:  mrand.New(mrand.NewPCG(uint64(phase), uint64(i)^uint64(time.Now().UnixNano()))),
			want: map[int64]int{}, unsure: map[int64]bool{},
		}
		shoppers[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := s.c.Token(ctx); err != nil {
				errc <- fmt.Errorf("shopper %d: %w", i, err)
				return
			}
			for _, pid := range l.products[:lines] {
				if _, err := s.send(ctx, http.MethodPost, "/cart/items", addForm(pid)); err != nil {
					errc <- fmt.Errorf("shopper %d: fill the cart: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return shoppers, <-errc
}

func addForm(pid int64) url.Values {
	return url.Values{"product_id": {strconv.FormatInt(pid, 10)}, "quantity": {"1"}, "idempotency_key": {randomHex(12)}}
}

// phase runs one scenario: warm-up, the measured window, and the counters
// read around them.
func (l *loader) phase(ctx context.Context, spec phaseSpec, shoppers []*shopper) (*Phase, error) {
	start := time.Now()
	win := &window{from: start.Add(l.c.warmup), to: start.Add(l.c.warmup + spec.Duration)}
	var before, after map[string]float64
	var scrapeErr error
	var nginxBefore, nginxAfter float64
	scrapeDone := make(chan struct{})
	go func() {
		defer close(scrapeDone)
		time.Sleep(time.Until(win.from))
		nginxBefore = cpuSeconds(l.c.nginxPIDs)
		if before, scrapeErr = scrapeAll(ctx, l.c.admins); scrapeErr != nil {
			return
		}
		time.Sleep(time.Until(win.to))
		nginxAfter = cpuSeconds(l.c.nginxPIDs)
		after, scrapeErr = scrapeAll(ctx, l.c.admins)
	}()
	var wg sync.WaitGroup
	for _, s := range shoppers {
		s.rec = &shopperRec{servedBy: map[string]int64{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(win.to) {
				s.step(ctx, win, spec, l.products, l.lineMax)
			}
		}()
	}
	wg.Wait()
	<-scrapeDone
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if scrapeErr != nil {
		return nil, fmt.Errorf("scrape metrics: %w", scrapeErr)
	}
	p := &Phase{Scenario: spec.Name, Lines: spec.Lines, Seconds: spec.Duration.Seconds(), NginxCPU: nginxAfter - nginxBefore}
	var all []int32
	servedBy := map[string]int64{}
	for r := range numRoutes {
		var rs []int32
		var errs int64
		for _, s := range shoppers {
			rs = append(rs, s.rec.samples[r]...)
			errs += s.rec.errs[r]
		}
		p.Errors += errs
		if len(rs) == 0 && errs == 0 {
			continue
		}
		slices.Sort(rs)
		all = append(all, rs...)
		p.Routes = append(p.Routes, RouteStats{Route: routeNames[r], Requests: int64(len(rs)), P50: pct(rs, 50), P99: pct(rs, 99), Errors: errs})
	}
	for _, s := range shoppers {
		p.Sent += s.rec.sent
		for k, v := range s.rec.servedBy {
			servedBy[k] += v
		}
	}
	slices.Sort(all)
	p.Requests = int64(len(all))
	p.RPS = float64(len(all)) / spec.Duration.Seconds()
	p.P50, p.P95, p.P99 = pct(all, 50), pct(all, 95), pct(all, 99)
	if len(all) > 0 {
		p.Max = float64(all[len(all)-1]) / 1000
	}
	p.ErrorSamples = win.samples
	if before != nil && after != nil {
		p.Metrics = delta(before, after)
		if p.Metrics.HTTPRequests == 0 && p.Metrics.StoreOps == 0 && p.Metrics.DBQueries == 0 {
			p.Metrics = nil
		}
		var cpu float64
		var reqs int64
		for i := range l.c.admins {
			// Replica N of scripts/shop.sh answers as shop-N, the floor too.
			name := fmt.Sprintf("shop-%d", i+1)
			sec := after[cpuKey(i)] - before[cpuKey(i)]
			rc := ReplicaCPU{Name: name, CPUSeconds: sec, Requests: servedBy[name]}
			if rc.Requests > 0 {
				rc.Micros = sec * 1e6 / float64(rc.Requests)
			}
			p.Replicas = append(p.Replicas, rc)
			cpu += sec
			reqs += rc.Requests
		}
		if reqs > 0 {
			p.CPUMicros = cpu * 1e6 / float64(reqs)
		}
	}
	return p, nil
}

func diff(a, b int64) int64 {
	if a < 0 || b < 0 {
		return -1
	}
	return b - a
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// send sends one request: a form as JSON (with the CSRF token) for POSTs,
// GET as JSON or, for page, as a browser; anything but 200 is an error.
func (s *shopper) send(ctx context.Context, method, path string, form url.Values) (shopclient.Response, error) {
	var r shopclient.Response
	var err error
	if method == http.MethodGet {
		r, err = s.c.GetJSON(ctx, path, nil)
	} else {
		r, err = s.c.PostForm(ctx, path, form)
	}
	if err == nil {
		err = r.Expect(http.StatusOK)
	}
	return r, err
}

func (s *shopper) page(ctx context.Context, path string) (shopclient.Response, error) {
	r, err := s.c.Page(ctx, path)
	if err == nil {
		err = r.Expect(http.StatusOK)
	}
	return r, err
}

// timed sends a request and records it when it started in the window.
func (s *shopper) timed(ctx context.Context, win *window, route int, path string, form url.Values) bool {
	t := time.Now()
	var r shopclient.Response
	var err error
	switch route {
	case routeCartPage, routeCatalog:
		r, err = s.page(ctx, path)
	case routeCart:
		r, err = s.send(ctx, http.MethodGet, path, nil)
	default:
		r, err = s.send(ctx, http.MethodPost, path, form)
	}
	took := time.Since(t)
	s.rec.sent++
	if win.counts(t) {
		s.rec.samples[route] = append(s.rec.samples[route], int32(min(took.Microseconds(), 1<<31-1)))
		if err != nil {
			s.rec.errs[route]++
		} else if r.Response != nil {
			s.rec.servedBy[r.ServedBy()]++
		}
	}
	if err != nil && ctx.Err() == nil {
		win.failure(err.Error())
	}
	return err == nil
}

// step is one request of the phase's loop.
func (s *shopper) step(ctx context.Context, win *window, spec phaseSpec, products []int64, lineMax map[int64]int) {
	s.turn++
	switch {
	case spec.Lines > 0:
		s.timed(ctx, win, routeCart, "/cart", nil)
	case spec.Name == scenarioHTML:
		if s.turn%2 == 0 {
			s.timed(ctx, win, routeCartPage, "/cart", nil)
		} else {
			s.timed(ctx, win, routeCatalog, "/", nil)
		}
	default:
		if s.turn%2 == 0 {
			s.timed(ctx, win, routeCart, "/cart", nil)
			return
		}
		pid := products[s.rng.IntN(min(mixProducts, len(products)))]
		if s.want[pid] >= lineMax[pid] {
			// Keep lines under the cap of 99 and the stock, or an add
			// held to either would count as lost.
			s.set(ctx, win, pid, 1)
			return
		}
		s.add(ctx, win, pid)
	}
}

// add adds one unit; a failure is retried with the same idempotency key,
// so an add applies once however often it is sent (on the shop: the
// floor keeps no keys).
func (s *shopper) add(ctx context.Context, win *window, pid int64) {
	form := addForm(pid)
	for range 3 {
		if ok := s.timed(ctx, win, routeAdd, "/cart/items", form); ok {
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
func (s *shopper) set(ctx context.Context, win *window, pid int64, qty int) {
	form := url.Values{"quantity": {strconv.Itoa(qty)}}
	for range 3 {
		if ok := s.timed(ctx, win, routeSet, "/cart/items/"+strconv.FormatInt(pid, 10), form); ok {
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

// check compares the cart with what the server acknowledged.
func (s *shopper) check(ctx context.Context) (lost, extra int, err error) {
	v, _, err := s.c.Cart(ctx)
	if err != nil {
		return 0, 0, err
	}
	got := map[int64]int{}
	for pid, n := range v.Quantities() {
		id, _ := strconv.ParseInt(pid, 10, 64)
		got[id] = n
	}
	for pid, n := range s.want {
		if s.unsure[pid] {
			continue
		}
		if d := n - got[pid]; d > 0 {
			lost += d
		}
	}
	for pid, n := range got {
		if s.unsure[pid] {
			continue
		}
		if d := n - s.want[pid]; d > 0 {
			extra += d
		}
	}
	return lost, extra, nil
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
// are gone, or off Linux). Only nginx is measured so: the replicas report
// their own process_cpu_seconds_total.
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
