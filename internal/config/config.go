// Package config loads the shop's configuration from environment variables
// into one typed, validated struct. Nothing below cmd/ and this package reads
// the environment.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Kind names where sessions, carts and login-failure counters live
// (SESSION_STORE). It is the shop's one type for the store kind.
type Kind string

// The store kinds SESSION_STORE accepts.
const (
	StoreRedis    Kind = "redis"
	StorePostgres Kind = "postgres"
	StoreMemory   Kind = "memory"
)

// Config is the whole configuration of one replica.
type Config struct {
	Addr        string
	ReplicaName string
	DatabaseURL string
	RedisURL    string
	// RedisSentinelAddrs (host:port of each sentinel) and
	// RedisSentinelMaster (the master's name the sentinels monitor), both
	// set, replace RedisURL: the pool asks the sentinels for the master
	// and follows a failover. RedisSentinelPassword, when set,
	// authenticates to the sentinels and to the master.
	RedisSentinelAddrs    []string
	RedisSentinelMaster   string
	RedisSentinelPassword string
	// RedisMinReplicasAck makes each session or cart write wait until
	// that many replicas acknowledged it (WAIT), or fail (503).
	RedisMinReplicasAck int
	// RedisKeyPrefix starts every Redis key the shop writes, so that several
	// shops (or tests) can share one Redis.
	RedisKeyPrefix string

	SessionStore            Kind
	SessionCookieName       string
	SessionCookieSecure     bool
	SessionIdleTimeout      time.Duration
	SessionLifetime         time.Duration
	SessionRememberLifetime time.Duration
	SessionTouchInterval    time.Duration
	// SessionEncryptionKeys are raw AES-256 keys; the first encrypts.
	SessionEncryptionKeys [][]byte
	// SessionEncryptionMigrating also reads sessions stored before
	// encryption was turned on, while they expire.
	SessionEncryptionMigrating bool
	CleanupInterval            time.Duration
	// Login throttling: failures allowed per account and per client
	// address within the window.
	LoginMaxFailures      int
	LoginMaxFailuresPerIP int
	LoginFailureWindow    time.Duration
	// LoginMaxFailuresPerDevice is the failures allowed within the window
	// to a browser with a device cookie of the account, which the
	// account's and the address's limits then do not hold back (0: no
	// device cookies); LoginDeviceLifetime is how long such a cookie lasts.
	LoginMaxFailuresPerDevice int
	LoginDeviceLifetime       time.Duration
	// PasswordHashesPerIP bounds bcrypt operations per client address per
	// minute (0: no bound).
	PasswordHashesPerIP int

	MigrateOnStart bool
	CartTTL        time.Duration

	// Env is "development" or "production"; production refuses settings
	// that are only fit for a laptop.
	Env string
	// JWTSecret signs the API's access tokens; empty means cmd/shop makes a
	// random one (development: each replica then has its own).
	JWTSecret string
	// JWTTTL is the lifetime of an API access token.
	JWTTTL time.Duration

	// AdminAddr is where metrics and pprof are served; "" when
	// ADMIN_ADDR=off. An empty ADMIN_ADDR counts as unset, as every
	// variable does, and so means the default listener.
	AdminAddr string

	TrustedProxies  []*net.IPNet
	LogFormat       string
	LogLevel        string
	ShutdownTimeout time.Duration
	// ShowServedBy puts the replica and store badge in every page's footer:
	// a teaching aid (the workshop turns it on), which production need not
	// show its visitors. Unset, it follows Env.
	ShowServedBy bool
	// PasswordCost is the bcrypt cost of new password hashes.
	PasswordCost int

	// HSTSMaxAge is the max-age of Strict-Transport-Security on HTTPS
	// requests; 0 sends no header (HSTS_MAX_AGE).
	HSTSMaxAge time.Duration
	// RedisMaxConnections caps the Redis pool; a request waits for a free
	// connection rather than opening more (REDIS_MAX_CONNECTIONS).
	RedisMaxConnections int
	// AnonWritesPerMinute is how many unsafe requests (POST, PUT, PATCH,
	// DELETE) one client address may make per minute without a login,
	// counted in the session store kind's store; 0: no limit.
	AnonWritesPerMinute int

	// SMTPURL is the mail server the replicas' senders hand queued mails
	// to; "" sends nothing (mails wait in the outbox).
	SMTPURL string
	// MailFrom is the From address of every mail.
	MailFrom string
	// MailPollInterval is how often a sender looks for mails queued by
	// other replicas or due for a retry.
	MailPollInterval time.Duration
	// PublicURL is the shop's address as a browser reaches it, for the
	// links in mails (never taken from a request's Host header, which a
	// client chooses).
	PublicURL string
	// PasswordResetsPerHour bounds the reset mails per account and
	// PasswordResetsPerIP the reset requests per client address, per hour.
	PasswordResetsPerHour int
	PasswordResetsPerIP   int
	// OTLPEndpoint is the base URL of an OpenTelemetry collector
	// (OTEL_EXPORTER_OTLP_ENDPOINT, OTLP over HTTP); "" turns tracing
	// off, and then nothing is instrumented at all.
	OTLPEndpoint string
	// OTELServiceName is the service.name of the traces (OTEL_SERVICE_NAME).
	OTELServiceName string
	// Checkout pricing rules: the flat price of each shipping option, the
	// items' total from which standard shipping is free (0: never), and
	// the tax rate on items and shipping in basis points (825 is 8.25%).
	ShippingStandardCents int64
	ShippingExpressCents  int64
	FreeShippingFromCents int64
	TaxBasisPoints        int64
}

