// Package metrics holds the shop's Prometheus metrics: one registry per
// process, built by New and passed down (no package-level collectors), with
// hooks for each part of the shop: HTTP requests, session and cart store
// operations, session events, database queries, cleanup passes and login
// throttling. Every label has a bounded set of values (route patterns,
// store and operation names), never a raw path or an id.
//
// The package is a leaf: its hooks take plain values (an operation name, a
// duration, an error, an event name), and the composition root adapts each
// part's own observer types to them, so that the parts do not depend on
// metrics nor metrics on them.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the shop's metrics registry and its collectors.
type Metrics struct {
	// Registry holds every collector below plus the Go runtime and process
	// collectors; Handler serves it.
	Registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge

	storeOps      *prometheus.CounterVec
	storeErrors   *prometheus.CounterVec
	storeDuration *prometheus.HistogramVec

	sessionEvents *prometheus.CounterVec

	dbQueries  *prometheus.CounterVec
	dbErrors   *prometheus.CounterVec
	dbDuration *prometheus.HistogramVec

	cleanupPasses  *prometheus.CounterVec
	cleanupRemoved *prometheus.CounterVec

	throttleEvents *prometheus.CounterVec
}

// Store kinds in the "kind" label of the store metrics.
const (
	KindSession = "session"
	KindCart    = "cart"
)

// storeBuckets cover a loopback round trip (~50µs) up to a slow store (1s).
var storeBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}

// New returns a registry with every collector of the shop registered.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shop_http_request_duration_seconds",
			Help:    "Time from receiving a request to its response, by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}, []string{"route", "method", "status"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		storeOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_store_operations_total",
			Help: "Session and cart store operations (each one round trip), by kind (session, cart), store and operation.",
		}, []string{"kind", "store", "op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_store_errors_total",
			Help: "Session and cart store operations that failed, by kind, store and operation.",
		}, []string{"kind", "store", "op"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shop_store_operation_duration_seconds",
			Help:    "Latency of session and cart store operations, by kind, store and operation.",
			Buckets: storeBuckets,
		}, []string{"kind", "store", "op"}),
		sessionEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_sessions_total",
			Help: "Session events: created, renewed (new token), destroyed (logout), revoked.",
		}, []string{"event"}),
		dbQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_db_queries_total",
			Help: "PostgreSQL statements, by statement kind and main table (for example \"select products\").",
		}, []string{"query"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_db_query_errors_total",
			Help: "PostgreSQL statements that failed, by statement kind and main table.",
		}, []string{"query"}),
		dbDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shop_db_query_duration_seconds",
			Help:    "Latency of PostgreSQL statements, by statement kind and main table.",
			Buckets: storeBuckets,
		}, []string{"query"}),
		cleanupPasses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_cleanup_passes_total",
			Help: "Cleanup passes: ran, or skipped because another replica held the lock.",
		}, []string{"result"}),
		cleanupRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_cleanup_removed_total",
			Help: "Rows and entries removed by cleanup passes, by what they were.",
		}, []string{"what"}),
		throttleEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_login_throttle_events_total",
			Help: "Login throttling: failures counted, logins refused, successes (which give back their own slot), device-cookie attempts, password hashing refused per address.",
		}, []string{"event"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.httpInFlight,
		m.storeOps, m.storeErrors, m.storeDuration,
		m.sessionEvents,
		m.dbQueries, m.dbErrors, m.dbDuration,
		m.cleanupPasses, m.cleanupRemoved,
		m.throttleEvents,
	)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// statusText avoids strconv for the statuses the shop answers most.
func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 303:
		return "303"
	case 404:
		return "404"
	}
	return strconv.Itoa(code)
}

// HTTPStarted counts a request in flight; HTTPDone must follow.
func (m *Metrics) HTTPStarted() { m.httpInFlight.Inc() }

// HTTPDone records a finished request. route is the matched route pattern
// ("/products/:id"), never the raw path.
func (m *Metrics) HTTPDone(route, method string, status int, took time.Duration) {
	m.httpInFlight.Dec()
	s := statusText(status)
	m.httpRequests.WithLabelValues(route, method, s).Inc()
	m.httpDuration.WithLabelValues(route, method, s).Observe(took.Seconds())
}

// StoreObserver returns the hook for the operations of one kind of store
// (KindSession, KindCart) of one store ("redis", "postgres", "memory"): it
// counts and times each operation under its name and counts it as an error
// when err is set. The label sets are resolved once here, not on every
// call.
func (m *Metrics) StoreObserver(kind, store string) func(op string, took time.Duration, err error) {
	ops := m.storeOps.MustCurryWith(prometheus.Labels{"kind": kind, "store": store})
	errs := m.storeErrors.MustCurryWith(prometheus.Labels{"kind": kind, "store": store})
	dur := m.storeDuration.MustCurryWith(prometheus.Labels{"kind": kind, "store": store})
	return func(op string, took time.Duration, err error) {
		ops.WithLabelValues(op).Inc()
		dur.WithLabelValues(op).Observe(took.Seconds())
		if err != nil {
			errs.WithLabelValues(op).Inc()
		}
	}
}

// SessionEvent counts a session event: created, renewed, destroyed or
// revoked.
func (m *Metrics) SessionEvent(event string) { m.sessionEvents.WithLabelValues(event).Inc() }

// CleanupPass counts a cleanup pass that ran, or one that was skipped
// because another replica held the lock.
func (m *Metrics) CleanupPass(ran bool) {
	result := "skipped"
	if ran {
		result = "ran"
	}
	m.cleanupPasses.WithLabelValues(result).Inc()
}

// CleanupRemoved counts n items of one kind ("sessions", "guest_carts")
// that a cleanup pass removed.
func (m *Metrics) CleanupRemoved(what string, n int64) {
	m.cleanupRemoved.WithLabelValues(what).Add(float64(n))
}

// ThrottleEvent counts a throttling event (internal/throttle's Event
// values): a failure counted, an attempt refused, a success, an attempt
// counted against a device cookie, password hashing refused.
func (m *Metrics) ThrottleEvent(event string) { m.throttleEvents.WithLabelValues(event).Inc() }
