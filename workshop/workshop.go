// Package workshop is the hands-on exercise of workshop/README.md: the
// settings of each step, and the checks that drive a running shop through
// nginx as shoppers do and say whether it behaves as the step teaches. The
// command workshop/cmd/workshop runs the checks against `make up`'s shop;
// the tests in workshop/e2e run the same checks against clusters they
// start with each step's settings, so the workshop cannot drift from the
// code. Like all of workshop/, the product never imports it: a fork
// deletes the folder.
package workshop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Setting is one environment variable a step sets for `make up`.
type Setting struct {
	Name, Value string
}

// Step is one exercise.
type Step struct {
	N     int
	Title string
	// settings returns the step's `make up` environment; a function, as
	// step 7 makes a fresh encryption key each time.
	settings func() []Setting
	// Next says what the attendee does once the shop runs.
	Next  string
	check func(ctx context.Context, r *run) error
}

// Settings is the environment `make workshop STEP=n` gives `make up`.
// Every step also turns on the footer that names the replica and store
// of each page, which is what attendees watch: the shop shows it by
// default in development only, so the workshop asks for it.
func (s Step) Settings() []Setting {
	return append(s.settings(), Setting{"SHOW_SERVED_BY", "true"})
}

// Setting returns the value of one of the step's settings ("" if unset).
func (s Step) Setting(name string) string {
	for _, st := range s.Settings() {
		if st.Name == name {
			return st.Value
		}
	}
	return ""
}

func fixed(kv ...string) func() []Setting {
	return func() []Setting {
		var out []Setting
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, Setting{kv[i], kv[i+1]})
		}
		return out
	}
}

// Steps are the workshop's exercises, in order.
var Steps = []Step{
	{
		N: 1, Title: "One replica, sessions in memory: it works",
		settings: fixed("REPLICAS", "1", "SESSION_STORE", "memory", "LB", "rr"),
		Next:     "Open the shop, add something to the cart, sign up. Every page's footer says shop-1 served it.",
		check:    checkOneReplica,
	},
	{
		N: 2, Title: "Three replicas, sessions in memory, round robin: carts vanish",
		settings: fixed("REPLICAS", "3", "SESSION_STORE", "memory", "LB", "rr"),
		Next:     "Add something to the cart, then reload /cart a few times and watch the footer: the cart is there on one replica only.",
		check:    checkMemoryRoundRobin,
	},
	{
		N: 3, Title: "Sticky sessions: it works, until a replica dies, and the load is uneven",
		settings: fixed("REPLICAS", "3", "SESSION_STORE", "memory", "LB", "ip"),
		Next:     "Reload /cart: the same replica every time. Then try `make workshop STEP=3 LB=cookie`.",
		check:    checkSticky,
	},
	{
		N: 4, Title: "Sessions in Redis: kill any replica, nothing is lost",
		settings: fixed("REPLICAS", "3", "SESSION_STORE", "redis", "LB", "rr"),
		Next:     "Fill a cart, then kill the replica the footer names: `kill -9 $(cat .run/pids/shop-2.pid)`. Reload: the cart is still there.",
		check:    checkRedis,
	},
	{
		N: 5, Title: "Sessions in PostgreSQL, with timeouts and the cleanup job",
		settings: fixed("REPLICAS", "3", "SESSION_STORE", "postgres", "LB", "rr",
			"SESSION_IDLE_TIMEOUT", "20s", "SESSION_TOUCH_INTERVAL", "5s", "CLEANUP_INTERVAL", "1m"),
		Next:  "Sign in and wait: a warning comes 10 seconds before the 20 second idle timeout. Look at the sessions table with psql.",
		check: checkPostgres,
	},
	{
		N: 6, Title: "The stateless JWT API",
		settings: fixed("REPLICAS", "3", "SESSION_STORE", "redis", "LB", "rr", "JWT_TTL", "10m"),
		Next:     "Get a token with POST /api/v1/tokens and call GET /api/v1/cart with it (commands in workshop/README.md).",
		check:    checkAPI,
	},
	{
		N: 7, Title: "(stretch) Encryption at rest and key rotation",
		settings: func() []Setting {
			return append(fixed("REPLICAS", "3", "SESSION_STORE", "redis", "LB", "rr")(),
				Setting{"SESSION_ENCRYPTION_KEYS", NewKey()})
		},
		Next:  "Sign in, then look at your session in Redis: `redis-cli --scan --pattern 'shop:session:*'` and GET one.",
		check: checkEncryption,
	},
	{
		N: 8, Title: "The textbook Redis session, measured",
		// The shop's Redis is the step's own (workshop/workshop.sh starts it
		// with save "", so rdb_changes_since_last_save counts every write).
		settings: fixed("REPLICAS", "3", "SESSION_STORE", "redis", "LB", "rr", "REDIS_URL", StepRedisURL),
		Next: "The textbook server runs at http://localhost:" + TextbookPort + " (scs + redisstore, the cart in the session). " +
			"Watch its Redis with `redis-cli -p " + TextbookRedisPort + " monitor` while you reload a page there.",
		check: checkTextbook,
	},
}