// GuestCartTTL is how long a guest cart lives after its last change: no
// longer than the session that holds its id can live. A guest cannot tick
// "remember me", so a guest session ends at SESSION_LIFETIME at the latest;
// a cart kept beyond that is one nobody can reach. Account carts keep
// CART_TTL.
func (c Config) GuestCartTTL() time.Duration { return min(c.CartTTL, c.SessionLifetime) }

// Var describes one environment variable: its name, default and meaning.
type Var struct {
	Name    string
	Default string
	Help    string
}

// Vars lists every environment variable the shop reads, in the order
// `shop --help` prints them.
func Vars() []Var {
	host, _ := os.Hostname()
	return vars(host)
}

// vars is Vars with the default of REPLICA_NAME given: the machine's host
// name at run time, a placeholder in the generated documentation.
func vars(host string) []Var {
	return []Var{
		{"ADDR", ":8080", "listen address of this replica"},
		{"REPLICA_NAME", host, "name in X-Served-By and in logs (default: the host name)"},
		{"DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop?sslmode=disable", "PostgreSQL connection URL"},
		{"REDIS_URL", "redis://127.0.0.1:6379/0", "Redis connection URL"},
		{"REDIS_SENTINEL_ADDRS", "", "comma-separated host:port of Redis Sentinels; with REDIS_SENTINEL_MASTER, used instead of REDIS_URL"},
		{"REDIS_SENTINEL_MASTER", "", "name of the master the sentinels monitor (set with REDIS_SENTINEL_ADDRS)"},
		{"REDIS_SENTINEL_PASSWORD", "", "password of the sentinels and of the master they name (optional)"},
		{"REDIS_MIN_REPLICAS_ACK", "0", "replicas that must acknowledge each session or cart write (WAIT, 1s) before the shop answers; 0: none (0..10)"},
		{"REDIS_KEY_PREFIX", "shop:", "prefix of every Redis key the shop writes"},
		{"SESSION_STORE", string(StoreRedis), "session and cart store: redis, postgres or memory (memory: one replica only, for workshops)"},
		{"SESSION_COOKIE_NAME", "session", "session cookie name"},
		{"SESSION_COOKIE_SECURE", "false", "mark the session cookie Secure (set true when served over HTTPS)"},
		{"SESSION_IDLE_TIMEOUT", "30m", "a session unused this long expires"},
		{"SESSION_LIFETIME", "24h", "absolute lifetime of a session"},
		{"SESSION_REMEMBER_LIFETIME", "720h", "absolute lifetime of a session with \"remember me\""},
		{"MIGRATE_ON_START", "true", "run database migrations at start"},
		{"SESSION_TOUCH_INTERVAL", "1m", "least time between expiry extensions of an unchanged session"},
		{"SESSION_ENCRYPTION_KEYS", "", "comma-separated base64 AES-256 keys (shop keygen makes one); the first encrypts, all decrypt (unset: off)"},
		{"SESSION_ENCRYPTION_MIGRATING", "false", "while turning SESSION_ENCRYPTION_KEYS on: also read sessions stored unencrypted (or in the first, unbound sealed format) until they expire; leave it off otherwise, so only data sealed for its own session is read"},
		{"CLEANUP_INTERVAL", "5m", "expiry cleanup job interval (0 turns it off)"},
		{"LOGIN_MAX_FAILURES", "5", "failed logins per account within LOGIN_FAILURE_WINDOW before logins are paused (0: no limit)"},
		{"LOGIN_MAX_FAILURES_PER_IP", "20", "failed logins per client address within LOGIN_FAILURE_WINDOW before logins are paused (0: no limit)"},
		{"LOGIN_FAILURE_WINDOW", "15m", "how long failed logins count, and how long a pause lasts"},
		{"LOGIN_MAX_FAILURES_PER_DEVICE", "5", "failed logins within LOGIN_FAILURE_WINDOW from a browser holding a device cookie of the account (set at its last successful login), which the account's and the address's pauses do not stop; past it, the browser counts as unknown (0: no device cookies)"},
		{"LOGIN_DEVICE_LIFETIME", "2160h", "lifetime of a device cookie, signed with a key derived from JWT_SECRET"},
		{"PASSWORD_HASHES_PER_IP", "60", "bcrypt operations (sign-up, login, API token, password change) per client address per minute; more are answered 429 with Retry-After (0: no limit)"},
		{"CART_TTL", "720h", "lifetime of an abandoned account cart; a guest cart lives at most SESSION_LIFETIME, as long as the guest's session can"},
		{"SHOP_ENV", "development", "development or production; production requires JWT_SECRET"},
		{"JWT_SECRET", "", "API token signing key, at least 32 bytes, the same on every replica (unset: a random one per replica, for development)"},
		{"JWT_TTL", "15m", "lifetime of an API access token (at most 24h)"},
		{"TRUSTED_PROXIES", "127.0.0.1/32,::1/128", "CIDRs whose X-Forwarded-* headers are trusted"},
		{"ADMIN_ADDR", "127.0.0.1:0", "listen address of /metrics and /debug/pprof/, which the public ADDR never serves (port 0: a free port, logged at start; off: no admin listener; empty counts as unset); keep it on loopback or a private network"},
		{"LOG_FORMAT", "text", "log format: text or json"},
		{"LOG_LEVEL", "info", "log level: debug, info, warn or error"},
		{"SHUTDOWN_TIMEOUT", "15s", "drain time on SIGTERM or SIGINT"},
		{"SHOW_SERVED_BY", "", "show the serving replica and session store in the page footer (unset: on when SHOP_ENV=development, off in production)"},
		{"PASSWORD_COST", "10", "bcrypt cost of new password hashes (4..14)"},
		{"HSTS_MAX_AGE", "0", "Strict-Transport-Security max-age sent on HTTPS requests (TLS, or X-Forwarded-Proto: https from TRUSTED_PROXIES), as a duration such as 8760h (0: no header; set it only when the whole site is served over HTTPS)"},
		{"REDIS_MAX_CONNECTIONS", "64", "most connections one replica opens to Redis; requests wait for a free one (1..10000)"},
		{"SMTP_URL", "", "mail server for the mails the shop queues (password reset, email verification, new sign-in): smtp://[user:password@]host:port[?tls=none|opportunistic|mandatory] or smtps://host:port; `make up` sets smtp://127.0.0.1:1025 (Mailpit) (unset: mails wait in the outbox, unsent)"},
		{"MAIL_FROM", "The Shop <shop@localhost>", "From address of the shop's mails"},
		{"MAIL_POLL_INTERVAL", "2s", "how often a replica's mail sender looks for mails queued by other replicas or due for a retry"},
		{"PUBLIC_URL", "http://localhost:8080", "the shop's address as browsers reach it, for links in mails"},
		{"PASSWORD_RESETS_PER_HOUR", "3", "password reset mails per account per hour; more requests get the same answer but no mail (0: no limit)"},
		{"PASSWORD_RESETS_PER_IP", "20", "password reset requests per client address per hour; more answer 429 (0: no limit)"},
		{"SHIPPING_STANDARD_CENTS", "495", "price of standard shipping in cents"},
		{"SHIPPING_EXPRESS_CENTS", "1295", "price of express shipping in cents"},
		{"FREE_SHIPPING_FROM_CENTS", "5000", "items' total in cents from which standard shipping is free (0: never free)"},
		{"TAX_RATE_PERCENT", "8", "tax rate on the items and the shipping, in percent with at most two decimals (0 to 100, for example 8 or 7.25); rounded half up to the cent"},
		{"ANON_WRITES_PER_MINUTE", "120", "unsafe requests (POST…) per minute one client address may make without a login, shared by all replicas; more answer 429; loopback clients are not limited (0: no limit)"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "", "OpenTelemetry collector base URL for traces over OTLP/HTTP, for example http://127.0.0.1:4318 (spans go to its /v1/traces); unset: tracing off, nothing instrumented. The SDK itself reads the other standard variables: OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (default: every request, or as the caller's traceparent says), OTEL_RESOURCE_ATTRIBUTES"},
		{"OTEL_SERVICE_NAME", "shop", "service.name of the traces (service.instance.id is REPLICA_NAME)"},
	}
}

