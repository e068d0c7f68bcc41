// Command shop runs the shop: one replica of the web server (shop serve, the
// default), database migrations (shop migrate) and, later, maintenance jobs.
// Everything is configured through environment variables; shop --help lists
// them.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/the-shop/shop/handlers"
	"github.com/the-shop/shop/internal/app"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/platform/tracing"
)

const usage = `shop: a shopping cart that runs as many replicas behind a load balancer.

Usage:
  shop [serve]                 run one replica (the default)
  shop migrate up|down|status  apply, roll back one, or list database migrations
  shop cleanup                 remove expired sessions, abandoned carts and stale keys once (for cron)
  shop keygen                  print a new key for SESSION_ENCRYPTION_KEYS
  shop --help                  show this help

`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its inputs passed in so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage+config.Usage())
		return nil
	case "keygen":
		return keygen(stdout)
	case "serve", "migrate", "cleanup":
	default:
		return fmt.Errorf("unknown command %q (see shop --help)", cmd)
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w\n(see shop --help)", err)
	}
	logger := newLogger(cfg, stderr)

	switch cmd {
	case "migrate":
		return migrate(ctx, cfg, logger, args, stdout)
	case "cleanup":
		return cleanupOnce(ctx, cfg, logger, stdout)
	}
	return serve(ctx, cfg, logger)
}

// keygen prints a random AES-256 key, base64, for SESSION_ENCRYPTION_KEYS.
func keygen(stdout io.Writer) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(k))
	return nil
}

// cleanupOnce makes one cleanup pass and prints what it removed.
func cleanupOnce(ctx context.Context, cfg config.Config, logger *slog.Logger, stdout io.Writer) error {
	// A cron job must not race replicas that start up: it never migrates.
	cfg.MigrateOnStart = false
	a, err := app.Open(ctx, cfg, logger, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.Cleanup.Run(ctx)
	if err != nil {
		return err
	}
	if !res.Ran {
		fmt.Fprintln(stdout, "another replica is running a cleanup pass; nothing done")
		return nil
	}
	fmt.Fprintf(stdout, "removed %d expired sessions, %d abandoned guest carts, %d idempotency keys, %d login-failure counters, %d session index entries in %v\n",
		res.Of(app.StepSessions), res.Of(app.StepGuestCarts), res.Of(app.StepIdempotencyKeys), res.Of(app.StepLoginFailures), res.Of(app.StepIndexEntries),
		res.Took.Round(time.Millisecond))
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config.Load
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("replica", cfg.ReplicaName)
}

func migrate(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: shop migrate up|down|status")
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := postgres.NewMigrator(db, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	switch args[0] {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
	case "down":
		res, err := m.Down(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rolled back %s\n", res.Source.Path)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			applied := "pending"
			if !s.AppliedAt.IsZero() {
				applied = "applied " + s.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%-28s %s\n", s.Source.Path, applied)
		}
	default:
		return fmt.Errorf("unknown migrate command %q: use up, down or status", args[0])
	}
	return nil
}

// serve runs one replica until ctx ends (SIGINT or SIGTERM), then drains
// in-flight requests for at most SHUTDOWN_TIMEOUT.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	m := metrics.New()
	opts := app.Options{Metrics: m}
	tp, err := tracing.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if tp != nil {
		opts.Tracing = tp
		logger.Info("tracing on", "otlp_endpoint", cfg.OTLPEndpoint)
		// Last, after the requests and the stores: flush what they traced.
		defer func() {
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if ferr := tp.Shutdown(fctx); ferr != nil {
				logger.Warn("flush traces", "err", ferr)
			}
		}()
	}
	a, err := app.Open(ctx, cfg, logger, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	draining := new(atomic.Bool)
	e, err := handlers.New(a, draining)
	if err != nil {
		return err
	}
	var h http.Handler = e
	if tp != nil {
		h = handlers.Traced(e, tp)
	}

	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	logger.Info("shop listening", "addr", ln.Addr().String(), "session_store", cfg.SessionStore)

	if cfg.CleanupInterval > 0 {
		go a.Cleanup.Schedule(ctx, cfg.CleanupInterval)
	}
	// Queued mails go out from every replica; the outbox's row locks keep
	// two from sending the same one.
	go a.RunMail(ctx)

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.AdminAddr != "" {
		admin, err := serveAdmin(cfg.AdminAddr, m, logger, errc)
		if err != nil {
			return err
		}
		defer admin.Close()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Fail readiness first, then stop accepting connections and let the
	// requests in flight finish: nginx retries anything refused on another
	// replica, so a rolling restart drops nothing.
	draining.Store(true)
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// serveAdmin starts the admin listener (metrics and pprof) on addr; a
// failure to serve goes to errc. Port 0 picks a free port, which the log
// names.
func serveAdmin(addr string, m *metrics.Metrics, logger *slog.Logger, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener (ADMIN_ADDR) on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler: handlers.Admin(m),
		// Requests to the admin listener are bodiless GETs: a client that
		// trickles headers or a body, or keeps idle connections open, is
		// cut off rather than holding a connection (and a goroutine).
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       time.Minute,
		// A CPU profile or trace takes as long as the client asks.
		WriteTimeout: 5 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("admin listening: /metrics, /debug/pprof/", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin listener: %w", err)
		}
	}()
	return srv, nil
}
