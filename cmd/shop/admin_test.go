package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