// Usage is the environment part of `shop --help`.
func Usage() string {
	var b strings.Builder
	b.WriteString("Environment variables (default in brackets):\n")
	for _, v := range Vars() {
		def := v.Default
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(&b, "  %-26s %s [%s]\n", v.Name, v.Help, def)
	}
	return b.String()
}

// Load reads the configuration through getenv (os.Getenv in production, a map
// in tests), applies defaults and validates every value. The error names each
// variable that is wrong and what it accepts.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv, defaults: map[string]string{}}
	for _, v := range Vars() {
		p.defaults[v.Name] = v.Default
	}
	c := Config{
		Addr:                       p.str("ADDR"),
		ReplicaName:                p.str("REPLICA_NAME"),
		DatabaseURL:                p.url("DATABASE_URL", "postgres", "postgresql"),
		RedisURL:                   p.url("REDIS_URL", "redis", "rediss"),
		RedisSentinelAddrs:         p.hostPorts("REDIS_SENTINEL_ADDRS"),
		RedisSentinelMaster:        p.str("REDIS_SENTINEL_MASTER"),
		RedisSentinelPassword:      p.str("REDIS_SENTINEL_PASSWORD"),
		RedisMinReplicasAck:        p.intRange("REDIS_MIN_REPLICAS_ACK", 0, 10),
		RedisKeyPrefix:             p.str("REDIS_KEY_PREFIX"),
		SessionStore:               Kind(p.oneOf("SESSION_STORE", string(StoreRedis), string(StorePostgres), string(StoreMemory))),
		SessionCookieName:          p.str("SESSION_COOKIE_NAME"),
		SessionCookieSecure:        p.bool("SESSION_COOKIE_SECURE"),
		SessionIdleTimeout:         p.duration("SESSION_IDLE_TIMEOUT", time.Second),
		SessionLifetime:            p.duration("SESSION_LIFETIME", time.Second),
		SessionRememberLifetime:    p.duration("SESSION_REMEMBER_LIFETIME", time.Second),
		SessionTouchInterval:       p.duration("SESSION_TOUCH_INTERVAL", 0),
		SessionEncryptionKeys:      p.keys("SESSION_ENCRYPTION_KEYS"),
		SessionEncryptionMigrating: p.bool("SESSION_ENCRYPTION_MIGRATING"),
		CleanupInterval:            p.duration("CLEANUP_INTERVAL", 0),
		LoginMaxFailures:           p.intRange("LOGIN_MAX_FAILURES", 0, 1000),
		LoginMaxFailuresPerIP:      p.intRange("LOGIN_MAX_FAILURES_PER_IP", 0, 100000),
		LoginFailureWindow:         p.duration("LOGIN_FAILURE_WINDOW", time.Second),
		MigrateOnStart:             p.bool("MIGRATE_ON_START"),
		CartTTL:                    p.duration("CART_TTL", time.Minute),
		Env:                        p.oneOf("SHOP_ENV", "development", "production"),
		JWTSecret:                  p.str("JWT_SECRET"),
		JWTTTL:                     p.duration("JWT_TTL", time.Second),
		TrustedProxies:             p.cidrs("TRUSTED_PROXIES"),
		AdminAddr:                  p.adminAddr("ADMIN_ADDR"),
		LogFormat:                  p.oneOf("LOG_FORMAT", "text", "json"),
		LogLevel:                   p.oneOf("LOG_LEVEL", "debug", "info", "warn", "error"),
		ShutdownTimeout:            p.duration("SHUTDOWN_TIMEOUT", 0),
		PasswordCost:               p.intRange("PASSWORD_COST", 4, 14),
		HSTSMaxAge:                 p.duration("HSTS_MAX_AGE", 0),
		RedisMaxConnections:        p.intRange("REDIS_MAX_CONNECTIONS", 1, 10000),
		AnonWritesPerMinute:        p.intRange("ANON_WRITES_PER_MINUTE", 0, 1000000),
		LoginMaxFailuresPerDevice:  p.intRange("LOGIN_MAX_FAILURES_PER_DEVICE", 0, 1000),
		LoginDeviceLifetime:        p.duration("LOGIN_DEVICE_LIFETIME", time.Minute),
		PasswordHashesPerIP:        p.intRange("PASSWORD_HASHES_PER_IP", 0, 100000),
		SMTPURL:                    p.smtpURL("SMTP_URL"),
		MailFrom:                   p.str("MAIL_FROM"),
		MailPollInterval:           p.duration("MAIL_POLL_INTERVAL", 10*time.Millisecond),
		PublicURL:                  strings.TrimRight(p.url("PUBLIC_URL", "http", "https"), "/"),
		PasswordResetsPerHour:      p.intRange("PASSWORD_RESETS_PER_HOUR", 0, 1000),
		PasswordResetsPerIP:        p.intRange("PASSWORD_RESETS_PER_IP", 0, 100000),
		OTELServiceName:            p.str("OTEL_SERVICE_NAME"),
		ShippingStandardCents:      int64(p.intRange("SHIPPING_STANDARD_CENTS", 0, 100000000)),
		ShippingExpressCents:       int64(p.intRange("SHIPPING_EXPRESS_CENTS", 0, 100000000)),
		FreeShippingFromCents:      int64(p.intRange("FREE_SHIPPING_FROM_CENTS", 0, 1000000000)),
		TaxBasisPoints:             p.percent("TAX_RATE_PERCENT"),
	}
	if p.raw("OTEL_EXPORTER_OTLP_ENDPOINT") != "" {
		c.OTLPEndpoint = p.url("OTEL_EXPORTER_OTLP_ENDPOINT", "http", "https")
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		p.fail("MAIL_FROM", fmt.Sprintf("is %q; it accepts an address such as shop@example.com or The Shop <shop@example.com>", c.MailFrom))
	}
	c.ShowServedBy = p.boolOr("SHOW_SERVED_BY", c.Env == "development")
	if c.ReplicaName == "" {
		c.ReplicaName = "shop"
	}
	if c.Addr == "" {
		p.fail("ADDR", "must not be empty (for example :8080 or 127.0.0.1:9001)")
	}
	if c.SessionCookieName == "" {
		p.fail("SESSION_COOKIE_NAME", "must not be empty")
	}
	if c.SessionIdleTimeout > c.SessionLifetime {
		p.fail("SESSION_IDLE_TIMEOUT", "must not be longer than SESSION_LIFETIME")
	}
	if c.SessionIdleTimeout >= time.Second && c.SessionTouchInterval >= c.SessionIdleTimeout {
		p.fail("SESSION_TOUCH_INTERVAL", "must be shorter than SESSION_IDLE_TIMEOUT (a session would expire before it is extended)")
	}
	if c.Env == "production" && c.JWTSecret == "" {
		p.fail("JWT_SECRET", "must be set when SHOP_ENV=production: every replica must sign API tokens with the same key")
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		p.fail("JWT_SECRET", fmt.Sprintf("is %d bytes; it must be at least 32 (for example: openssl rand -hex 32)", len(c.JWTSecret)))
	}
	if c.JWTTTL > 24*time.Hour {
		p.fail("JWT_TTL", "must be at most 24h: a token cannot be revoked before it expires")
	}
	if c.HSTSMaxAge > 0 && c.HSTSMaxAge < time.Second {
		p.fail("HSTS_MAX_AGE", "must be 0 (off) or at least 1s: max-age counts whole seconds")
	}
	if (len(c.RedisSentinelAddrs) == 0) != (c.RedisSentinelMaster == "") {
		p.fail("REDIS_SENTINEL_ADDRS", "and REDIS_SENTINEL_MASTER must be set together (both: Redis through Sentinel; neither: REDIS_URL)")
	}
	if c.RedisSentinelPassword != "" && c.RedisSentinelMaster == "" {
		p.fail("REDIS_SENTINEL_PASSWORD", "is set without REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER")
	}
	if c.SessionRememberLifetime < c.SessionLifetime {
		p.fail("SESSION_REMEMBER_LIFETIME", "must not be shorter than SESSION_LIFETIME")
	}
	return c, errors.Join(p.errs...)
}