// Step 8's fixed addresses for `make workshop STEP=8`: the Redis the shop
// uses in that step, the textbook server's nginx and its Redis (the e2e
// test picks free ports instead).
const (
	StepRedisURL      = "redis://127.0.0.1:6391/0"
	TextbookPort      = "8090"
	TextbookRedisPort = "6392"
)

// StepN returns step n.
func StepN(n int) (Step, error) {
	for _, s := range Steps {
		if s.N == n {
			return s, nil
		}
	}
	return Step{}, fmt.Errorf("no step %d: the steps are 1 to %d", n, len(Steps))
}

// Env is what the checks know about the shop and how they act on it.
type Env struct {
	// URL is nginx's address, such as http://localhost:8080.
	URL string
	// Replicas, Store and LB are the settings the shop was started with
	// (`make up`'s REPLICAS, SESSION_STORE, LB).
	Replicas int
	Store    string
	LB       string
	// RedisURL, RedisPrefix and DatabaseURL reach the stores, for the
	// checks that look at what is stored (steps 5 and 7).
	RedisURL, RedisPrefix, DatabaseURL string
	// EncryptionKeys is SESSION_ENCRYPTION_KEYS as the shop has it.
	EncryptionKeys string
	// TextbookURL and TextbookRedisURL are step 8's textbook server (its
	// nginx) and the Redis it keeps its sessions in.
	TextbookURL, TextbookRedisURL string

	// Kill ends replica n at once (SIGKILL), as a crash would.
	Kill func(ctx context.Context, n int) error
	// Start starts replica n again and waits until it is ready.
	Start func(ctx context.Context, n int) error
	// RotateKeys puts a new encryption key first, restarts the replicas
	// one at a time, and returns the new SESSION_ENCRYPTION_KEYS.
	RotateKeys func(ctx context.Context) (string, error)
	// Log, when set, hears what the checks do meanwhile ("killing shop-2").
	Log func(format string, args ...any)
}

// Result is one expectation of a step and what the shop showed.
type Result struct {
	OK     bool
	Detail string
}

// Report is the outcome of one step's checks.
type Report struct {
	Step    Step
	Results []Result
	// Err is set when the checks could not go on (the shop did not answer,
	// a hook failed); the results so far stand.
	Err error
}

// OK reports whether every expectation held and nothing stopped the checks.
func (r Report) OK() bool {
	if r.Err != nil || len(r.Results) == 0 {
		return false
	}
	for _, res := range r.Results {
		if !res.OK {
			return false
		}
	}
	return true
}

// Print writes the report for the attendee.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "Step %d: %s\n", r.Step.N, r.Step.Title)
	failed := 0
	for _, res := range r.Results {
		mark := "PASS"
		if !res.OK {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "  %s  %s\n", mark, res.Detail)
	}
	if r.Err != nil {
		fmt.Fprintf(w, "  STOP  %v\n", r.Err)
	}
	switch {
	case r.OK():
		fmt.Fprintf(w, "Step %d: all %d checks passed: the shop behaves as this step teaches.\n", r.Step.N, len(r.Results))
	default:
		fmt.Fprintf(w, "Step %d: %d of %d checks failed", r.Step.N, failed, len(r.Results))
		if r.Err != nil {
			fmt.Fprint(w, ", and the checks stopped early")
		}
		fmt.Fprintln(w, ".")
	}
}

// Check runs step n's checks against the shop env describes.
func Check(ctx context.Context, n int, env Env) Report {
	step, err := StepN(n)
	if err != nil {
		return Report{Err: err}
	}
	r := &run{env: env, step: step}
	if r.env.Log == nil {
		r.env.Log = func(string, ...any) {}
	}
	err = step.check(ctx, r)
	return Report{Step: step, Results: r.results, Err: err}
}

// run is one run of a step's checks.
type run struct {
	env     Env
	step    Step
	results []Result
}

func (r *run) pass(format string, args ...any) {
	r.results = append(r.results, Result{OK: true, Detail: fmt.Sprintf(format, args...)})
}

func (r *run) fail(format string, args ...any) {
	r.results = append(r.results, Result{OK: false, Detail: fmt.Sprintf(format, args...)})
}

// expect records a pass or a fail.
func (r *run) expect(ok bool, format string, args ...any) bool {
	if ok {
		r.pass(format, args...)
	} else {
		r.fail(format, args...)
	}
	return ok
}

// counts tallies requests per replica.
type counts map[string]int

// String lists the replicas in order with their counts: "shop-1 ×4, shop-3 ×8".
func (c counts) String() string {
	var names []string
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s ×%d", n, c[n])
	}
	return strings.Join(parts, ", ")
}

// names lists the replicas seen, in order.
func (c counts) names() string {
	var names []string
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// replicaNumber turns "shop-2" into 2.
func replicaNumber(name string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(name, "shop-%d", &n); err != nil || n < 1 {
		return 0, fmt.Errorf("replica name %q is not shop-N", name)
	}
	return n, nil
}

// NewKey returns a new random AES-256 key, base64, as `shop keygen` prints.
func NewKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(k)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
