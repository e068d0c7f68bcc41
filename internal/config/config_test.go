package config_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/config"
)

// env is a map-backed getenv: Load must read nothing else.
func env(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// joined splits an errors.Join error into its parts.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load with an empty environment: %v", err)
	}

	// The defaults of docs/configuration.md.
	strs := []struct{ name, got, want string }{
		{"ADDR", c.Addr, ":8080"},
		{"DATABASE_URL", c.DatabaseURL, "postgres://postgres@127.0.0.1:5432/shop?sslmode=disable"},
		{"REDIS_URL", c.RedisURL, "redis://127.0.0.1:6379/0"},
		{"SESSION_STORE", string(c.SessionStore), "redis"},
		{"SESSION_COOKIE_NAME", c.SessionCookieName, "session"},
		{"LOG_FORMAT", c.LogFormat, "text"},
		{"LOG_LEVEL", c.LogLevel, "info"},
	}
	for _, s := range strs {
		if s.got != s.want {
			t.Errorf("%s = %q, want %q", s.name, s.got, s.want)
		}
	}
	durations := []struct {
		name      string
		got, want time.Duration
	}{
		{"SESSION_IDLE_TIMEOUT", c.SessionIdleTimeout, 30 * time.Minute},
		{"SESSION_LIFETIME", c.SessionLifetime, 24 * time.Hour},
		{"SESSION_REMEMBER_LIFETIME", c.SessionRememberLifetime, 720 * time.Hour},
		{"CART_TTL", c.CartTTL, 720 * time.Hour},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 15 * time.Second},
		{"HSTS_MAX_AGE", c.HSTSMaxAge, 0},
		{"GuestCartTTL", c.GuestCartTTL(), 24 * time.Hour},
	}
	if c.RedisMaxConnections != 64 || c.AnonWritesPerMinute != 120 {
		t.Errorf("REDIS_MAX_CONNECTIONS, ANON_WRITES_PER_MINUTE = %d, %d; want 64, 120", c.RedisMaxConnections, c.AnonWritesPerMinute)
	}
	for _, d := range durations {
		if d.got != d.want {
			t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
		}
	}
	if !c.MigrateOnStart {
		t.Errorf("MIGRATE_ON_START = false, want true")
	}
	if c.SessionCookieSecure {
		t.Errorf("SESSION_COOKIE_SECURE = true, want false")
	}
	var nets []string
	for _, n := range c.TrustedProxies {
		nets = append(nets, n.String())
	}
	if got, want := strings.Join(nets, ","), "127.0.0.1/32,::1/128"; got != want {
		t.Errorf("TRUSTED_PROXIES = %s, want %s", got, want)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "shop"
	}
	if c.ReplicaName != host {
		t.Errorf("REPLICA_NAME = %q, want the host name %q", c.ReplicaName, host)
	}
}