// parser collects every problem instead of stopping at the first, so one
// start shows the operator all that is wrong.
type parser struct {
	getenv   func(string) string
	defaults map[string]string
	errs     []error
}

func (p *parser) fail(name, msg string) {
	p.errs = append(p.errs, fmt.Errorf("%s %s", name, msg))
}

func (p *parser) raw(name string) string {
	if v, ok := lookup(p.getenv, name); ok {
		return strings.TrimSpace(v)
	}
	return p.defaults[name]
}

// lookup treats an empty variable as unset, as shells and compose files make
// "FOO=" easy to write by accident.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func (p *parser) str(name string) string { return p.raw(name) }

func (p *parser) oneOf(name string, allowed ...string) string {
	v := strings.ToLower(p.raw(name))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, fmt.Sprintf("is %q; it accepts %s", v, strings.Join(allowed, ", ")))
	return allowed[0]
}

func (p *parser) bool(name string) bool {
	v, err := strconv.ParseBool(p.raw(name))
	if err != nil {
		p.fail(name, fmt.Sprintf("is %q; it accepts true or false", p.raw(name)))
	}
	return v
}

// boolOr is bool for a variable whose default depends on other settings:
// unset, it is def.
func (p *parser) boolOr(name string, def bool) bool {
	if p.raw(name) == "" {
		return def
	}
	return p.bool(name)
}

