package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/metrics"
	"github.com/the-shop/shop/internal/testenv"
)

// TestAdminListener: a replica serves /metrics and pprof on ADMIN_ADDR,
// counts database queries by name there, serves neither on its public
// address, and closes the admin listener when it stops.
func TestAdminListener(t *testing.T) {
	_, prefix := testenv.MustRedis(t)
	addr, admin := freeAddr(t), freeAddr(t)
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, envMap(map[string]string{
			"ADDR":             addr,
			"ADMIN_ADDR":       admin,
			"DATABASE_URL":     testenv.MustEmptyDatabase(t),
			"REDIS_URL":        testenv.RedisURL(),
			"REDIS_KEY_PREFIX": prefix,
			"LOG_FORMAT":       "json",
			"SHUTDOWN_TIMEOUT": "5s",
		}), &logs, &logs)
	}()
	waitReady(t, "http://"+addr+"/readyz", done)
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	get("http://" + addr + "/?x=1")
	status, body := get("http://" + admin + "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET admin /metrics: %d", status)
	}
	for _, want := range []string{`shop_db_queries_total{query="select products"}`, "go_goroutines", "process_cpu_seconds_total", `shop_http_requests_total{method="GET",route="/",status="200"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("admin /metrics lacks %s", want)
		}
	}
	if status, _ := get("http://" + admin + "/debug/pprof/"); status != http.StatusOK {
		t.Errorf("GET admin /debug/pprof/: %d", status)
	}
	if status, _ := get("http://" + addr + "/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public address: %d, want 404", status)
	}
	if !strings.Contains(logs.String(), `"msg":"admin listening: /metrics, /debug/pprof/","replica":`) || !strings.Contains(logs.String(), admin) {
		t.Errorf("the admin address is not logged:\n%s", logs.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if status, err := http.Get("http://" + admin + "/metrics"); err == nil {
		status.Body.Close()
		t.Error("the admin listener still answers after shutdown")
	}
}

// TestAdminAddrOffOrEmpty: ADMIN_ADDR=off starts no admin listener, and an
// empty ADMIN_ADDR counts as unset: the default listener on a free loopback
// port, named in the log (`make up` passes ADMIN_ADDR= when the replica
// should choose). The public address never serves /metrics either way.
func TestAdminAddrOffOrEmpty(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		listener    bool
	}{
		{"OffStartsNoAdminListener", "off", false},
		{"EmptyStartsTheDefaultOnLoopback", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, prefix := testenv.MustRedis(t)
			addr := freeAddr(t)
			var logs testenv.SyncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, nil, envMap(map[string]string{
					"ADDR":             addr,
					"ADMIN_ADDR":       tc.value,
					"DATABASE_URL":     testenv.MustEmptyDatabase(t),
					"REDIS_URL":        testenv.RedisURL(),
					"REDIS_KEY_PREFIX": prefix,
					"LOG_FORMAT":       "json",
					"SHUTDOWN_TIMEOUT": "5s",
				}), &logs, &logs)
			}()
			waitReady(t, "http://"+addr+"/readyz", done)
			if res, err := http.Get("http://" + addr + "/metrics"); err != nil {
				t.Fatal(err)
			} else if res.Body.Close(); res.StatusCode != http.StatusNotFound {
				t.Errorf("GET /metrics on the public address: %d, want 404", res.StatusCode)
			}

			admin := adminAddrLogged(t, logs.String())
			switch {
			case !tc.listener && admin != "":
				t.Errorf("ADMIN_ADDR=%q started an admin listener on %s", tc.value, admin)
			case tc.listener && admin == "":
				t.Fatalf("ADMIN_ADDR=%q started no admin listener:\n%s", tc.value, logs.String())
			case tc.listener:
				if host, _, _ := net.SplitHostPort(admin); host != "127.0.0.1" {
					t.Errorf("admin listener on %s, want a loopback port", admin)
				}
				res, err := http.Get("http://" + admin + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Errorf("GET admin /metrics: %d", res.StatusCode)
				}
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
	}
}

// adminAddrLogged returns the address of the admin listener that the JSON
// log announces, or "" when it announces none.
func adminAddrLogged(t *testing.T, logs string) string {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, "admin listening") {
			return l.Addr
		}
	}
	return ""
}

// TestAdminListenerTimeouts: the admin listener bounds how long a client
// may take to send a request and keep an idle connection, while a profile
// may still stream for minutes.
func TestAdminListenerTimeouts(t *testing.T) {
	errc := make(chan error, 1)
	srv, err := serveAdmin("127.0.0.1:0", metrics.New(), slog.New(slog.NewTextHandler(io.Discard, nil)), errc)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		name     string
		got      time.Duration
		min, max time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, time.Second, 30 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, time.Second, time.Minute},
		{"IdleTimeout", srv.IdleTimeout, time.Second, 5 * time.Minute},
		{"WriteTimeout", srv.WriteTimeout, 5 * time.Minute, time.Hour},
	} {
		if tc.got < tc.min || tc.got > tc.max {
			t.Errorf("%s = %v, want %v to %v", tc.name, tc.got, tc.min, tc.max)
		}
	}
}
