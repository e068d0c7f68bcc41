package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/migrations"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHelpListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, envMap(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars() {
		if !strings.Contains(out.String(), v.Name) {
			t.Errorf("--help does not list %s", v.Name)
		}
	}
	for _, want := range []string{"serve", "migrate up|down|status", "[30m]", "[redis]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestBadConfigurationStopsStart(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve"}, envMap(map[string]string{
		"SESSION_STORE":        "mysql",
		"SESSION_IDLE_TIMEOUT": "soon",
	}), &out, &out)
	if err == nil {
		t.Fatal("serve started with a bad configuration")
	}
	for _, want := range []string{"SESSION_STORE", "redis, postgres, memory", "SESSION_IDLE_TIMEOUT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	err := run(context.Background(), []string{"frobnicate"}, envMap(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("err = %v, want unknown command", err)
	}
}

func TestMigrateCommand(t *testing.T) {
	env := envMap(map[string]string{"DATABASE_URL": testenv.MustEmptyDatabase(t)})
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	newest := files[len(files)-1]
	var out bytes.Buffer
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "status"}, "pending"},
		{[]string{"migrate", "up"}, fmt.Sprintf("applied %d migration(s)", len(files))},
		{[]string{"migrate", "status"}, "applied 20"},
		{[]string{"migrate", "down"}, "rolled back " + newest},
		{[]string{"migrate", "up"}, "applied 1 migration(s)"},
	}
	for _, s := range steps {
		out.Reset()
		if err := run(context.Background(), s.args, env, &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("%v: %v", s.args, err)
		}
		if !strings.Contains(out.String(), s.want) {
			t.Errorf("%v: output %q lacks %q", s.args, out.String(), s.want)
		}
	}
	if err := run(context.Background(), []string{"migrate", "sideways"}, env, &out, &out); err == nil {
		t.Error("migrate accepted an unknown direction")
	}
}

// TestServeStartsAndDrains runs a real replica on a free port, checks that it
// migrates, answers, and stops cleanly when its context ends (as on SIGTERM).
func TestServeStartsAndDrains(t *testing.T) {
	for _, kind := range []config.Kind{config.StoreRedis, config.StorePostgres, config.StoreMemory} {
		t.Run(string(kind), func(t *testing.T) {
			_, prefix := testenv.MustRedis(t)
			addr := freeAddr(t)
			var logs testenv.SyncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, nil, envMap(map[string]string{
					"ADDR":             addr,
					"REPLICA_NAME":     "test-" + string(kind),
					"DATABASE_URL":     testenv.MustEmptyDatabase(t),
					"REDIS_URL":        testenv.RedisURL(),
					"REDIS_KEY_PREFIX": prefix,
					"SESSION_STORE":    string(kind),
					"LOG_FORMAT":       "json",
					"SHUTDOWN_TIMEOUT": "5s",
				}), &logs, &logs)
			}()
			waitReady(t, "http://"+addr+"/readyz", done)
			res, err := http.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Served-By") != "test-"+string(kind) {
				t.Errorf("GET /: %d, X-Served-By %q", res.StatusCode, res.Header.Get("X-Served-By"))
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop within 10s of its context ending")
			}
			for _, want := range []string{`"msg":"migrations applied"`, `"msg":"request"`, `"route":"/"`, `"status":200`, `"request_id":`, `"msg":"stopped"`} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("logs lack %s:\n%s", want, logs.String())
				}
			}
			if kind == config.StoreMemory && !strings.Contains(logs.String(), "SESSION_STORE=memory") {
				t.Error("memory store started without its warning")
			}
			if !strings.Contains(logs.String(), "JWT_SECRET is not set") {
				t.Error("started without JWT_SECRET and without its warning")
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 30s", url)
}

func TestKeygen(t *testing.T) {
	keys := map[string]bool{}
	for range 2 {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"keygen"}, envMap(nil), &out, &out); err != nil {
			t.Fatal(err)
		}
		key := strings.TrimSpace(out.String())
		// The key must be accepted as SESSION_ENCRYPTION_KEYS.
		cfg, err := config.Load(envMap(map[string]string{"SESSION_ENCRYPTION_KEYS": key}))
		if err != nil || len(cfg.SessionEncryptionKeys) != 1 || len(cfg.SessionEncryptionKeys[0]) != 32 {
			t.Fatalf("keygen printed %q, which config does not accept as a key: %v", key, err)
		}
		keys[key] = true
	}
	if len(keys) != 2 {
		t.Error("keygen printed the same key twice")
	}
}

func TestCleanupCommand(t *testing.T) {
	_, prefix := testenv.MustRedis(t)
	dbURL := testenv.MustEmptyDatabase(t)
	env := envMap(map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": testenv.RedisURL(), "REDIS_KEY_PREFIX": prefix})
	if err := run(context.Background(), []string{"migrate", "up"}, env, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	db := testenv.MustPool(t, dbURL)
	if _, err := db.Exec(context.Background(), `INSERT INTO sessions (token, data, expiry)
		SELECT 'old-' || i, '\x00', now() - interval '1 hour' FROM generate_series(1, 2500) AS i`); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"cleanup"}, env, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "removed 2500 expired sessions") {
		t.Errorf("cleanup printed %q", out.String())
	}
}