// percent parses a percentage with at most two decimals ("8", "7.25")
// from 0 to 100 into basis points (hundredths of a percent).
func (p *parser) percent(name string) int64 {
	v := p.raw(name)
	whole, frac, hasFrac := strings.Cut(v, ".")
	bad := func() int64 {
		p.fail(name, fmt.Sprintf("is %q; it accepts a percentage from 0 to 100 with at most two decimals, such as 8 or 7.25", v))
		return 0
	}
	if hasFrac && (len(frac) == 0 || len(frac) > 2) {
		return bad()
	}
	w, err := strconv.Atoi(whole)
	if err != nil || w < 0 || strings.HasPrefix(whole, "+") {
		return bad()
	}
	f := 0
	if hasFrac {
		if f, err = strconv.Atoi(frac); err != nil || strings.HasPrefix(frac, "-") || strings.HasPrefix(frac, "+") {
			return bad()
		}
		if len(frac) == 1 {
			f *= 10
		}
	}
	bp := int64(w)*100 + int64(f)
	if bp > 10000 {
		return bad()
	}
	return bp
}

func (p *parser) intRange(name string, lo, hi int) int {
	v, err := strconv.Atoi(p.raw(name))
	if err != nil || v < lo || v > hi {
		p.fail(name, fmt.Sprintf("is %q; it accepts a whole number from %d to %d", p.raw(name), lo, hi))
	}
	return v
}

