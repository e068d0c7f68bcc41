// Command loadtest drives the shop, or the floor (bench/cmd/floor), through
// nginx as many simulated guests, each with its own cookie jar and CSRF
// token, for a bounded time, and reports per scenario requests per second,
// latency percentiles, errors, and each replica's CPU time per request.
//
// Usage:
//
//	loadtest run -url http://127.0.0.1:8080 [-phases json=12s,html=8s,cart99=3s]
//	             [-shoppers 32] [-warmup 1s] [-admin URL,URL,...] [-redis-url U] [-db-url U]
//	             [-label L] [-target shop|floor] [-store S] [-nginx-pids P,...] [-out FILE]
//	loadtest populate -url URL [-n 10000] [-concurrency 16] [-label L] [-out FILE]
//	loadtest storesize [-redis-url U -prefix P] [-db-url U] [-label L] [-out FILE]
//	loadtest report -in DIR -out docs/benchmarks.md
//
// run goes through its phases in order (json: add then view, as JSON;
// html: the cart and catalog pages; cartN: views of N-line carts). Around
// each measured window it scrapes every -admin URL's /metrics:
// process_cpu_seconds_total, divided by the requests that replica served
// (its X-Served-By answers), gives CPU µs per request; the shop's own
// counters give store round trips per request. Around each whole phase it
// reads the stores' write counters (-redis-url: INFO persistence
// rdb_changes_since_last_save; -db-url: pg_stat_database row writes).
// populate and storesize give the scale figures; report turns what
// bench/bench.sh collected into docs/benchmarks.md. Every request goes to
// -url: loopback, in bench/bench.sh.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  loadtest run -url URL [-phases json=12s,html=8s,cartN=3s] [-shoppers N] [-warmup D] [-admin URL,...]
               [-redis-url URL] [-db-url URL] [-label L] [-out FILE]
  loadtest populate -url URL [-n N] [-concurrency N] [-out FILE]
  loadtest storesize [-redis-url URL -prefix P] [-db-url URL] [-out FILE]
  loadtest report -in DIR -out FILE`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	switch args[0] {
	case "run":
		return runLoad(ctx, args[1:])
	case "report":
		return runReport(args[1:])
	case "populate":
		return runPopulate(ctx, args[1:])
	case "storesize":
		return runStoreSize(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