func TestLoadReadsValues(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"ADDR":                      "127.0.0.1:9001",
		"REPLICA_NAME":              "shop-2",
		"DATABASE_URL":              "postgresql://u:p@db:5432/shop",
		"REDIS_URL":                 "rediss://cache:6380/1",
		"SESSION_STORE":             "Postgres",
		"SESSION_COOKIE_SECURE":     "true",
		"SESSION_IDLE_TIMEOUT":      "10m",
		"SESSION_LIFETIME":          "2h",
		"SESSION_REMEMBER_LIFETIME": "48h",
		"MIGRATE_ON_START":          "false",
		"CART_TTL":                  "72h",
		"TRUSTED_PROXIES":           " 10.0.0.0/8 , 192.168.1.0/24 ",
		"LOG_FORMAT":                "JSON",
		"LOG_LEVEL":                 "debug",
		"SHUTDOWN_TIMEOUT":          "0s",
		"PASSWORD_COST":             "4",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var nets []string
	for _, n := range c.TrustedProxies {
		nets = append(nets, n.String())
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Addr", c.Addr, "127.0.0.1:9001"},
		{"ReplicaName", c.ReplicaName, "shop-2"},
		{"DatabaseURL", c.DatabaseURL, "postgresql://u:p@db:5432/shop"},
		{"RedisURL", c.RedisURL, "rediss://cache:6380/1"},
		{"SessionStore", c.SessionStore, config.StorePostgres},
		{"SessionCookieSecure", c.SessionCookieSecure, true},
		{"SessionIdleTimeout", c.SessionIdleTimeout, 10 * time.Minute},
		{"SessionLifetime", c.SessionLifetime, 2 * time.Hour},
		{"SessionRememberLifetime", c.SessionRememberLifetime, 48 * time.Hour},
		{"MigrateOnStart", c.MigrateOnStart, false},
		{"CartTTL", c.CartTTL, 72 * time.Hour},
		{"TrustedProxies", strings.Join(nets, ","), "10.0.0.0/8,192.168.1.0/24"},
		{"LogFormat", c.LogFormat, "json"},
		{"LogLevel", c.LogLevel, "debug"},
		{"ShutdownTimeout", c.ShutdownTimeout, time.Duration(0)},
		{"PasswordCost", c.PasswordCost, 4},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadTreatsEmptyAsUnset(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{"SESSION_STORE": "", "ADDR": "", "CART_TTL": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionStore != config.StoreRedis || c.Addr != ":8080" || c.CartTTL != 720*time.Hour {
		t.Errorf("empty variables gave store %q, addr %q, cart ttl %v; want the defaults", c.SessionStore, c.Addr, c.CartTTL)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"RejectsUnknownSessionStore", map[string]string{"SESSION_STORE": "mysql"}, "SESSION_STORE"},
		{"RejectsUnparsableIdleTimeout", map[string]string{"SESSION_IDLE_TIMEOUT": "abc"}, "SESSION_IDLE_TIMEOUT"},
		{"RejectsNegativeIdleTimeout", map[string]string{"SESSION_IDLE_TIMEOUT": "-5m"}, "SESSION_IDLE_TIMEOUT"},
		{"RejectsIdleTimeoutBelowOneSecond", map[string]string{"SESSION_IDLE_TIMEOUT": "500ms"}, "SESSION_IDLE_TIMEOUT"},
		{"RejectsUnknownLogFormat", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"RejectsUnknownLogLevel", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{"RejectsDatabaseURLWithoutScheme", map[string]string{"DATABASE_URL": "notaurl"}, "DATABASE_URL"},
		{"RejectsDatabaseURLOfOtherScheme", map[string]string{"DATABASE_URL": "mysql://db:3306/shop"}, "DATABASE_URL"},
		{"RejectsRedisURLWithoutHost", map[string]string{"REDIS_URL": "redis://"}, "REDIS_URL"},
		{"RejectsBareIPAsTrustedProxy", map[string]string{"TRUSTED_PROXIES": "1.2.3.4"}, "TRUSTED_PROXIES"},
		{"RejectsOneBadTrustedProxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,nonsense"}, "TRUSTED_PROXIES"},
		{"RejectsNonBoolMigrateOnStart", map[string]string{"MIGRATE_ON_START": "maybe"}, "MIGRATE_ON_START"},
		{"RejectsNonBoolCookieSecure", map[string]string{"SESSION_COOKIE_SECURE": "yes please"}, "SESSION_COOKIE_SECURE"},
		{"RejectsIdleTimeoutLongerThanLifetime", map[string]string{"SESSION_IDLE_TIMEOUT": "25h"}, "SESSION_IDLE_TIMEOUT"},
		{"RejectsRememberLifetimeShorterThanLifetime", map[string]string{"SESSION_REMEMBER_LIFETIME": "1h"}, "SESSION_REMEMBER_LIFETIME"},
		{"RejectsCartTTLBelowOneMinute", map[string]string{"CART_TTL": "30s"}, "CART_TTL"},
		{"RejectsNegativeShutdownTimeout", map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, "SHUTDOWN_TIMEOUT"},
		{"RejectsPasswordCostOutOfRange", map[string]string{"PASSWORD_COST": "31"}, "PASSWORD_COST"},
		{"RejectsHSTSMaxAgeInSeconds", map[string]string{"HSTS_MAX_AGE": "31536000"}, "HSTS_MAX_AGE"},
		{"RejectsHSTSMaxAgeBelowOneSecond", map[string]string{"HSTS_MAX_AGE": "10ms"}, "HSTS_MAX_AGE"},
		{"RejectsSentinelAddrsWithoutMaster", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379"}, "REDIS_SENTINEL_MASTER"},
		{"RejectsSentinelMasterWithoutAddrs", map[string]string{"REDIS_SENTINEL_MASTER": "shop"}, "REDIS_SENTINEL_ADDRS"},
		{"RejectsSentinelAddrWithoutPort", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379,10.0.0.2", "REDIS_SENTINEL_MASTER": "shop"}, "REDIS_SENTINEL_ADDRS"},
		{"RejectsSentinelPasswordAlone", map[string]string{"REDIS_SENTINEL_PASSWORD": "pw"}, "REDIS_SENTINEL_PASSWORD"},
		{"RejectsNegativeMinReplicasAck", map[string]string{"REDIS_MIN_REPLICAS_ACK": "-1"}, "REDIS_MIN_REPLICAS_ACK"},
		{"RejectsZeroRedisMaxConnections", map[string]string{"REDIS_MAX_CONNECTIONS": "0"}, "REDIS_MAX_CONNECTIONS"},
		{"RejectsNegativeAnonWrites", map[string]string{"ANON_WRITES_PER_MINUTE": "-1"}, "ANON_WRITES_PER_MINUTE"},
		{"RejectsTaxAbove100Percent", map[string]string{"TAX_RATE_PERCENT": "100.01"}, "TAX_RATE_PERCENT"},
		{"RejectsTaxWithThreeDecimals", map[string]string{"TAX_RATE_PERCENT": "8.125"}, "TAX_RATE_PERCENT"},
		{"RejectsNegativeTax", map[string]string{"TAX_RATE_PERCENT": "-1"}, "TAX_RATE_PERCENT"},
		{"RejectsTaxWithAPercentSign", map[string]string{"TAX_RATE_PERCENT": "8%"}, "TAX_RATE_PERCENT"},
		{"RejectsNegativeShipping", map[string]string{"SHIPPING_STANDARD_CENTS": "-5"}, "SHIPPING_STANDARD_CENTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env(tt.env))
			if err == nil {
				t.Fatalf("Load(%v) succeeded, want an error naming %s", tt.env, tt.wantVar)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("error %q does not name %s", err, tt.wantVar)
			}
			// One bad value is one problem: nothing else is blamed.
			if errs := joined(err); len(errs) != 1 {
				t.Errorf("Load(%v) reported %d problems, want 1: %v", tt.env, len(errs), err)
			}
		})
	}
}

func TestLoadReportsAllProblemsAtOnce(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"SESSION_STORE":    "mysql",
		"LOG_FORMAT":       "xml",
		"DATABASE_URL":     "notaurl",
		"MIGRATE_ON_START": "maybe",
		"TRUSTED_PROXIES":  "1.2.3.4",
	}
	_, err := config.Load(env(bad))
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	for name := range bad {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if got := len(joined(err)); got != len(bad) {
		t.Errorf("Load reported %d problems, want %d:\n%v", got, len(bad), err)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	usage := config.Usage()
	vars := config.Vars()
	if len(vars) == 0 {
		t.Fatal("Vars() is empty")
	}
	lines := strings.Split(usage, "\n")
	for _, v := range vars {
		found := false
		for _, l := range lines {
			if fields := strings.Fields(l); len(fields) > 0 && fields[0] == v.Name {
				found = true
				if v.Default != "" && !strings.Contains(l, "["+v.Default+"]") {
					t.Errorf("usage line for %s does not show the default [%s]: %q", v.Name, v.Default, l)
				}
			}
		}
		if !found {
			t.Errorf("Usage() has no line for %s:\n%s", v.Name, usage)
		}
	}
}

// TestVarsDefaultsLoad makes sure every variable that Vars lists has a default
// Load accepts: the documented defaults must start the shop.
func TestVarsDefaultsLoad(t *testing.T) {
	t.Parallel()
	m := map[string]string{}
	for _, v := range config.Vars() {
		m[v.Name] = v.Default
	}
	if _, err := config.Load(env(m)); err != nil {
		t.Errorf("Load of the documented defaults: %v", err)
	}
}

func TestLoadReadsTaxRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"": 800, "0": 0, "7.25": 725, "7.5": 750, "100": 10000, "19": 1900} {
		c, err := config.Load(env(map[string]string{"TAX_RATE_PERCENT": in}))
		if err != nil {
			t.Errorf("TAX_RATE_PERCENT=%q: %v", in, err)
			continue
		}
		if c.TaxBasisPoints != want {
			t.Errorf("TAX_RATE_PERCENT=%q: %d basis points, want %d", in, c.TaxBasisPoints, want)
		}
	}
}

func TestLoadSentinel(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"REDIS_SENTINEL_ADDRS":  " 10.0.0.1:26379, 10.0.0.2:26379 ,[::1]:26380",
		"REDIS_SENTINEL_MASTER": "shop",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1:26379", "10.0.0.2:26379", "[::1]:26380"}; !slices.Equal(c.RedisSentinelAddrs, want) {
		t.Errorf("RedisSentinelAddrs = %q, want %q", c.RedisSentinelAddrs, want)
	}
	if !c.UsesSentinel() || c.RedisSentinelMaster != "shop" {
		t.Errorf("UsesSentinel = %v, master %q; want true, shop", c.UsesSentinel(), c.RedisSentinelMaster)
	}
	if c, err := config.Load(env(nil)); err != nil || c.UsesSentinel() {
		t.Errorf("default: UsesSentinel = %v, %v; want false", c.UsesSentinel(), err)
	}
}