// duration parses a Go duration ("90s", "30m", "720h"); min is the smallest
// positive value accepted, and 0 is accepted only where min is 0.
func (p *parser) duration(name string, min time.Duration) time.Duration {
	raw := p.raw(name)
	d, err := time.ParseDuration(raw)
	switch {
	case err != nil:
		p.fail(name, fmt.Sprintf("is %q; it accepts a duration such as 90s, 30m or 24h", raw))
	case d < 0:
		p.fail(name, fmt.Sprintf("is %q; it must not be negative", raw))
	case min > 0 && d < min:
		p.fail(name, fmt.Sprintf("is %q; it must be at least %s", raw, min))
	}
	return d
}

func (p *parser) url(name string, schemes ...string) string {
	raw := p.raw(name)
	u, err := url.Parse(raw)
	if err == nil {
		for _, s := range schemes {
			if u.Scheme == s && u.Host != "" {
				return raw
			}
		}
	}
	p.fail(name, fmt.Sprintf("is not a valid URL; it accepts %s://host:port/...", schemes[0]))
	return raw
}

// adminAddr accepts host:port, or "off" for no admin listener. An empty
// variable counts as unset, as everywhere: `make up` and compose files pass
// ADMIN_ADDR= when the replica should choose, and a listener that vanished
// because a variable was blank would take the metrics with it unnoticed,
// while the default only ever binds a loopback port.
func (p *parser) adminAddr(name string) string {
	v := p.raw(name)
	if strings.EqualFold(v, "off") {
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		p.fail(name, fmt.Sprintf("is %q; it accepts host:port (for example 127.0.0.1:9101) or off", v))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, fmt.Sprintf("has port %q; it accepts 0 to 65535", port))
	}
	return v
}

