package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
)

// MetricsDelta is what the shop's replicas counted during a window.
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

// cpuKey is where scrapeAll keeps replica i's process_cpu_seconds_total.
func cpuKey(i int) string { return "process_cpu_seconds_total#" + strconv.Itoa(i) }

// scrapeAll reads every replica's /metrics: its CPU time under cpuKey(i),
// and the shop's counters summed over the replicas.
func scrapeAll(ctx context.Context, admins []string) (map[string]float64, error) {
	sum := map[string]float64{}
	for i, a := range admins {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := scrape(ctx, a, func(series string, v float64) {
			switch {
			case series == "process_cpu_seconds_total":
				sum[cpuKey(i)] = v
			case strings.HasPrefix(series, "shop_store_operations_total{"),
				strings.HasPrefix(series, "shop_db_queries_total{"),
				strings.HasPrefix(series, "shop_http_requests_total{"):
				sum[series] += v
			}
		})
		cancel()
		if err != nil {
			return nil, err
		}
		if _, ok := sum[cpuKey(i)]; !ok {
			return nil, fmt.Errorf("%s/metrics has no process_cpu_seconds_total", a)
		}
	}
	return sum, nil
}

func scrape(ctx context.Context, admin string, each func(series string, v float64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/metrics: status %d", admin, res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		each(line[:i], v)
	}
	return sc.Err()
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

// storeCounters reads the stores' own write counters: they count writes,
// not commands, so a script that writes is counted however it is called.
type storeCounters struct {
	redis redis.Conn
	db    *pgx.Conn
}

// statsSettle is how long PostgreSQL may hold a backend's statistics
// before pg_stat_database shows them. A backend that goes idle within a
// second of its last flush (PGSTAT_MIN_INTERVAL) waits for its idle
// timeout, PGSTAT_IDLE_INTERVAL (10 s), before it flushes again: under
// load that is every backend, so a count needs 10 s of quiet around it.
const statsSettle = 10500 * time.Millisecond

func openCounters(ctx context.Context, redisURL, dbURL string) (*storeCounters, error) {
	s := &storeCounters{}
	var err error
	if redisURL != "" {
		if s.redis, err = redis.DialURLContext(ctx, redisURL); err != nil {
			return nil, fmt.Errorf("redis for write counts: %w", err)
		}
	}
	if dbURL != "" {
		if s.db, err = pgx.Connect(ctx, dbURL); err != nil {
			s.Close()
			return nil, fmt.Errorf("postgres for write counts: %w", err)
		}
	}
	return s, nil
}

func (s *storeCounters) Close() {
	if s.redis != nil {
		s.redis.Close()
	}
	if s.db != nil {
		s.db.Close(context.Background())
	}
}

// read returns the counters now (nil when neither store was given); -1
// for a store not given. With PostgreSQL it first waits statsSettle for
// the statistics of what was done before, then until two reads agree.
func (s *storeCounters) read(ctx context.Context) (*Writes, error) {
	if s.redis == nil && s.db == nil {
		return nil, nil
	}
	w := &Writes{Redis: -1, Postgres: -1}
	if s.db != nil {
		if err := sleep(ctx, statsSettle); err != nil {
			return nil, err
		}
		last := int64(-1)
		for try := 0; ; try++ {
			err := s.db.QueryRow(ctx, `SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()`).Scan(&w.Postgres)
			if err != nil {
				return nil, fmt.Errorf("pg_stat_database: %w", err)
			}
			if w.Postgres == last || try == 5 {
				break
			}
			last = w.Postgres
			if err := sleep(ctx, 500*time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
	if s.redis != nil {
		info, err := redis.String(redis.DoContext(s.redis, ctx, "INFO", "persistence"))
		if err != nil {
			return nil, fmt.Errorf("redis INFO persistence: %w", err)
		}
		w.Redis = infoInt(info, "rdb_changes_since_last_save")
	}
	return w, nil
}

// infoInt reads one "name:value" line of Redis's INFO (-1: absent).
func infoInt(info, name string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
