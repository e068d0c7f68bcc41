// Package app is the shop's composition root: from a Config it opens the
// pools, makes the one choice the store kind asks for, and builds the
// services, the readiness checks and the cleanup job. cmd/shop serves what
// it builds and the handler tests drive the very same wiring. It knows
// nothing of HTTP.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apitoken"
	"github.com/the-shop/shop/internal/cart"
	"github.com/the-shop/shop/internal/catalog"
	"github.com/the-shop/shop/internal/cleanup"
	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/mail"
	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/order"
	"github.com/the-shop/shop/internal/platform/postgres"
	platformredis "github.com/the-shop/shop/internal/platform/redis"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/throttle"
)

// App is one replica's worth of shop, without its HTTP server.
type App struct {
	Config config.Config
	Logger *slog.Logger
	// Pools are the connections the services share.
	Pools Pools
	// Metrics observes the stores, sessions, logins and (through the HTTP
	// layer) requests; nil when nobody asked for it.
	Metrics *metrics.Metrics
	// Tracing makes the spans of requests (handlers.Traced) and of what
	// they do in the stores; nil when tracing is off.
	Tracing trace.TracerProvider

	Sessions *session.Manager
	// Products is the catalog, from memory kept fresh by notifications
	// (checkout reads prices and stock in its own transaction).
	Products *catalog.Cache
	Carts    *cart.Service
	Accounts *account.Service
	Orders   *order.Service
	// Tokens issues and checks the JSON API's access tokens.
	Tokens *apitoken.Issuer
	// Guard throttles logins.
	Guard *throttle.Guard
	// AnonWrites limits the unsafe requests of visitors without a login
	// per address (ANON_WRITES_PER_MINUTE); nil when there is no limit.
	AnonWrites *throttle.Rate
	// Checks are the dependencies readiness probes ping.
	Checks []Check
	// Cleanup removes what has expired in the configured stores.
	Cleanup *cleanup.Job
	// Outbox queues mails; Mailer, when SMTP_URL is set, sends them (Run
	// it: cmd/shop serve does).
	Outbox *mail.Outbox
	Mailer *mail.Sender
	// ResetsPerIP limits password reset requests per client address
	// (visible: 429); ResetMails limits the reset mails per account
	// (silent: the answer must not tell whether the account exists). Nil
	// when unlimited.
	ResetsPerIP *throttle.Rate
	ResetMails  *throttle.Rate
	// Identities tells whether a session's or token's account identity
	// is still current, from a cache each replica keeps fresh.
	Identities *account.Identities

	// close releases what Open opened, last opened first.
	close []func()
}

// Pools are the shared connections. Redis is nil unless the store kind is
// redis.
type Pools struct {
	DB    *pgxpool.Pool
	Redis *redis.Pool
}

// Check is one dependency that readiness verifies.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Options are what a caller adds to the configuration.
type Options struct {
	// Metrics, when set, observes everything the app builds (and the
	// database pool Open opens).
	Metrics *metrics.Metrics
	// Tracing, when set, traces the statements of the database pool Open
	// opens (a caller of New wires its own pool with DBTracer) and the
	// Redis round trips of traced requests. Nil: tracing off, and nothing
	// is instrumented.
	Tracing trace.TracerProvider
}

// DBTracer is the pgx tracer that makes a span of each statement of a
// traced request, named like the metrics' statements ("select
// products"); the statement's arguments are never recorded.
func DBTracer(tp trace.TracerProvider) pgx.QueryTracer {
	return otelpgx.NewTracer(otelpgx.WithTracerProvider(tp), otelpgx.WithSpanNameFunc(metrics.QueryName))
}