// smtpURL accepts "" (no sending) or an smtp:// or smtps:// URL with a
// host; the error never repeats a password the URL carries.
func (p *parser) smtpURL(name string) string {
	raw := p.raw(name)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		p.fail(name, "is not a valid URL; it accepts smtp://host:port or smtps://host:port")
		return ""
	}
	switch u.Query().Get("tls") {
	case "", "none", "opportunistic", "mandatory":
	default:
		p.fail(name, "has ?tls= of none, opportunistic or mandatory")
	}
	return raw
}

// hostPorts parses a comma-separated list of host:port.
func (p *parser) hostPorts(name string) []string {
	out := p.list(name)
	for _, a := range out {
		host, port, err := net.SplitHostPort(a)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			p.fail(name, fmt.Sprintf("has %q; it accepts comma-separated host:port (for example 10.0.0.1:26379,10.0.0.2:26379)", a))
		}
	}
	return out
}

// UsesSentinel reports whether Redis is reached through Sentinel rather
// than at RedisURL.
func (c Config) UsesSentinel() bool { return len(c.RedisSentinelAddrs) > 0 }

func (p *parser) list(name string) []string {
	var out []string
	for _, s := range strings.Split(p.raw(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// keys parses comma-separated base64 AES-256 keys (32 bytes each).
func (p *parser) keys(name string) [][]byte {
	var out [][]byte
	for i, s := range p.list(name) {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != 32 {
			p.fail(name, fmt.Sprintf("key %d is not 32 bytes of base64; make one with `shop keygen`", i+1))
			continue
		}
		out = append(out, k)
	}
	return out
}

func (p *parser) cidrs(name string) []*net.IPNet {
	var out []*net.IPNet
	for _, s := range p.list(name) {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			p.fail(name, fmt.Sprintf("has %q; it accepts comma-separated CIDRs such as 10.0.0.0/8", s))
			continue
		}
		out = append(out, n)
	}
	return out
}
