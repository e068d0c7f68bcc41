// Command loadtest drives the shop (or bench/cmd/floor) through nginx as many
// simulated shoppers, each with its own cookie jar and CSRF token, for a
// bounded time, and reports requests per second, latency percentiles,
// errors and lost cart items: every shopper keeps its own account of what
// the shop acknowledged and checks its cart against it at the end.
//
// Usage:
//
//	loadtest run -url http://127.0.0.1:8080 [-target shop|floor] [-shoppers 32]
//	             [-duration 20s] [-warmup 2s] [-admin URL,URL,...] [-label L] [-out FILE]
//	loadtest report -in DIR -out docs/benchmarks.md
//
// run scrapes each -admin URL's /metrics before and after the measured
// time, so the result also says how many session and cart store round
// trips, and database queries, each request cost. report turns the
// results that bench/bench.sh collected into docs/benchmarks.md.
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
  loadtest run -url URL [-target shop|floor] [-shoppers N] [-duration D] [-warmup D] [-admin URL,...] [-label L] [-out FILE]
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