// Open connects to the stores cfg names, applies the migrations when
// MIGRATE_ON_START says so, and builds the app. Close releases it.
func Open(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (a *App, err error) {
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	var tracers []pgx.QueryTracer
	if opts.Metrics != nil {
		tracers = append(tracers, opts.Metrics.DBTracer())
	}
	if opts.Tracing != nil {
		tracers = append(tracers, DBTracer(opts.Tracing))
	}
	var configure []func(*pgxpool.Config)
	switch len(tracers) {
	case 0:
	case 1:
		configure = append(configure, func(c *pgxpool.Config) { c.ConnConfig.Tracer = tracers[0] })
	default:
		configure = append(configure, func(c *pgxpool.Config) { c.ConnConfig.Tracer = multitracer.New(tracers...) })
	}
	var p Pools
	if p.DB, err = postgres.Open(ctx, cfg.DatabaseURL, configure...); err != nil {
		return nil, err
	}
	closers = append(closers, p.DB.Close)
	if cfg.MigrateOnStart {
		if err := migrate(ctx, p.DB, logger); err != nil {
			return nil, err
		}
	}
	k, err := kindOf(cfg.SessionStore)
	if err != nil {
		return nil, err
	}
	if k.redis {
		if cfg.UsesSentinel() {
			var closeSentinel func() error
			if p.Redis, closeSentinel, err = platformredis.OpenSentinel(ctx, platformredis.SentinelConfig{
				Addrs:          cfg.RedisSentinelAddrs,
				Master:         cfg.RedisSentinelMaster,
				Password:       cfg.RedisSentinelPassword,
				MaxConnections: cfg.RedisMaxConnections,
			}); err != nil {
				return nil, err
			}
			closers = append(closers, func() { _ = closeSentinel() })
		} else {
			if p.Redis, err = platformredis.OpenLimited(ctx, cfg.RedisURL, cfg.RedisMaxConnections); err != nil {
				return nil, err
			}
			closers = append(closers, func() { _ = p.Redis.Close() })
		}
		platformredis.SetMinReplicasAck(p.Redis, cfg.RedisMinReplicasAck)
		pool := p.Redis
		closers = append(closers, func() { platformredis.SetMinReplicasAck(pool, 0) })
	}
	if a, err = New(cfg, logger, p, opts); err != nil {
		return nil, err
	}
	a.close = append(closers, a.close...)
	return a, nil
}

func migrate(ctx context.Context, db *pgxpool.Pool, logger *slog.Logger) error {
	m, err := postgres.NewMigrator(db, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	n, err := m.Up(ctx)
	if err != nil {
		return err
	}
	logger.Info("migrations applied", "count", n)
	return nil
}

// Close releases the pools Open opened; an app New built on pools of the
// caller's leaves them open.
func (a *App) Close() {
	for i := len(a.close) - 1; i >= 0; i-- {
		a.close[i]()
	}
	a.close = nil
}

// New builds the app on pools the caller opened (tests run several apps,
// like several replicas, on one database and one Redis prefix).
func New(cfg config.Config, logger *slog.Logger, p Pools, opts Options) (*App, error) {
	if p.DB == nil {
		return nil, errors.New("app: no database pool")
	}
	k, err := kindOf(cfg.SessionStore)
	if err != nil {
		return nil, err
	}
	if k.redis && p.Redis == nil {
		return nil, fmt.Errorf("app: session store %s needs a redis pool", cfg.SessionStore)
	}
	st := k.stores(cfg, p)
	if k.warning != "" {
		logger.Warn(k.warning)
	}
	m := opts.Metrics
	a := &App{Config: cfg, Logger: logger, Pools: p, Metrics: m, Tracing: opts.Tracing, Checks: st.checks}
	secret, err := shopSecret(cfg, logger)
	if err != nil {
		return nil, err
	}

	sopts, err := session.OptionsFrom(cfg, nil)
	if err != nil {
		return nil, err
	}
	sopts.Secret = derive(secret, "session")
	a.Identities = account.NewIdentities(p.DB, account.DefaultIdentityTTL, logger)
	sopts.Accounts = a.Identities
	listen, stop := context.WithCancel(context.Background())
	go a.Identities.Listen(listen)
	a.close = append(a.close, stop)
	carts := st.carts
	if m != nil {
		sopts.Observer = sessionMetrics(m, string(cfg.SessionStore))
		sopts.Events = sessionEventMetrics(m)
		carts = cart.Observe(carts, cartMetrics(m, string(cfg.SessionStore)))
	}
	if a.Sessions, err = session.New(sopts, st.sessions); err != nil {
		return nil, err
	}
	a.Products = catalog.NewCache(p.DB, catalog.DefaultCacheTTL, logger)
	go a.Products.Listen(listen)
	if a.Accounts, err = account.NewService(p.DB, cfg.PasswordCost); err != nil {
		return nil, err
	}
	a.Carts = cart.NewService(carts, a.Products)
	a.Orders = order.NewService(p.DB, a.Carts).WithRules(order.NewRules(
		cfg.ShippingStandardCents, cfg.ShippingExpressCents, cfg.FreeShippingFromCents, cfg.TaxBasisPoints))
	if a.Tokens, err = apitoken.New(secret, cfg.JWTTTL); err != nil {
		return nil, err
	}
	var devices *throttle.Devices
	if cfg.LoginMaxFailuresPerDevice > 0 {
		if devices, err = throttle.NewDevices(secret, cfg.LoginDeviceLifetime); err != nil {
			return nil, err
		}
	}
	a.Guard = throttle.NewGuard(st.failures, throttle.Limits{
		PerAccount: cfg.LoginMaxFailures, PerIP: cfg.LoginMaxFailuresPerIP, PerDevice: cfg.LoginMaxFailuresPerDevice,
		Window:      cfg.LoginFailureWindow,
		HashesPerIP: cfg.PasswordHashesPerIP, HashWindow: time.Minute,
	}, devices)
	if m != nil {
		a.Guard.Observer = throttleMetrics(m)
	}
	if cfg.AnonWritesPerMinute > 0 {
		a.AnonWrites = throttle.NewRate(st.failures, cfg.AnonWritesPerMinute, time.Minute)
	}
	a.Outbox = mail.NewOutbox(p.DB)
	if cfg.SMTPURL != "" {
		a.Mailer, err = mail.NewSender(a.Outbox, mail.SenderConfig{URL: cfg.SMTPURL, From: cfg.MailFrom, Poll: cfg.MailPollInterval}, logger)
		if err != nil {
			return nil, err
		}
	} else {
		logger.Warn("SMTP_URL is not set: mails (password resets, email verification, new sign-ins) are queued in PostgreSQL and not sent. " +
			"Set SMTP_URL (make up runs Mailpit on smtp://127.0.0.1:1025).")
	}
	if cfg.PasswordResetsPerIP > 0 {
		a.ResetsPerIP = throttle.NewRate(st.failures, cfg.PasswordResetsPerIP, time.Hour)
	}
	if cfg.PasswordResetsPerHour > 0 {
		a.ResetMails = throttle.NewRate(st.failures, cfg.PasswordResetsPerHour, time.Hour)
	}
	a.Cleanup = &cleanup.Job{
		DB: p.DB, Steps: CleanupSteps(cfg, p.DB, p.Redis),
		Batch: cleanup.DefaultBatch, Pause: cleanup.DefaultPause, Logger: logger,
	}
	if m != nil {
		a.Cleanup.Observer = cleanupMetrics(m)
	}
	return a, nil
}

// RunMail sends queued mails until ctx ends (cmd/shop serve runs it on
// every replica; they share the work through the outbox's row locks). It
// returns at once when SMTP_URL is not set.
func (a *App) RunMail(ctx context.Context) {
	if a.Mailer != nil {
		a.Mailer.Run(ctx)
	}
}

// stores are the stores of one kind.
type stores struct {
	sessions session.Backend
	carts    cart.Store
	failures throttle.Store
	checks   []Check
}

// kind is what one store kind needs and builds.
type kind struct {
	// redis: the kind keeps its state in Redis; Open connects to it.
	redis bool
	// warning, when set, is logged at start.
	warning string
	// stores builds the kind's stores on the pools.
	stores func(cfg config.Config, p Pools) stores
	// cleanup lists the kind's own expiry steps, beside the PostgreSQL
	// tables every kind sweeps.
	cleanup func(cfg config.Config, p Pools) []cleanup.Step
}

// kindOf is the one place that turns the store kind into what it needs and
// builds: a new kind (Sentinel, Cluster, PgBouncer) is added here and
// nowhere else.
func kindOf(k config.Kind) (kind, error) {
	switch k {
	case config.StoreRedis:
		return kind{
			redis: true,
			stores: func(cfg config.Config, p Pools) stores {
				return stores{
					sessions: session.RedisBackend(p.Redis, cfg.RedisKeyPrefix),
					carts:    cart.NewRedisStore(p.Redis, cfg.RedisKeyPrefix, cfg.CartTTL).WithGuestTTL(cfg.GuestCartTTL()),
					failures: throttle.NewRedisStore(p.Redis, cfg.RedisKeyPrefix),
					checks: []Check{postgresCheck(p), {Name: "redis", Ping: func(ctx context.Context) error {
						return platformredis.Ping(ctx, p.Redis)
					}}},
				}
			},
			cleanup: func(cfg config.Config, p Pools) []cleanup.Step {
				return []cleanup.Step{{Name: StepIndexEntries, Delete: func(ctx context.Context, limit int) (int64, error) {
					return session.PruneRedisIndexes(ctx, p.Redis, cfg.RedisKeyPrefix, limit)
				}}}
			},
		}, nil
	case config.StorePostgres:
		return kind{
			stores: func(cfg config.Config, p Pools) stores {
				return stores{
					sessions: session.PostgresBackend(p.DB),
					carts:    cart.NewPostgresStore(p.DB),
					failures: throttle.NewPostgresStore(p.DB),
					checks:   []Check{postgresCheck(p)},
				}
			},
		}, nil
	case config.StoreMemory:
		return kind{
			warning: "SESSION_STORE=memory keeps sessions and carts in this process: " +
				"with more than one replica, users lose their login and cart as requests move between replicas. " +
				"Use it only to see that happen (workshops).",
			stores: func(cfg config.Config, p Pools) stores {
				return stores{
					sessions: session.MemoryBackend(),
					carts:    cart.NewMemoryStore(cfg.CartTTL).WithGuestTTL(cfg.GuestCartTTL()),
					failures: throttle.NewMemoryStore(),
					checks:   []Check{postgresCheck(p)},
				}
			},
		}, nil
	}
	return kind{}, fmt.Errorf("app: unknown session store %q", k)
}

func postgresCheck(p Pools) Check { return Check{Name: "postgres", Ping: p.DB.Ping} }

// shopSecret is the secret the replicas share, JWT_SECRET: it signs API
// tokens, and keys (derived from it) sign the tokens minted for new
// visitors' sessions and the CSRF tokens. Without one, this replica makes
// up its own: fine for one replica in development, but then API tokens and
// forms work only on the replica that issued them and only until it
// restarts, so every replica behind one load balancer needs the same
// JWT_SECRET (`make up` generates one for all of them).
func shopSecret(cfg config.Config, logger *slog.Logger) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	logger.Warn("JWT_SECRET is not set: API tokens, new visitors' session tokens, CSRF tokens and device cookies are signed with a random key of this replica. " +
		"They fail on other replicas and after a restart. Set the same JWT_SECRET (32 bytes or more) on every replica in production.")
	return apitoken.NewSecret()
}

// derive is a key for one purpose, derived from the shop's secret, so that
// no two purposes share a key.
func derive(secret []byte, purpose string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("the-shop key for " + purpose))
	return h.Sum(nil)
}
